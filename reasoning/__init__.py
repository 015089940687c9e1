"""ALOE-style question answering over object slots."""
