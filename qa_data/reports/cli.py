"""Command lines of the dataset reports: the dataset doctor (`scripts/check_data.py`) and the executor's ceiling
from sampled frames (`scripts/frame_ceiling.py`)."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from qa_data.clevrer.layout import ClevrerLayout
from qa_data.programs.events import load_scene_facts
from qa_data.programs.frame_ceiling import frame_ceiling_table
from qa_data.reports.data_check import DECODE, SAMPLE_EVERY, check_dataset
from qa_data.reports.qa_report import load_split_with_answers


def frame_ceiling_main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="The program executor's accuracy on facts computed from only F sampled "
                                 "frames (an upper bound of what a model sampling F frames can answer).")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--split", default="validation")
    ap.add_argument("--frames", default="8,16,25,32,64,128", help="comma-separated frame counts")
    ap.add_argument("--out", type=Path, help="write the table as Markdown and CSV (OUT.md, OUT.csv)")
    args = ap.parse_args(argv)
    layout = ClevrerLayout(args.data)
    scenes = load_split_with_answers(layout, args.split)
    facts = {s.scene_index: load_scene_facts(layout, args.split, s.scene_index) for s in scenes}
    table = frame_ceiling_table(scenes, facts.__getitem__, [int(f) for f in args.frames.split(",")])
    md = table.round(1).to_markdown(index=False)
    print(md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out.with_suffix(".csv"), index=False)
        args.out.with_suffix(".md").write_text(
            f"# Executor ceiling by frames sampled ({args.data}, {args.split}, "
            f"{sum(len(s.questions) for s in scenes)} questions)\n\n" + md + "\n")
    return 0


def check_data_main(argv=None) -> int:
    """`scripts/check_data.py`: exit status 1 when anything would stop a stage."""
    ap = argparse.ArgumentParser(description="Check a CLEVRER(-sim) dataset root before training: videos, annotations, "
                                 "proposals and questions expected, present, missing and defective, what each "
                                 "defect would stop and what to do. Exit status 1 if anything would stop a stage.")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--decode", choices=DECODE, default="sample",
                    help=f"decode no video, every {SAMPLE_EVERY}th, or all (default: sample)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", type=Path, help="also write the report here as JSON")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    report = check_dataset(args.data, args.decode, args.workers, progress=not args.no_progress)
    print(f"# {args.data}\n")
    print(report.table.to_markdown(index=False))
    if len(report.questions):
        print()
        print(report.questions.drop(columns=["file"]).to_markdown(index=False))
    if len(report.problems):
        summary = (report.problems.groupby(["split", "problem", "stops", "what to do"], sort=False)
                   .agg(videos=("video", "count"), first=("detail", "first")).reset_index())
        print()
        print(summary.to_markdown(index=False))
    verdict = "stops a stage" if report.stopping else "nothing that stops a stage"
    print(f"\n{len(report.problems)} finding(s): {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"root": str(args.data), "decode": args.decode,
                                         "table": report.table.to_dict("records"),
                                         "questions": report.questions.to_dict("records"),
                                         "problems": report.problems.to_dict("records")}, indent=1))
    return 1 if report.stopping else 0
