"""Command lines of the slot cache's producers other than perception: the ground-truth states
(`scripts/extract_states.py`) and slots of other models (`scripts/import_slots.py`)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from qa_data.clevrer.layout import ClevrerLayout, canonical_split
from qa_data.errors import DataError
from qa_data.slots.slot_cache import summary
from qa_data.slots.slot_import import ImportConfig, dataset_videos, import_slots, read_input
from qa_data.slots.state_cache import StateExtractConfig, check_state_source, extract_states


def extract_states_main(argv=None) -> int:
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


def import_slots_main(argv=None) -> int:
    """`scripts/import_slots.py`."""
    import argparse

    import pandas as pd

    from qa_data.slots.slot_cache import summary

    ap = argparse.ArgumentParser(description="Import another model's slots (SlotFormer's pickle of every split, or an "
                                 ".npz of video_XXXXX -> [T, K, D]) into a slot cache OUT/<split>.h5, checked against "
                                 "the dataset's videos; usable as train_qa.py --slots OUT.")
    ap.add_argument("--input", type=Path, required=True, help="the slot file (.pkl / .pickle, or .npz)")
    ap.add_argument("--data", type=Path, required=True, help="dataset root (its video list is checked)")
    ap.add_argument("--split", default="train", help="split, or several separated by commas (train,validation)")
    ap.add_argument("--out", type=Path, required=True, help="cache folder")
    ap.add_argument("--d-dyn", type=int, default=0, help="the last N dims of each slot are dynamics (default 0)")
    ap.add_argument("--frame-stride", type=int, default=1, help="the input's frames are every S-th source frame")
    ap.add_argument("--label", default="", help="the source's name, the same for every split of one model "
                    "(default: the input file's name)")
    ap.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    configs = [ImportConfig(split=split, d_dyn=args.d_dyn, frame_stride=args.frame_stride, label=args.label,
                            dtype=args.dtype) for split in args.split.split(",")]
    for cfg in configs:  # every split checked before the first is written: it names videos, and the input has it
        split = canonical_split(cfg.split)
        if not dataset_videos(ClevrerLayout(args.data), split):
            raise DataError(args.data, f"split {split!r} has no videos")
        read_input(args.input, split)
    for cfg in configs:
        result = import_slots(args.input, args.data, args.out, cfg)
        rows = [("videos written", result.written), ("already done", result.already_done),
                ("dataset videos skipped", len(result.skipped)), ("input entries not in the split", len(result.extra))]
        rows += [(f"skipped video {v}", reason) for v, reason in result.skipped[:20]]
        rows += [(f"not in the split: {key}", "left out") for key in result.extra[:20]]
        print(f"# {result.path}\n")
        print(pd.DataFrame(rows, columns=["item", "value"]).to_markdown(index=False))
        print(summary(result.path)[1].to_markdown(index=False))
    return 0
