"""Question generation throughput (candidates, balanced selection, executor check, writing).

    python benchmarks/bench_questions.py [--data runs/demo/data] [--videos 60] [--workers 2] [--per-video 15]

Uses an existing CLEVRER-sim dataset when --data is given (its questions are rewritten,
deterministically), else generates a tiny one of --videos videos in a temporary directory first.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import pandas as pd
from summary import emit  # noqa: E402  (benchmarks/summary.py)

from qa_data.qgen.config import build_question_config
from qa_data.qgen.generate import generate_questions
from qa_data.sim.config import build_config
from qa_data.sim.generate import generate_dataset


def bench(root: Path, workers: int, per_video: float) -> dict:
    report = generate_questions(root, build_question_config(overrides=[f"questions_per_video={per_video}"]),
                                workers=workers, progress=False)
    videos, questions = sum(report.videos.values()), sum(report.questions.values())
    return {"videos": videos, "asked per video": per_video, "questions": questions, "workers": workers,
            "wall_s": round(report.seconds, 1),
            "videos_per_s": round(videos / report.seconds, 1), "questions_per_s": round(questions / report.seconds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--videos", type=int, default=60)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--per-video", type=float, default=15.0, help="questions asked per video (CLEVRER: 15)")
    args = ap.parse_args()
    if args.data is not None:
        row = bench(args.data, args.workers, args.per_video)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            generate_dataset(build_config("tiny", args.videos, 0, ["render=false"]), tmp, workers=args.workers,
                                   progress=False)
            row = bench(Path(tmp), args.workers, args.per_video)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(pd.DataFrame([row]).to_markdown(index=False))
    emit("questions", [{"setup": f"{row['videos']} tiny videos, {row['workers']} workers", "figure": "questions/s",
                        "value": row["questions_per_s"], "unit": "questions/s"}])


if __name__ == "__main__":
    main()
