"""Command line of the ground-truth state source (`scripts/extract_states.py`)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from qa_data.errors import DataError
from qa_data.slots.slot_cache import summary
from qa_data.slots.state_cache import StateExtractConfig, check_state_source, extract_states


def main(argv=None) -> int:
    defaults = StateExtractConfig()
    ap = argparse.ArgumentParser(description="Write each video's ground-truth object states (from its annotation) "
                                 "into the slot-cache format: OUT/<split>.h5, read like any slot cache "
                                 "(train_qa.py --slots OUT, ablate.py --source states=OUT, OUT:static for -dyn).")
    ap.add_argument("--data", type=Path, required=True, help="dataset root (real CLEVRER or CLEVRER-sim, with or "
                    "without videos)")
    ap.add_argument("--split", default="train", help="split, or several separated by commas (train,validation)")
    ap.add_argument("--out", type=Path, required=True, help="cache folder")
    ap.add_argument("--frame-stride", type=int, default=defaults.frame_stride, help="every S-th annotated frame")
    ap.add_argument("--max-objects", type=int, default=defaults.max_objects, help="slots per video")
    ap.add_argument("--future", type=int, default=0, metavar="N",
                    help="append N frames past the video at the same stride from the simulator's continuation "
                         "(CLEVRER-sim's tail files): the oracle of a rollout, marked predicted in the cache; "
                         "predictive questions look at them (data.future_shift)")
    ap.add_argument("--dtype", default=defaults.dtype, choices=["float16", "float32"])
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    configs = [StateExtractConfig(split=split, frame_stride=args.frame_stride, max_objects=args.max_objects,
                                  dtype=args.dtype, future=args.future) for split in args.split.split(",")]
    try:
        for cfg in configs:  # every split checked before the first is written
            check_state_source(args.data, cfg)
    except DataError as e:
        raise SystemExit(f"error: {e}") from None
    for cfg in configs:
        split = cfg.split
        try:
            result = extract_states(args.data, args.out, cfg, progress=not args.no_progress)
        except DataError as e:
            raise SystemExit(f"error: {e}") from None
        print(f"{result.path}: {result.written} videos written in {result.seconds:.1f} s, {result.already_done} "
              f"already done, {len(result.skipped)} skipped")
        for v, reason in result.skipped:
            print(f"  skipped video {v}: {reason}")
        if result.skipped and not result.written and not result.already_done:
            raise DataError(result.path, f"every video of the {split} split was skipped (the first: "
                                         f"{result.skipped[0][1]}); the cache holds no features")
        print(summary(result.path)[1].to_markdown(index=False))
    return 0
