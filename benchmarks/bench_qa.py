"""QA training throughput (questions/s) of the ALOE presets, on synthetic batches of the real shape.

    python benchmarks/bench_qa.py [--steps 5] [--threads 2] [--device cpu|cuda] [--presets aloe_tiny,aloe_cpu]
                                  [--batch N] [--slots 7 --dim 20]

On CPU the default rows are: the previous `aloe_tiny` (dropout 0.1, joint positions, raw inputs) as the
previous code ran it (`nn.TransformerEncoder`, every padded column computed: the `before` row); the same
model with the faster step; `aloe_tiny` now (no dropout, factorised embeddings, standardised inputs); and
`aloe_cpu`.
`aloe_clevrer` at its batch of 256 questions needs more memory than the 24 GiB machine has; use
`--batch 32` there.

A batch holds `train.batch_size` questions with CLEVRER's mix: 45% descriptive (one pass each)
and 55% multiple choice with 2-4 choices (one pass per choice); questions have 4-20 words (median
11) and choices 3-12 (median 7), as CLEVRER-sim's; slots are `[frames, K, D]` (default K=7, D=20,
ODDN's) and every slot is present. One step = forward + loss + backward + Adam; one warm-up step,
then the median of `--steps`. The data pipeline is excluded, so this is the model's ceiling;
`runs.csv` of an ablation and each run's log record the end-to-end questions/s of real runs.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

from summary import emit  # noqa: E402  (benchmarks/summary.py)

REPO = Path(__file__).resolve().parents[1]


def _words(g, length: int, low: int, high: int, median: int):
    """Token ids [length] with a triangular number of words in [low, high] around median, then padding."""
    import numpy as np
    import torch

    n = int(round(np.random.default_rng(int(torch.randint(0, 2**31, (), generator=g))).triangular(low, median, high)))
    ids = torch.zeros(length, dtype=torch.long)
    ids[:n] = torch.randint(1, 82, (n,), generator=g)
    return ids


def synthetic_batch(n_questions: int, frames: int, slots: int = 7, dim: int = 20, seed: int = 0):
    import torch

    from reasoning.qa_dataset import collate

    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(n_questions):
        item = {"scene_index": i, "question_id": 0, "type": 0, "question": _words(g, 20, 4, 20, 11),
                "slots": torch.randn(frames, slots, dim, generator=g)}
        if i % 20 < 9:  # descriptive
            item.update(choices=torch.zeros(0, 12, dtype=torch.long), choice_ids=[],
                        labels=torch.zeros(0, dtype=torch.long), answer=int(torch.randint(1, 22, (), generator=g)))
        else:
            n = 2 + i % 3  # 2, 3 or 4 choices
            item.update(choices=torch.stack([_words(g, 12, 3, 12, 7) for _ in range(n)]), choice_ids=list(range(n)),
                        labels=torch.randint(0, 2, (n,), generator=g), answer=-1)
        items.append(item)
    return collate(items)


def legacy(model):
    """The step as the code before the faster encoder ran it: nn.TransformerEncoder (same weights)
    over every column, padded or not."""
    import torch.nn as nn

    cfg = model.cfg
    layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.heads, cfg.ffn, cfg.dropout, activation="relu",
                                       batch_first=True, norm_first=True)
    encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
    encoder.load_state_dict(model.encoder.state_dict())
    model.encoder, model.trim = encoder, False
    return model


def time_preset(preset: str, steps: int, device: str, batch: int = 0, overrides: tuple = (), before: bool = False,
                slots: int = 7, dim: int = 20) -> dict:
    import torch

    from qa_data.config import load_config
    from reasoning.aloe import Aloe
    from reasoning.config import QAConfig
    from reasoning.train import qa_loss

    cfg = load_config(QAConfig, REPO / "configs" / "qa" / f"{preset}.yaml",
                      [*overrides, *([f"train.batch_size={batch}"] if batch else [])])
    batch = synthetic_batch(cfg.train.batch_size, cfg.data.num_frames, slots, dim).to(device)
    model = Aloe(cfg.aloe, dim, slots, cfg.data.num_frames, 82, 22, 32)
    model = (legacy(model) if before else model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.mixed_precision) if device == "cuda" else None
    times = []
    for i in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.autocast(device, dtype=amp, enabled=amp is not None):
            loss, _ = qa_loss(model(batch.slots, batch.text, batch.segment, batch.presence), batch,
                              cfg.aloe.mask_slot_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t)
    step = statistics.median(times)
    visual = 0 if cfg.aloe.blind else slots * (1 if cfg.aloe.visual_tokens == "object_track" else cfg.data.num_frames)
    name = preset + "".join(f", {o}" for o in overrides) + (" (before: torch encoder, untrimmed)" if before else "")
    return {"preset": name, "questions/step": cfg.train.batch_size, "passes/step": len(batch.keys),
            "tokens/pass": 1 + visual + 32, "s/step": round(step, 4),
            "questions/s": round(cfg.train.batch_size / step, 1),
            "params (M)": round(sum(p.numel() for p in model.parameters()) / 1e6, 3)}


def main() -> None:
    import pandas as pd
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads on CPU (0: default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--presets", help="comma-separated (default: the CPU rows above; on CUDA aloe_tiny, aloe_cpu, "
                    "aloe_clevrer)")
    ap.add_argument("--batch", type=int, default=0, help="questions per step (0: the preset's)")
    ap.add_argument("--slots", type=int, default=7, help="K slots per frame (7: ODDN; 6: ground-truth states)")
    ap.add_argument("--dim", type=int, default=20, help="features per slot (20: ODDN; 19: states)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.presets:
        runs = [(p, (), False) for p in args.presets.split(",")]
    elif args.device == "cuda":
        runs = [("aloe_tiny", (), False), ("aloe_cpu", (), False), ("aloe_clevrer", (), False)]
    else:
        previous = ("aloe.dropout=0.1", "aloe.positions=joint", "aloe.input_norm=none")  # the preset before
        runs = [("aloe_tiny", previous, True), ("aloe_tiny", previous, False), ("aloe_tiny", (), False),
                ("aloe_cpu", (), False)]
    rows = [time_preset(p, args.steps, args.device, args.batch, o, b, args.slots, args.dim) for p, o, b in runs]
    print(f"# QA training throughput ({platform.machine()}, {args.device}, {torch.get_num_threads()} threads)\n")
    print(pd.DataFrame(rows).to_markdown(index=False))
    emit("QA training",
         [{"setup": f"{r['preset']}, batch {r['questions/step']}, {args.device}", "figure": "questions/s",
                          "value": r["questions/s"], "unit": "questions/s",
                          "reference": "model only, synthetic batches"} for r in rows])


if __name__ == "__main__":
    main()
