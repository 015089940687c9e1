"""`accelerate launch scripts/extract_slots.py --run RUN --data DIR --split train --out SLOTS_DIR`."""
from perception.cli import extract_main

if __name__ == "__main__":
    raise SystemExit(extract_main())
