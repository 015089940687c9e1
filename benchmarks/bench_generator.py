"""CLEVRER-sim generator throughput: videos/s for the tiny and full presets.

    python benchmarks/bench_generator.py [--tiny-videos 100] [--full-videos 4] [--no-render-videos 400] [--workers 2]

Each row generates into a fresh temporary directory with the given number of worker processes,
including masks, mp4 encoding and the counterfactual re-simulations (process start-up included).
The `no-render` row is the tiny preset with `render=false` (`generate_data.py --no-render`): the
physics, counterfactuals, annotations and tail events, without pixels.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import pandas as pd
from summary import emit  # noqa: E402  (benchmarks/summary.py)

from qa_data.sim.config import build_config
from qa_data.sim.generate import generate_dataset


def bench(preset: str, videos: int, workers: int, render: bool = True) -> dict:
    cfg = build_config(preset, videos, 0, [] if render else ["render=false"])
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        generate_dataset(cfg, out, workers=workers, progress=False)
        wall = time.perf_counter() - t0
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    return {"preset": preset if render else f"{preset}, no-render",
            "resolution": f"{cfg.camera.width}x{cfg.camera.height}" if render else "-", "videos": videos,
            "workers": workers, "wall_s": round(wall, 1), "videos_per_s": round(videos / wall, 2),
            "s_per_video_per_worker": round(wall * workers / videos, 3),
            "MB_per_video": round(size / videos / 1e6, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tiny-videos", type=int, default=100)
    ap.add_argument("--full-videos", type=int, default=4)
    ap.add_argument("--no-render-videos", type=int, default=400)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    rows = [bench("tiny", args.tiny_videos, args.workers), bench("full", args.full_videos, args.workers),
            bench("tiny", args.no_render_videos, args.workers, render=False)]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(pd.DataFrame(rows).to_markdown(index=False))
    emit("generator", [{"setup": f"{r['preset']} ({r['resolution']}), {r['workers']} workers", "figure": "videos/s",
                        "value": r["videos_per_s"], "unit": "videos/s"} for r in rows])


if __name__ == "__main__":
    main()
