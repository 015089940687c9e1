"""What a small learner reaches on predictive questions when handed the two objects a choice names (issue 30).

    python benchmarks/bench_pair_reference.py --data DATA --states STATES [--frame 30] [--out table.csv]

For every predictive choice, the two named objects (`reasoning.mention_oracle`, read from the choice's program)
are looked up in a ground-truth state cache at one cached frame (default the last one ALOE's `aloe_cpu` window
sees at evaluation: cached frame 30 of a stride-4 cache, source frame 120). Learners fitted on the training
choices label the validation choices, and each question counts when both its choices are right: a logistic
regression and an MLP (scikit-learn) on the pair's raw states (both orders, so the order of naming carries no
information), and on the absolute differences of their positions and velocities only (|dx|, |dy|, |dvx|,
|dvy|). It says how many questions a learner with
the binding solved for it can learn from this many questions, next to the QA model with the mention oracle.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from summary import show_table  # benchmarks/summary.py: sets the allocator, records the CPU

from qa_data.clevrer.layout import ClevrerLayout
from qa_data.reports.qa_report import load_split_with_answers
from qa_data.slots.slot_cache import SlotFrames, split_file
from reasoning.approach import motion_columns
from reasoning.mention_oracle import choice_mentions


def choices(data: Path, states: Path, split: str, frame: int) -> tuple[pd.DataFrame, list[int]]:
    """(one row per predictive choice: its question, label and the named objects' states; the x, y, vx, vy
    columns of those states)."""
    layout = ClevrerLayout(data)
    scenes = [s for s in load_split_with_answers(layout, split)
              if any(q.question_type == "predictive" for q in s.questions)]
    mentions = choice_mentions(layout, split, scenes)
    cache = SlotFrames(split_file(states, split))
    motion = motion_columns(cache.attrs, cache.path)  # x, y, vx, vy
    rows = []
    for s in scenes:
        x = np.asarray(cache.read(s.scene_index), dtype=np.float64)[frame]  # [K, D]
        for q in s.questions:
            if q.question_type != "predictive":
                continue
            for c in q.choices:
                a, b = mentions[(s.scene_index, q.question_id, c.choice_id)]
                rows.append({"scene": s.scene_index, "question": q.question_id, "label": int(c.answer == "correct"),
                             "a": x[a], "b": x[b]})
    return pd.DataFrame(rows), motion


def features(df: pd.DataFrame, kind: str, motion: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(features of each choice, and of it with the two objects swapped)."""
    a, b = np.stack(df.a), np.stack(df.b)
    if kind == "relative":
        rel = np.abs(a[:, motion] - b[:, motion])  # |dx|, |dy|, |dvx|, |dvy|: the same in either order
        return rel, rel
    return np.concatenate([a, b], 1), np.concatenate([b, a], 1)


def per_question(df: pd.DataFrame, prob: np.ndarray) -> float:
    df = df.assign(pred=(prob >= 0.5).astype(int))
    right = df.groupby(["scene", "question"]).apply(lambda g: bool((g.pred == g.label).all()), include_groups=False)
    return 100.0 * float(right.mean())


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--states", type=Path, required=True, help="ground-truth state cache (train.h5, validation.h5)")
    ap.add_argument("--frame", type=int, default=30, help="cached frame the states are read at")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    (train, motion), (val, _) = (choices(args.data, args.states, s, args.frame) for s in ("train", "validation"))
    rows = []
    for kind in ("raw states of both", "relative"):
        key = "raw" if kind.startswith("raw") else "relative"
        (xa, xb), (va, vb) = features(train, key, motion), features(val, key, motion)
        x, y = np.concatenate([xa, xb]), np.concatenate([train.label, train.label])
        for name, learner in (("logistic regression", LogisticRegression(max_iter=2000)),
                              ("MLP 64-64", MLPClassifier((64, 64), max_iter=2000, random_state=0))):
            model = make_pipeline(StandardScaler(), learner).fit(x, y)
            prob = (model.predict_proba(va)[:, 1] + model.predict_proba(vb)[:, 1]) / 2
            rows.append({"input": kind, "learner": name, "train choices": len(train), "validation questions":
                         val.groupby(["scene", "question"]).ngroups,
                         "per option": 100.0 * float(((prob >= 0.5) == val.label).mean()),
                         "per question": per_question(val, prob)})
    table = pd.DataFrame(rows)
    show_table(f"{args.data}: predictive choices with the named objects handed over, states at cached frame "
               f"{args.frame}", table, args.out, ".1f")


if __name__ == "__main__":
    main()
