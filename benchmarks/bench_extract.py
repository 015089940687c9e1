"""Slot extraction throughput (videos/s) with 1 and 2 processes, and the cache's size per video.

    python benchmarks/bench_extract.py [--videos 8] [--config configs/perception/oddn_tiny.yaml]
                                       [--batch-size 2] [--frame-stride 0] [--work DIR]

Runs `scripts/extract_slots.py` on the train split of a generated tiny CLEVRER-sim dataset
(`--videos` train videos, 128 frames each) with an untrained checkpoint of the config (the
cost does not depend on the weights), each row in fresh processes:

- `python` — one process with torch's default threads (all cores);
- `accelerate, 1 process` — `accelerate launch --num_processes 1` (one thread per process);
- `accelerate, 2 processes` — `accelerate launch --multi_gpu --num_processes 2` (gloo on CPU).

videos/s is the extraction loop's (model loading excluded) as logged in `extract_log.jsonl`;
wall is the whole command. Every row must write the same bytes (column `same file`). On a
CUDA machine, add `--gpu` to time the rows on the GPU instead.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from summary import emit  # noqa: E402  (benchmarks/summary.py)

REPO = Path(__file__).resolve().parents[1]


def prepare(work: Path, videos: int, config: Path) -> tuple[Path, Path]:
    import torch

    from perception.config import PerceptionConfig
    from perception.registry import build_model
    from qa_data.config import load_config
    from qa_data.runtime.checkpoints import write_model_file
    from qa_data.sim.config import build_config
    from qa_data.sim.generate import generate_dataset

    data = work / "data"
    generate_dataset(build_config("tiny", None, 0, [f"splits.train={videos}", "splits.validation=1",
                                                                "splits.test=1"]), data, workers=os.cpu_count() or 1,
                           progress=False)
    cfg = load_config(PerceptionConfig, config, [])
    run = work / f"run_{config.stem}"
    ckpt = run / "checkpoints" / "step_0000000"
    if not (ckpt / "model.pt").is_file():
        ckpt.mkdir(parents=True)
        torch.manual_seed(0)
        write_model_file(build_model(cfg), cfg, ckpt / "model.pt", 0)
    return data, run


def time_row(name: str, launcher: list[str], env: dict, run: Path, data: Path, out: Path, args) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*launcher, str(REPO / "scripts" / "extract_slots.py"), "--run", str(run), "--data", str(data),
           "--out", str(out), "--split", "train", "--batch-size", str(args.batch_size),
           "--frame-stride", str(args.frame_stride), "--no-progress"]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    log = json.loads((out / "extract_log.jsonl").read_text().splitlines()[-1])
    size = (out / "train.h5").stat().st_size
    return {"setup": name, "processes": log["processes"], "videos": log["computed"],
            "loop s": log["seconds"], "videos/s": log["videos_per_second"], "wall s": round(wall, 1),
            "bytes/video": round(size / max(log["computed"], 1)), "file": out / "train.h5"}


def main() -> None:
    import pandas as pd

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "perception" / "oddn_tiny.yaml")
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--frame-stride", type=int, default=0, help="0: the model's training stride")
    ap.add_argument("--work", type=Path, help="keep data and outputs here (default: a temporary folder)")
    ap.add_argument("--gpu", action="store_true", help="run on CUDA (one process per GPU for the 2-process row)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_extract_"))
    work.mkdir(parents=True, exist_ok=True)
    data, run = prepare(work, args.videos, args.config)
    base = {**os.environ, "PYTHONPATH": str(REPO)}
    if not args.gpu:
        base["CUDA_VISIBLE_DEVICES"] = ""
    accel = [sys.executable, "-m", "accelerate.commands.launch", "--num_machines", "1", "--mixed_precision", "no",
             "--dynamo_backend", "no"]
    rows = [time_row("python (default threads)", [sys.executable], base, run, data, work / "out_python", args),
            time_row("accelerate, 1 process", [*accel, "--num_processes", "1"], base, run, data, work / "out_1", args),
            time_row("accelerate, 2 processes", [*accel, "--multi_gpu", "--num_processes", "2"], base, run, data,
                     work / "out_2", args)]
    reference = rows[0]["file"].read_bytes()
    for row in rows:
        row["same file"] = row.pop("file").read_bytes() == reference
    table = pd.DataFrame(rows)
    one = table.loc[table.setup == "accelerate, 1 process", "videos/s"].item()
    table["speed-up vs 1 process"] = (table["videos/s"] / one).round(2)
    threads = os.cpu_count()
    print(f"# slot extraction, {args.config.name}, {args.videos} videos, batch {args.batch_size} "
          f"({platform.processor() or platform.machine()}, {threads} logical CPUs, "
          f"{'CUDA' if args.gpu else 'CPU'})\n")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    rows = []
    for r in table.to_dict("records"):
        reference = (f"x{r['speed-up vs 1 process']} vs 1 process (target: x1.7 with 2)" if r["processes"] == 2
                     else "")
        rows.append({"setup": f"{args.config.stem}, {r['setup']}", "figure": "videos/s", "value": r["videos/s"],
                     "unit": "videos/s", "reference": reference})
    emit("slot extraction", rows)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
