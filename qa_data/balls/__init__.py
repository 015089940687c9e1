"""The Bouncing Balls generator and reader (PROVIDE's video-decomposition benchmark)."""
