"""`accelerate launch scripts/extract_slots.py --run RUN --data DIR --split train --out SLOTS_DIR`."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from perception.cli import extract_main

    raise SystemExit(run_command(extract_main))
