"""What the predictive type asks of the states: the straight-line reference started from earlier frames.

    python benchmarks/bench_predictive_reference.py --data DIR [--split validation] [--frames -1 124 120 112]

For each start frame, every object moves on in a straight line from its ground-truth location and velocity at that
frame (`qa_data.programs.extrapolation`), and of each predictive question's two choices the pair that comes
closest is taken. A QA model that never sees the last frames (ALOE samples F of the cached frames at a stride;
`aloe_cpu` at evaluation sees source frames 0-120, `aloe_tiny` 0-112 of a stride-4 cache) can at best do what the
rule does from its last frame. Prints a table (per-question accuracy with its 95 % interval) and writes it as CSV
next to `--out` when given.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from summary import emit, show_table  # benchmarks/summary.py: sets the allocator, records the CPU

from qa_data.clevrer.annotations import load_annotation
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.questions import SceneQuestions
from qa_data.programs.events import load_scene_facts
from qa_data.programs.extrapolation import extrapolation_predictions
from qa_data.programs.scoring import ci_text, score
from qa_data.reports.qa_report import load_split_with_answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--split", default="validation")
    ap.add_argument("--frames", type=int, nargs="+", default=[-1, 124, 120, 112])
    ap.add_argument("--out", type=Path, help="CSV of the table")
    args = ap.parse_args()
    layout = ClevrerLayout(args.data)
    scenes = [SceneQuestions(s.scene_index, s.video_filename,
                             [q for q in s.questions if q.question_type == "predictive"])
              for s in load_split_with_answers(layout, args.split)]
    annotations = {}

    def annotation_of(i: int):
        if i not in annotations:
            annotations[i] = load_annotation(layout.annotation_path(args.split, i))
        return annotations[i]

    rows = []
    for frame in args.frames:
        preds = extrapolation_predictions(scenes, annotation_of, lambda i: load_scene_facts(layout, args.split, i),
                                          frame=frame)
        t = score(scenes, preds).set_index("type").loc["predictive"]
        rows.append({"start frame": "last (127)" if frame == -1 else frame, "questions": int(t.questions),
                     "per option": ci_text(t.per_option, t.per_option_lo, t.per_option_hi),
                     "per question": ci_text(t.per_question, t.per_question_lo, t.per_question_hi)})
    table = pd.DataFrame(rows)
    show_table(f"{args.data} ({args.split}): the straight-line rule on predictive questions", table, args.out)
    emit("predictive reference", [{"setup": f"{args.split}, from frame {r['start frame']}", "figure": "per question",
                                   "value": r["per question"], "unit": "%"} for r in rows])


if __name__ == "__main__":
    main()
