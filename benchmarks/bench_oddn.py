"""ODDN training step cost against IODINE at the same configuration, and parameter counts.

    python benchmarks/bench_oddn.py [--steps 3] [--threads 2] [--device cpu|cuda] [--setups reference,tiny]

"The same configuration": the same IODINE (K, R, latent, decoder, refinement), the same frames
per step. IODINE's step sees the B*N frames of B clips of N frames as independent images;
ODDN's step infers the same frames and adds its distillation, relation module, predictor and
the decodes of the predicted frames (N-2 one-step, plus N-3 rolled out with student forcing).

One step = forward + backward + gradient clipping + Adam, on random frames; each row runs in a
fresh process (peak memory is its own), one warm-up step then the median of `--steps`. On CUDA
the step runs under bf16 autocast and is synchronised before each timer read.

Setups:
- `reference`: oddn_clevrer_prediction.yaml sizes (K=7, R=5, latent 64, 64x64, 4 dynamics
  dims), clips of 8 frames, batch 1 clip on CPU (A.4's batch 12 on CUDA);
- `reasoning`: oddn_clevrer.yaml sizes (latent 16, 64x96), same clips;
- `tiny`: oddn_tiny.yaml at its final curriculum length and batch.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from summary import emit  # noqa: E402  (benchmarks/summary.py)

REPO = Path(__file__).resolve().parents[1]

SETUPS = {
    "reference": ("configs/perception/oddn_clevrer_prediction.yaml", 8, 1, 12),
    "reasoning": ("configs/perception/oddn_clevrer.yaml", 8, 1, 12),
    "tiny": ("configs/perception/oddn_tiny.yaml", 5, 2, 2),
}
ROWS = [  # (row name, model, extra overrides)
    ("iodine", "iodine", []),
    ("oddn", "oddn", []),
    ("oddn, teacher forcing only", "oddn", ["oddn.student_forcing=false"]),
    ("oddn_no_relation", "oddn", ["oddn.variant=oddn_no_relation"]),
    ("iodine_linear", "oddn", ["oddn.variant=iodine_linear"]),
]


def run_one(spec: dict) -> dict:
    """Times one row in this process."""
    import torch

    from perception.config import PerceptionConfig
    from perception.registry import build_model, training_forward
    from qa_data.config import load_config

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    device = torch.device(spec["device"])
    cfg = load_config(PerceptionConfig, REPO / spec["config"], [f"model={spec['model']}"] + spec["overrides"])
    model = build_model(cfg).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, 3e-4)
    n, b = spec["clip_len"], spec["batch"]
    clips = torch.rand(b, n, 3, *cfg.frames.preprocess.size, device=device)
    cuda = device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize()

    times = []
    for i in range(spec["steps"] + 1):
        sync()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            loss = training_forward(model, cfg, clips).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        sync()
        if i:
            times.append(time.perf_counter() - t0)
    s = statistics.median(times)
    static = sum(p.numel() for p in getattr(model, "iodine", model).parameters())  # ODDN: its IODINE part
    row = {"setup": spec["setup"], "model": spec["name"], "clips x frames": f"{b}x{n}",
           "params": sum(p.numel() for p in params), "params beyond IODINE": sum(p.numel() for p in params) - static,
           "s_per_step": round(s, 4), "frames_per_s": round(b * n / s, 2)}
    if cuda:
        row["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    else:
        row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--setups", default="reference,tiny")
    ap.add_argument("--rows", default="", help="comma-separated row names (default: all)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one spec (JSON) and print its row
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return
    import pandas as pd
    wanted = [r for r in args.rows.split(",") if r]
    rows = []
    for setup in args.setups.split(","):
        config, clip_len, cpu_batch, gpu_batch = SETUPS[setup]
        for name, model, overrides in ROWS:
            if wanted and name not in wanted:
                continue
            spec = {"setup": setup, "name": name, "model": model, "config": config, "overrides": overrides,
                    "clip_len": clip_len, "batch": gpu_batch if args.device == "cuda" else cpu_batch,
                    "steps": args.steps, "threads": args.threads, "device": args.device}
            done = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], cwd=REPO,
                                  capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{setup}/{name} failed:\n{done.stderr[-3000:]}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    table = pd.DataFrame(rows)
    base = table[table.model == "iodine"].set_index("setup").s_per_step
    table["x IODINE"] = (table.s_per_step / table.setup.map(base)).round(3)
    where = platform.processor() or platform.machine()
    if args.device == "cuda":
        import torch
        where = torch.cuda.get_device_name()
    print(f"{where}, {args.device}, {args.threads} threads, median of {args.steps} steps")
    print(table.to_markdown(index=False))
    emit("ODDN training", [{"setup": f"{r['setup']}: {r['model']}", "figure": "s/step", "value": r["s_per_step"],
                            "unit": "s", "reference": f"x{r['x IODINE']} IODINE's step (target: at most x1.10)"}
                           for r in table.to_dict("records")])


if __name__ == "__main__":
    main()
