"""`python scripts/inspect_slots.py SLOTS_DIR/train.h5`."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from perception.cli import inspect_main

    raise SystemExit(run_command(inspect_main))
