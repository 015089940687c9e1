"""The prepared GPU check (`benchmarks/gpu_check.sh`): one table of what the paper-sized presets cost on the
device at hand, with projections for real CLEVRER.

    python benchmarks/gpu_check.py [--out docs/gpu_check.md] [--compile] [--steps 5]
    python benchmarks/gpu_check.py --smoke          # tiny presets on the CPU, seconds (CI keeps it working)

Rows: perception training step time and frames/s at the paper presets (IODINE, PROVIDE, ODDN; bf16 autocast;
with `torch.compile` too when `--compile`), the ODDN/IODINE step-cost ratio, slot extraction videos/s (ODDN,
128 frames at its stride), QA training questions/s at `aloe_clevrer`, peak GPU memory of each, and the
projected time of one pass over CLEVRER's 1.28 M training frames and of one full ODDN training (the paper:
about 384 GPU-hours). Inputs are random tensors at the presets' shapes: the check times the models, not the
data pipeline. Median of `--steps` timed steps after 2 warm-up steps.
"""
from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from perception.config import PerceptionConfig  # noqa: E402
from perception.registry import build_model, slot_features, train_clip_len, training_forward  # noqa: E402
from qa_data.config import load_config  # noqa: E402
from reasoning.aloe import Aloe  # noqa: E402
from reasoning.config import QAConfig  # noqa: E402
from reasoning.qa_dataset import collate  # noqa: E402
from reasoning.train import qa_loss  # noqa: E402

PAPER = {"iodine": "iodine_clevrer", "provide": "provide_clevrer", "oddn": "oddn_clevrer", "qa": "aloe_clevrer"}
SMOKE = {"iodine": "iodine_tiny", "provide": "provide_tiny", "oddn": "oddn_tiny", "qa": "aloe_tiny"}
CLEVRER_TRAIN_FRAMES = 10_000 * 128
ODDN_PAPER_GPU_HOURS = 384


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, steps: int) -> float:
    """Median seconds of `fn()` over `steps` runs, after 2 warm-up runs."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_memory_gb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def perception_row(name: str, preset: str, device: torch.device, steps: int, bf16: bool, compiled: bool,
                   overrides: list[str]) -> dict:
    cfg = load_config(PerceptionConfig, REPO / "configs/perception" / f"{preset}.yaml", overrides)
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    forward = torch.compile(training_forward) if compiled else training_forward
    opt = torch.optim.Adam(model.parameters(), cfg.train.lr)
    length = train_clip_len(cfg)
    x = torch.rand(cfg.train.batch_size, length, 3, *cfg.frames.preprocess.size, device=device)  # [B, L, 3, H, W]

    def step():
        with autocast(device, bf16):
            loss = forward(model, cfg, x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)

    reset_peak(device)
    seconds = timed(step, device, steps)
    frames = cfg.train.batch_size * length
    return {"item": f"{name} training step", "preset": preset + (", compiled" if compiled else ""),
            "batch": f"{cfg.train.batch_size} x {length} frames", "seconds": seconds, "per second": frames / seconds,
            "unit": "frames/s", "peak GB": peak_memory_gb(device), "steps": cfg.train.steps}


def extraction_row(preset: str, device: torch.device, steps: int, bf16: bool, overrides: list[str]) -> dict:
    cfg = load_config(PerceptionConfig, REPO / "configs/perception" / f"{preset}.yaml", overrides)
    torch.manual_seed(0)
    model = build_model(cfg).to(device).eval().requires_grad_(False)
    frames = len(range(0, 128, cfg.frames.frame_stride))
    videos = 4
    x = torch.rand(videos, frames, 3, *cfg.frames.preprocess.size, device=device)  # [V, T, 3, H, W]
    seeds = torch.arange(videos * frames, device=device).view(videos, frames)

    def run():
        with autocast(device, bf16):
            slot_features(model, cfg, x, seeds)

    reset_peak(device)
    seconds = timed(run, device, steps)
    return {"item": "slot extraction", "preset": preset, "batch": f"{videos} videos x {frames} frames",
            "seconds": seconds, "per second": videos / seconds, "unit": "videos/s", "peak GB": peak_memory_gb(device)}


def qa_row(preset: str, device: torch.device, steps: int, bf16: bool, overrides: list[str]) -> dict:
    cfg = load_config(QAConfig, REPO / "configs/qa" / f"{preset}.yaml", overrides)
    torch.manual_seed(0)
    slots, dim, vocab = 7, 128, 82
    model = Aloe(cfg.aloe, dim, slots, cfg.data.num_frames, vocab + 1, 22,
                 cfg.tokenizer.question_len + cfg.tokenizer.choice_len).to(device)
    opt = torch.optim.Adam(model.parameters(), cfg.train.lr)
    g = torch.Generator().manual_seed(0)
    items = []
    for i in range(cfg.train.batch_size):  # CLEVRER's mix: ~72 % descriptive, the rest with 2-4 choices
        item = {"scene_index": i, "question_id": 0, "type": 0,
                "question": torch.randint(1, vocab, (cfg.tokenizer.question_len,), generator=g),
                "slots": torch.randn(cfg.data.num_frames, slots, dim, generator=g)}
        if i % 4:
            item.update(choices=torch.zeros(0, cfg.tokenizer.choice_len, dtype=torch.long), choice_ids=[],
                        labels=torch.zeros(0, dtype=torch.long), answer=1 + i % 21)
        else:
            item.update(choices=torch.randint(1, vocab, (3, cfg.tokenizer.choice_len), generator=g),
                        choice_ids=[0, 1, 2], labels=torch.tensor([1, 0, 1]), answer=-1, type=1)
        items.append(item)
    passes = collate(items).to(device)

    def step():
        with autocast(device, bf16):
            out = model(passes.slots, passes.text, passes.segment, passes.presence)
            loss, _ = qa_loss(out, passes, cfg.aloe.mask_slot_weight)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    reset_peak(device)
    seconds = timed(step, device, steps)
    return {"item": "QA training step", "preset": preset, "batch": f"{cfg.train.batch_size} questions",
            "seconds": seconds, "per second": cfg.train.batch_size / seconds, "unit": "questions/s",
            "peak GB": peak_memory_gb(device), "steps": cfg.train.steps}


def check(smoke: bool, steps: int, compiled: bool) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(measurements, projections, device name)."""
    device = torch.device("cuda" if torch.cuda.is_available() and not smoke else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.machine()})"
    presets = SMOKE if smoke else PAPER
    bf16 = device.type == "cuda"
    shrink = ["iodine.num_iters=2", "train.batch_size=2"] if smoke else []
    rows = []
    for model in ("iodine", "provide", "oddn"):
        rows.append(perception_row(model.upper(), presets[model], device, steps, bf16, False, shrink))
        if compiled:
            rows.append(perception_row(model.upper(), presets[model], device, steps, bf16, True, shrink))
    rows.append(extraction_row(presets["oddn"], device, steps, bf16, shrink))
    rows.append(qa_row(presets["qa"], device, steps, bf16, ["train.batch_size=8"] if smoke else []))
    table = pd.DataFrame(rows)
    by = {r["item"].split()[0]: r for r in rows
          if r["item"].endswith("training step") and "compiled" not in r["preset"]}
    oddn, iodine = by["ODDN"], by["IODINE"]
    projections = pd.DataFrame([
        {"projection": "ODDN / IODINE step cost", "value": oddn["seconds"] / iodine["seconds"], "unit": "x"},
        {"projection": "IODINE: one pass over CLEVRER's 1.28 M training frames",
         "value": CLEVRER_TRAIN_FRAMES / iodine["per second"] / 3600, "unit": "hours"},
        {"projection": "ODDN: one pass over CLEVRER's training frames",
         "value": CLEVRER_TRAIN_FRAMES / oddn["per second"] / 3600, "unit": "hours"},
        {"projection": f"ODDN: one full training ({oddn['steps']:,} steps; paper about {ODDN_PAPER_GPU_HOURS} "
                       "GPU-hours)", "value": oddn["steps"] * oddn["seconds"] / 3600, "unit": "GPU-hours"},
        {"projection": f"QA: one full training ({by['QA']['steps']:,} steps)",
         "value": by["QA"]["steps"] * by["QA"]["seconds"] / 3600, "unit": "GPU-hours"},
        {"projection": "extraction of CLEVRER's 20,000 videos", "value": 20_000 / rows[-2]["per second"] / 3600,
         "unit": "hours"},
    ])
    return table.drop(columns=["steps"]), projections, name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny presets on the CPU (seconds)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per row (after 2 warm-up steps)")
    ap.add_argument("--compile", action="store_true", help="also time the perception steps under torch.compile")
    ap.add_argument("--out", type=Path, help="also write the tables here (Markdown)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    table, projections, name = check(args.smoke, args.steps, args.compile)
    text = (f"# GPU check on {name}{' (smoke: tiny presets)' if args.smoke else ''}\n\n"
            f"torch {torch.__version__}; {time.perf_counter() - t0:.0f} s in all.\n\n"
            + table.to_markdown(index=False, floatfmt=".4g") + "\n\n"
            + projections.to_markdown(index=False, floatfmt=".3g") + "\n")
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
