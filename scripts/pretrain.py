"""`make pretrain`: the pretrained perception checkpoint the main job starts from.

    python scripts/pretrain.py [--out runs/pretrain] [--config configs/perception/oddn_cpu.yaml]

Generates the CPU-regime CLEVRER-sim data, trains the preset on it (about an hour on 2 cores; rerunning
resumes) and writes perception/pretrained/oddn_cpu.pt (weights-only, under 10 MB).
"""
from perception.pretrained import main
from qa_data.runtime.command import run_command

if __name__ == "__main__":
    raise SystemExit(run_command(main))
