"""QA training throughput (questions/s) of the ALOE presets, on synthetic batches of the real shape.

    python benchmarks/bench_qa.py [--steps 5] [--threads 2] [--device cpu|cuda] [--presets aloe_tiny,aloe_clevrer]
                                  [--batch N]

On CPU the default is `aloe_tiny` only: `aloe_clevrer` at its batch of 256 questions (~540 passes of
208 tokens through 12 layers) needs more memory than the 24 GiB machine has; use `--batch 32` there.

A batch holds `train.batch_size` questions with CLEVRER's mix: 45% descriptive (one pass each)
and 55% multiple choice with 3 choices on average (one pass per choice). Slots are
`[frames, K=7, D=20]`. One step = forward + loss + backward + Adam; one warm-up step, then the
median of `--steps`. The data pipeline (HDF5 reads, collation) is excluded, so this is the
model's ceiling; `runs.csv` of an ablation records the end-to-end questions/s of real runs.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path
from summary import emit  # noqa: E402  (benchmarks/summary.py)

REPO = Path(__file__).resolve().parents[1]


def synthetic_batch(n_questions: int, frames: int, slots: int = 7, dim: int = 20, seed: int = 0):
    import torch

    from reasoning.qa_dataset import collate

    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(n_questions):
        item = {"scene_index": i, "question_id": 0, "type": 0, "question": torch.randint(1, 82, (20,), generator=g),
                "slots": torch.randn(frames, slots, dim, generator=g)}
        if i % 20 < 9:  # descriptive
            item.update(choices=torch.zeros(0, 12, dtype=torch.long), choice_ids=[],
                        labels=torch.zeros(0, dtype=torch.long), answer=int(torch.randint(1, 22, (), generator=g)))
        else:
            n = 2 + i % 3  # 2, 3 or 4 choices
            item.update(choices=torch.randint(1, 82, (n, 12), generator=g), choice_ids=list(range(n)),
                        labels=torch.randint(0, 2, (n,), generator=g), answer=-1)
        items.append(item)
    return collate(items)


def time_preset(preset: str, steps: int, device: str, batch: int = 0) -> dict:
    import torch

    from qa_data.config import load_config
    from reasoning.aloe import Aloe
    from reasoning.config import QAConfig
    from reasoning.train import qa_loss

    cfg = load_config(QAConfig, REPO / "configs" / "qa" / f"{preset}.yaml", [f"train.batch_size={batch}"] if batch else [])
    batch = synthetic_batch(cfg.train.batch_size, cfg.data.num_frames).to(device)
    model = Aloe(cfg.aloe, 20, 7, cfg.data.num_frames, 82, 22, 32).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.mixed_precision) if device == "cuda" else None
    times = []
    for i in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.autocast(device, dtype=amp, enabled=amp is not None):
            loss, _ = qa_loss(model(batch.slots, batch.text, batch.segment), batch, cfg.aloe.mask_slot_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t)
    step = statistics.median(times)
    return {"preset": preset, "questions/step": cfg.train.batch_size, "passes/step": len(batch.keys),
            "tokens/pass": 1 + cfg.data.num_frames * 7 + 32, "s/step": round(step, 4),
            "questions/s": round(cfg.train.batch_size / step, 1),
            "params (M)": round(sum(p.numel() for p in model.parameters()) / 1e6, 3)}


def main() -> None:
    import pandas as pd
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads on CPU (0: default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--presets", help="comma-separated (default: aloe_tiny on CPU, both on CUDA)")
    ap.add_argument("--batch", type=int, default=0, help="questions per step (0: the preset's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    presets = args.presets or ("aloe_tiny,aloe_clevrer" if args.device == "cuda" else "aloe_tiny")
    rows = [time_preset(p, args.steps, args.device, args.batch) for p in presets.split(",")]
    print(f"# QA training throughput ({platform.machine()}, {args.device}, {torch.get_num_threads()} threads)\n")
    print(pd.DataFrame(rows).to_markdown(index=False))
    emit("QA training", [{"setup": f"{r['preset']}, batch {r['questions/step']}, {args.device}", "figure": "questions/s",
                          "value": r["questions/s"], "unit": "questions/s",
                          "reference": "model only, synthetic batches"} for r in rows])


if __name__ == "__main__":
    main()
