"""`python scripts/inspect_slots.py SLOTS_DIR/train.h5`."""
from perception.cli import inspect_main
from qa_data.runtime.command import run_command

if __name__ == "__main__":
    raise SystemExit(run_command(inspect_main))
