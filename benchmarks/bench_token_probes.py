"""What a trained QA model's visual tokens keep of the objects' motion (issue 30's diagnosis).

    python benchmarks/bench_token_probes.py --run QA_RUN [--slots STATES_DIR] [--videos 400] [--out table.csv]

Linear (ridge) probes from the model's visual tokens to each object's x, y, vx, vy and to the straight-line
rule's quantity, the closest approach of a pair (`reasoning.probes`), fitted on training videos and scored (R²)
on validation videos; next to the same probes on an untrained model of the same config and on the raw input
features. Needs a QA run on ground-truth states (with their dynamics dims). Prints a Markdown table.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from summary import show_table  # benchmarks/summary.py: sets the allocator, records the CPU

from qa_data.slots.slot_cache import SlotFrames, SlotSampling, split_file
from reasoning.probes import probe_data, probe_table
from reasoning.train import build_model, load_qa_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="QA run directory (train_qa.py --out)")
    ap.add_argument("--slots", type=Path, help="state cache folder (default: the run's)")
    ap.add_argument("--videos", type=int, default=400, help="videos per split")
    ap.add_argument("--out", type=Path, help="CSV of the table")
    args = ap.parse_args()
    model, cfg, tokenizer, info, step = load_qa_run(args.run)
    if cfg.data.drop_dynamics:
        raise SystemExit("error: the probes read velocities; this run was trained without the dynamics dims")
    slots_dir = args.slots or Path(info["slots"])
    torch.manual_seed(0)
    untrained = build_model(cfg, info["slot_attrs"], tokenizer)
    untrained.set_input_stats(model.feat_mean, model.feat_std)
    models = {f"trained (step {step})": model.eval(), "untrained": untrained.eval()}
    data = {}
    for split in ("train", "validation"):
        slots = SlotFrames(split_file(slots_dir, split), SlotSampling(cfg.data.num_frames, start=cfg.data.eval_start))
        data[split] = probe_data(models, slots, slots.videos[:args.videos])
    table = probe_table(data["train"], data["validation"])
    show_table(f"{args.run}: {cfg.aloe.visual_tokens} tokens, {len(data['validation'].objects)} validation objects, "
               f"{len(data['validation'].pairs)} pairs; R² on validation of ridge probes fitted on train", table,
               args.out, ".3f")


if __name__ == "__main__":
    main()
