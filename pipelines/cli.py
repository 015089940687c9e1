"""Command lines of the jobs that compose the stages: the main job (scripts/run_pipeline.py), `make reproduce`
(scripts/reproduce.py) and the results page of a main-job run (scripts/results_page.py)."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from perception.pretrained import DEMO_CHECKPOINT
from pipelines.main_job import PERCEPTION_PRESET, QA_PRESET, QUESTION_OVERRIDES, run
from pipelines.reproduce import PRESETS, TABLES, ReproduceConfig, reproduce
from pipelines.reproduce import __doc__ as reproduce_doc
from pipelines.results_page import build
from qa_data.config import load_config


def pipeline_main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run the whole system end to end on generated data.")
    ap.add_argument("--out", type=Path, default=Path("runs/demo"))
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--num-videos", type=int)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--perception", nargs="*", default=[], metavar="KEY=VALUE",
                    help=f"overrides of the perception preset {PERCEPTION_PRESET.name}, e.g. train.steps=200")
    ap.add_argument("--extract-stride", type=int, default=0,
                    help="frame stride of slot extraction (default 0: the perception model's training stride)")
    ap.add_argument("--qa", nargs="*", default=[], metavar="KEY=VALUE",
                    help=f"overrides of the QA preset {QA_PRESET.name}, e.g. train.steps=300")
    ap.add_argument("--questions", nargs="*", default=list(QUESTION_OVERRIDES), metavar="KEY=VALUE",
                    help="overrides of the question preset clevrer_sim (default: %(default)s)")
    ap.add_argument("--qa-jobs", type=int,
                    help="QA runs trained at once (default: every source's at once on CPU, one at a time with a GPU)")
    ap.add_argument("--pretrained", type=Path, default=DEMO_CHECKPOINT,
                    help="perception checkpoint to start from instead of training (default: %(default)s, made by "
                         "`make pretrain`)")
    ap.add_argument("--from-scratch", action="store_true",
                    help=f"train the perception preset {PERCEPTION_PRESET.name} here instead of using --pretrained")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    pretrained = None
    if not args.from_scratch:
        if not args.pretrained.is_file():
            raise SystemExit(f"{args.pretrained}: no pretrained perception checkpoint; make it with `make pretrain`, "
                             "or pass --from-scratch")
        if args.perception:
            raise SystemExit("--perception overrides apply to training; use them with --from-scratch")
        pretrained = args.pretrained
    run(args.out, args.preset, args.num_videos, args.workers, args.seed, args.perception, args.extract_stride,
        args.qa, args.questions, args.qa_jobs, pretrained)
    return 0


def reproduce_main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=reproduce_doc.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=PRESETS / "cpu.yaml",
                    help="reproduction preset (default: %(default)s)")
    ap.add_argument("--work", type=Path, default=Path("runs/reproduce"), help="work directory (resumable)")
    ap.add_argument("--docs", type=Path, help="where results.md and its figures go (default: WORK/results; "
                    "`make reproduce` names docs/, which only a reproduction with the same settings may replace)")
    ap.add_argument("--only", choices=[*TABLES, "page"],
                    help="one table (and what it needs); page: only rewrite the results page from what exists")
    ap.add_argument("overrides", nargs="*", help="key=value overrides of the preset, e.g. qa.seeds=[0]")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `kill` stops the running step as well
    cfg = load_config(ReproduceConfig, args.config, args.overrides)
    result = reproduce(cfg, args.work, args.only, args.docs or args.work / "results")
    print(f"results page: {result['page']}")
    return 0


def results_page_main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write the results page of a finished main-job run: every table it "
                                 "produced, the commands, and its figures.")
    ap.add_argument("--run", type=Path, required=True, help="the main job's output folder, e.g. runs/demo")
    ap.add_argument("--out", type=Path, required=True, help="the Markdown page, e.g. docs/demo_results.md")
    ap.add_argument("--ablation", type=Path, help="a scripts/ablate.py output folder to add")
    ap.add_argument("--command", action="append", default=[], help="a further command that made the tables, "
                    "listed on the page (repeatable)")
    args = ap.parse_args(argv)
    print(f"written {build(args.run, args.out, args.ablation, commands=args.command)}")
    return 0
