"""`python scripts/extract_states.py --data DIR --split train,validation --out STATES_DIR [--frame-stride S]`:
ground-truth object states in the slot-cache format."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from qa_data.slots.cli import extract_states_main as main

    raise SystemExit(run_command(main))
