"""Where a QA run loses its points: accuracy per question template (the question's words with every colour,
material and shape replaced by C, M and S), sorted by the questions it gets wrong. Issue 30's diagnosis of the
descriptive and explanatory types: one template can hold most of a type's errors.

    python benchmarks/bench_question_templates.py --eval RUN/eval/validation_step_N --data DATA [--top 25] [--out CSV]

Reads the evaluation's per_question.csv (reasoning/evaluate.py) and the split's question texts. Prints a Markdown
table: template, type, questions, per-question accuracy (%), wrong, and the template's share of its type's
wrong questions (%).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd
from summary import show_table  # benchmarks/summary.py: sets the allocator, records the CPU

from qa_data.clevrer.annotations import COLORS, MATERIALS, SHAPES
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.reports.qa_report import load_split_with_answers

_WORDS = [(re.compile(rf"\b({'|'.join(words)})(s|es)?\b"), mark)
          for words, mark in ((COLORS, "C"), (MATERIALS, "M"), (SHAPES, "S"))]


def question_template(text: str) -> str:
    """`text` with every colour, material and shape word (singular or plural) replaced by C, M and S."""
    for pattern, mark in _WORDS:
        text = pattern.sub(mark, text)
    return text


def template_table(per_question: pd.DataFrame, texts: dict[tuple[int, int], str]) -> pd.DataFrame:
    """Accuracy per (template, type) from an evaluation's per-question rows (scene_index, question_id,
    question_type, correct) and the question texts by (scene_index, question_id), most wrong questions first."""
    rows = per_question.assign(template=[question_template(texts[(s, q)]) for s, q in
                                         zip(per_question.scene_index, per_question.question_id)])
    rows["wrong"] = ~rows.correct.astype(bool)
    t = (rows.groupby(["template", "question_type"], sort=False)
         .agg(questions=("wrong", "size"), wrong=("wrong", "sum")).reset_index())
    t["per_question"] = 100.0 * (1 - t.wrong / t.questions)
    t["share_of_type_wrong"] = 100.0 * t.wrong / t.groupby("question_type").wrong.transform("sum").clip(lower=1)
    t = t.rename(columns={"question_type": "type"})
    return (t.sort_values(["wrong", "questions"], ascending=False, kind="stable")
            [["template", "type", "questions", "per_question", "wrong", "share_of_type_wrong"]]
            .reset_index(drop=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval", type=Path, required=True, help="an evaluation folder with per_question.csv")
    ap.add_argument("--data", type=Path, required=True, help="the dataset root the evaluation is of")
    ap.add_argument("--split", default="validation")
    ap.add_argument("--top", type=int, default=25, help="rows to print (all go to --out)")
    ap.add_argument("--out", type=Path, help="write the whole table as CSV")
    args = ap.parse_args()
    path = args.eval / "per_question.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: no such file (an evaluation folder of reasoning/evaluate.py)")
    texts = {(s.scene_index, q.question_id): q.question
             for s in load_split_with_answers(ClevrerLayout(args.data), args.split) for q in s.questions}
    table = template_table(pd.read_csv(path), texts)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
    show_table(f"{path}: the {args.top} templates with the most wrong questions", table.head(args.top),
               floatfmt=".1f")


if __name__ == "__main__":
    main()
