"""`make pretrain`: the pretrained perception checkpoint the main job starts from.

    python scripts/pretrain.py [--out runs/pretrain] [--config configs/perception/oddn_cpu.yaml]

Generates the CPU-regime CLEVRER-sim data, trains the preset on it (about an hour on 2 cores; rerunning
resumes) and writes perception/pretrained/oddn_cpu.pt (weights-only, under 10 MB).
"""
import argparse
import logging
from pathlib import Path

from perception.pretrained import DEMO_CHECKPOINT, pretrain

REPO = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "pretrain")
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "perception" / "oddn_cpu.yaml")
    ap.add_argument("--data-preset", default="cpu")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dest", type=Path, default=DEMO_CHECKPOINT)
    ap.add_argument("overrides", nargs="*", help="overrides of the perception preset, e.g. train.steps=100")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    path = pretrain(args.out, args.config, args.data_preset, args.workers, args.dest, args.overrides)
    print(f"pretrained checkpoint: {path} ({path.stat().st_size / 1e6:.2f} MB)")
