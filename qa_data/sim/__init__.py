"""CLEVRER-sim: a Bullet-physics generator of CLEVRER-format videos, masks and events."""
