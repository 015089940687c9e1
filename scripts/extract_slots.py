"""`accelerate launch scripts/extract_slots.py --run RUN --data DIR --split train --out SLOTS_DIR`."""
from perception.cli import extract_main
from qa_data.runtime.command import run_command

if __name__ == "__main__":
    raise SystemExit(run_command(extract_main))
