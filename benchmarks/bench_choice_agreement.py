"""Does a QA model tell a question's choices apart? For every multiple-choice type, the share of validation
questions whose choices all got the same label (issue 30's diagnosis of the predictive type, where exactly one
of the two choices is correct, so a model that reads the choices never labels both alike).

    python benchmarks/bench_choice_agreement.py --predictions RUN/eval/validation_step_N/predictions.json --data DATA

Prints a Markdown table: per type, questions, all choices alike (%), and of those all "correct" / all "wrong".
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pandas as pd
from summary import show_table  # benchmarks/summary.py: sets the allocator, records the CPU

from qa_data.clevrer.layout import ClevrerLayout
from qa_data.reports.qa_report import load_split_with_answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predictions", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True, help="the dataset root the predictions are of")
    ap.add_argument("--split", default="validation")
    args = ap.parse_args()
    types = {(s.scene_index, q.question_id): q.question_type
             for s in load_split_with_answers(ClevrerLayout(args.data), args.split) for q in s.questions}
    counts: dict[str, Counter] = {}
    for scene in json.loads(args.predictions.read_text()):
        for q in scene["questions"]:
            if "choices" not in q or len(q["choices"]) < 2:
                continue
            labels = {c["answer"] for c in q["choices"]}
            c = counts.setdefault(types[(scene["scene_index"], q["question_id"])], Counter())
            c["questions"] += 1
            if len(labels) == 1:
                c[f"all {labels.pop()}"] += 1
    rows = [{"type": t, "questions": c["questions"],
             "all choices alike (%)": 100.0 * (c["all correct"] + c["all wrong"]) / c["questions"],
             "all correct": c["all correct"], "all wrong": c["all wrong"]} for t, c in sorted(counts.items())]
    show_table(f"{args.predictions}: questions with two or more choices", pd.DataFrame(rows), floatfmt=".1f")


if __name__ == "__main__":
    main()
