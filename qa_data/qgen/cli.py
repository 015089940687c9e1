"""Command line of the question generator (`scripts/generate_questions.py`)."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from qa_data.qgen.config import build_question_config


def print_report(report) -> None:
    for split, n in report.questions.items():
        print(f"{split}: {n} questions over {report.videos[split]} videos")
    print(f"questions written in {report.seconds:.1f} s: " + ", ".join(str(p) for p in report.files))


def main(argv=None) -> int:
    from qa_data.qgen.generate import generate_questions

    ap = argparse.ArgumentParser(description="Generate CLEVRER questions for an existing CLEVRER-sim dataset.")
    ap.add_argument("--data", required=True, type=Path, help="dataset root (annotations, tail_events, counterfactuals)")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--preset", default="clevrer_sim", help="question preset name or YAML path")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("overrides", nargs="*", help="config overrides, e.g. questions_per_video=20")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = build_question_config(args.preset, args.seed, args.overrides)
    print_report(generate_questions(args.data, cfg, workers=args.workers))
    return 0
