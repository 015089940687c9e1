"""`python scripts/inspect_slots.py SLOTS_DIR/train.h5`."""
from perception.cli import inspect_main

if __name__ == "__main__":
    raise SystemExit(inspect_main())
