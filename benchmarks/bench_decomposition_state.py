"""What a decomposing model looks like next to one that does not: the final state of trained runs on the same
validation frames (issue 31, "what the lucky run did").

    python benchmarks/bench_decomposition_state.py --data runs/reproduce/data \\
        --run "w/o relation seed 0 (lucky)=perception/pretrained/oddn_no_relation_cpu.pt" \\
        --run "IODINE baseline seed 1=runs/seed_study/baseline_s1" --out docs/learning/seed_study/final_state.md

For each run (a run directory: its newest checkpoint; or a weights-only `.pt` file), the IODINE inference inside
the model decomposes the same frames (`eval.*` of the run's config picks them: `--videos` videos, 8 frames 16
apart) with the same latent noise, and the table lists FG-ARI, how many slots carry pixels, the largest slot's
share, the mask entropy, the spread of the slots' latents and the KL of each slot from the prior, sorted.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from run_tables import load_source, named_runs, report  # noqa: E402

from perception.diagnostics import decomposition_state  # noqa: E402
from perception.evaluate import eval_dataset  # noqa: E402


def state_of(source: Path, data: Path, videos: int) -> dict[str, float]:
    loaded = load_source(source, [f"eval.num_videos={videos}"])
    ds = eval_dataset(data, loaded.cfg)
    items = [ds[i] for i in range(len(ds))]
    frames = torch.cat([it["frames"] for it in items])  # [N, 3, H, W]
    true_ids = torch.cat([torch.as_tensor(it["masks"]) for it in items]).long()  # [N, H, W]
    seeds = torch.arange(len(frames))
    return {"step": loaded.step, **decomposition_state(loaded.model, frames, true_ids, seeds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="CLEVRER-sim root the runs were trained on")
    ap.add_argument("--run", action="append", required=True, metavar="NAME=RUN", help="a run directory or .pt file")
    ap.add_argument("--videos", type=int, default=20, help="validation videos (8 frames each)")
    ap.add_argument("--out", type=Path, default=None, help="Markdown table (and a .csv beside it)")
    args = ap.parse_args()
    rows = [{"run": name, **state_of(path, args.data, args.videos)} for name, path in named_runs(ap, args.run)]
    report(rows, args.out, "The final decomposition state of trained runs on the same validation frames",
           "bench_decomposition_state.py")

if __name__ == "__main__":
    main()
