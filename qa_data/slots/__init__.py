"""The slot-feature cache and its producers other than perception: ground-truth states, imported slots, and the
executor's ceiling from sampled frames.
"""
