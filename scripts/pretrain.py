"""`make pretrain`: the pretrained perception checkpoint the main job starts from.

    python scripts/pretrain.py [--out runs/pretrain] [--config configs/perception/oddn_cpu.yaml] [overrides]

Generates the CPU-regime CLEVRER-sim data, trains the preset on it (rerunning
resumes) and writes the demo's checkpoint, perception/pretrained/oddn_no_relation_cpu.pt (weights-only, under
10 MB). `make pretrain` passes `oddn.variant=oddn_no_relation`, the variant the demo starts from.
"""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from perception.cli import pretrain_main as main

    raise SystemExit(run_command(main))
