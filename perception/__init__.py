"""Unsupervised object-centric perception models (IODINE, PROVIDE, ODDN) and their metrics."""
