"""Achieved GFLOP/s of a CPU-regime perception training step, against what the matrix kernels reach.

    python benchmarks/bench_perception_speed.py [--config configs/perception/iodine_cpu.yaml]
                                                [--steps 3] [--threads 2]

One step = forward (every refinement, with its gradient inputs) + backward + clip + Adam on a random
batch at the preset's size. FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` (matrix
products and convolutions, forward and backward; elementwise work is not counted), so the achieved
rate is a lower bound of what the step does. The peaks are large square matrix products in float32
and bfloat16 on the same threads. Each variant runs in a fresh process: one warm-up step, then the
median of `--steps` timed steps.

Variants: float32 (the earlier default), bfloat16 autocast (`train.mixed_precision=bf16`, the CPU
presets' setting), channels-last memory format on top of each, and one thread.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from summary import CPU, emit  # noqa: E402  (benchmarks/summary.py)

REPO = Path(__file__).resolve().parents[1]
VARIANTS = [
    {"name": "float32", "bf16": False, "channels_last": False},
    {"name": "float32, channels-last", "bf16": False, "channels_last": True},
    {"name": "bf16 autocast", "bf16": True, "channels_last": False},
    {"name": "bf16 autocast, channels-last", "bf16": True, "channels_last": True},
    {"name": "bf16 autocast, 1 thread", "bf16": True, "channels_last": False, "threads": 1},
]


def matmul_peak(dtype_name: str, threads: int, n: int = 2048, reps: int = 5) -> float:
    import torch
    torch.set_num_threads(threads)
    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def run_one(spec: dict) -> dict:
    import contextlib

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    sys.path.insert(0, str(REPO))
    from perception.config import PerceptionConfig
    from perception.registry import build_model, training_forward
    from qa_data.config import load_config

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    cfg = load_config(PerceptionConfig, REPO / spec["config"], [])
    model = build_model(cfg)
    if spec["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, cfg.train.lr)
    size = tuple(cfg.frames.preprocess.size)
    from perception.registry import train_clip_len
    shape = (cfg.train.batch_size, train_clip_len(cfg), 3, *size)  # clips, as training reads them (L = 1: images)
    x = torch.rand(*shape)

    def step():
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if spec["bf16"] else contextlib.nullcontext()
        with ctx:
            loss = training_forward(model, cfg, x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
        opt.step()

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    flops = counter.get_total_flops()
    times = []
    for _ in range(spec["steps"]):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    s = statistics.median(times)
    return {"variant": spec["name"], "threads": spec["threads"], "s_per_step": round(s, 3),
            "GFLOP_per_step": round(flops / 1e9, 2), "GFLOP_per_s": round(flops / s / 1e9, 1),
            "shape": "x".join(map(str, shape))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/perception/iodine_cpu.yaml")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one spec (JSON) and print its row
    ap.add_argument("--peak", help=argparse.SUPPRESS)  # internal: matmul peak of one dtype
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return
    if args.peak:
        print(json.dumps(matmul_peak(args.peak, args.threads)))
        return
    import pandas as pd
    peaks = {}
    for dtype in ("float32", "bfloat16"):
        done = subprocess.run([sys.executable, __file__, "--peak", dtype, "--threads", str(args.threads)],
                              cwd=REPO, capture_output=True, text=True, check=True)
        peaks[dtype] = json.loads(done.stdout.strip().splitlines()[-1])
    rows = []
    for v in VARIANTS:
        spec = dict(v, config=args.config, steps=args.steps, threads=v.get("threads", args.threads))
        done = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], cwd=REPO, capture_output=True,
                              text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        peak = peaks["bfloat16" if v["bf16"] else "float32"] * (row["threads"] / args.threads)
        row["share_of_matmul_peak"] = f"{row['GFLOP_per_s'] / peak:.0%}"
        rows.append(row)
    table = pd.DataFrame(rows)
    base = table.s_per_step.iloc[0]
    table["speedup"] = (base / table.s_per_step).round(2)
    print(f"{CPU}; {args.config}, median of {args.steps} steps; "
          f"matmul peak ({args.threads} threads, 2048^2): float32 {peaks['float32']:.1f} GFLOP/s, "
          f"bfloat16 {peaks['bfloat16']:.1f} GFLOP/s")
    print(table.to_markdown(index=False))
    emit("perception step speed", [{"setup": f"{Path(args.config).stem}, {r.variant}", "figure": "s/step",
                                    "value": r.s_per_step, "unit": "s",
                                    "reference": f"{r.GFLOP_per_s} GFLOP/s ({r.share_of_matmul_peak} of matmul peak)"}
                                   for r in table.itertuples()])


if __name__ == "__main__":
    main()
