"""The slot-feature cache (with `SlotLayout`, what a slot holds and which frames) and its producers other than
perception: ground-truth states and imported slots.
"""
