"""`python scripts/import_slots.py --input FILE --data ROOT --split SPLIT --out DIR [--d-dyn N]`: another model's
slots (SlotFormer's pickle, or an .npz of video_XXXXX -> [T, K, D]) into a slot cache."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from qa_data.slots.cli import import_slots_main as main

    raise SystemExit(run_command(main))
