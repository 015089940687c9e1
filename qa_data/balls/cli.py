"""Command line of the Bouncing Balls generator (`scripts/generate_bouncing_balls.py`)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from qa_data.balls.bouncing_balls import BallsDatasetConfig, generate_dataset
from qa_data.config import load_config, save_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "data"


def preset_path(preset: str) -> Path:
    path = Path(preset)
    return path if path.suffix in (".yaml", ".yml") else CONFIG_DIR / f"bouncing_balls_{preset}.yaml"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="tiny", help="tiny | paper | path to a YAML preset")
    ap.add_argument("--out", required=True,
                    help="dataset directory (splits already made with the same settings are kept)")
    ap.add_argument("overrides", nargs="*", help="config overrides, e.g. colour=true splits.train.videos=50")
    args = ap.parse_args(argv)
    cfg = load_config(BallsDatasetConfig, preset_path(args.preset), args.overrides)
    t0 = time.perf_counter()
    paths = generate_dataset(Path(args.out), cfg)
    save_config(cfg, Path(args.out) / "generator_config.yaml")
    videos = sum(s.videos for s in cfg.splits.values())
    print(f"{len(paths)} splits ({videos} videos) in {Path(args.out)} in {time.perf_counter() - t0:.1f} s")
    return 0
