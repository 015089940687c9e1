"""Command line of the CLEVRER-sim generator (`scripts/generate_data.py`)."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from qa_data.config import save_config
from qa_data.sim.config import build_config


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="tiny", help="tiny | cpu | full | path to a YAML preset")
    ap.add_argument("--out", required=True, help="dataset root to create or resume")
    ap.add_argument("--num-videos", type=int, help="total videos, split in the preset's proportions")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-questions", action="store_true", help="videos only; questions can be made later "
                    "with scripts/generate_questions.py")
    ap.add_argument("--no-render", action="store_true", help="no pixels: annotations, tail events, "
                    "counterfactuals and questions only (render=false), for the ground-truth state source")
    ap.add_argument("--question-preset", default="clevrer_sim")
    ap.add_argument("overrides", nargs="*", help="config overrides, e.g. camera.width=128")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    from qa_data.sim.generate import generate_dataset

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    cfg = build_config(args.preset, args.num_videos, args.seed,
                       args.overrides + (["render=false"] if args.no_render else []))
    report = generate_dataset(cfg, args.out, workers=args.workers)
    save_config(cfg, Path(args.out) / "generator_config.yaml")
    rate = report.generated / report.seconds if report.seconds > 0 else float("nan")
    print(f"generated {report.generated} videos ({report.already_done} already done) in "
          f"{report.seconds:.1f} s, {rate:.2f} videos/s")
    if not args.no_questions:
        from qa_data.qgen.cli import print_report
        from qa_data.qgen.config import build_question_config
        from qa_data.qgen.generate import generate_questions
        qcfg = build_question_config(args.question_preset, cfg.seed)
        print_report(generate_questions(args.out, qcfg, workers=args.workers))
    return 0
