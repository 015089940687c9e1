"""Statistics of question files (ours or real CLEVRER's): counts per type and subtype next to
CLEVRER train's, descriptive answer distributions, choices per question, correct choices."""
from __future__ import annotations

from collections import Counter
from typing import Iterable

import pandas as pd

from qa_data.clevrer.questions import DESCRIPTIVE_SUBTYPES, MC_TYPES, QUESTION_TYPES, SceneQuestions

# CLEVRER train (152,572 questions over 10,000 videos), from the official question file.
CLEVRER_TRAIN_TYPES = {"descriptive": 109952, "explanatory": 16799, "predictive": 7179, "counterfactual": 18642}
CLEVRER_TRAIN_SUBTYPES = {"count": 40000, "exist": 20000, "query_color": 18454, "query_material": 14614,
                          "query_shape": 16884}


def question_rows(splits: dict[str, Iterable[SceneQuestions]]) -> pd.DataFrame:
    """One row per question: split, type, subtype, answer, choices and correct choices."""
    rows = []
    for split, scenes in splits.items():
        for s in scenes:
            for q in s.questions:
                rows.append({"split": split, "scene_index": s.scene_index, "question_type": q.question_type,
                             "question_subtype": q.question_subtype, "answer": q.answer,
                             "choices": len(q.choices) if q.is_multiple_choice else None,
                             "correct_choices": (sum(c.answer == "correct" for c in q.choices)
                                                 if q.is_multiple_choice else None)})
    return pd.DataFrame(rows)


def type_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Counts and shares per type and descriptive subtype, per split, with CLEVRER train's shares."""
    total_ref = sum(CLEVRER_TRAIN_TYPES.values())
    out = []
    splits = list(dict.fromkeys(rows["split"]))
    keys = [(t, None) for t in QUESTION_TYPES[:1]] + [("descriptive", s) for s in DESCRIPTIVE_SUBTYPES] + \
           [(t, None) for t in MC_TYPES]
    for t, sub in keys:
        name = t if sub is None else f"descriptive: {sub}"
        row = {"type": name}
        for sp in splits:
            g = rows[rows["split"] == sp]
            sel = g[(g["question_type"] == t) & ((g["question_subtype"] == sub) if sub else True)]
            row[f"{sp}"] = len(sel)
            row[f"{sp} %"] = round(100.0 * len(sel) / max(1, len(g)), 1)
        ref = CLEVRER_TRAIN_SUBTYPES[sub] if sub else CLEVRER_TRAIN_TYPES[t]
        row["CLEVRER train %"] = round(100.0 * ref / total_ref, 1)
        out.append(row)
    total = {"type": "all"}
    for sp in splits:
        total[sp] = int((rows["split"] == sp).sum())
        total[f"{sp} %"] = 100.0
    total["CLEVRER train %"] = 100.0
    out.append(total)
    return pd.DataFrame(out)


def answer_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Descriptive answers: for each subtype, each answer's count and share (all splits)."""
    d = rows[rows["question_type"] == "descriptive"]
    out = []
    for sub in DESCRIPTIVE_SUBTYPES:
        g = d[d["question_subtype"] == sub]
        c = Counter(g["answer"])
        for ans, n in sorted(c.items(), key=lambda kv: -kv[1]):
            out.append({"subtype": sub, "answer": ans, "count": n, "share %": round(100.0 * n / len(g), 1)})
    return pd.DataFrame(out)


def choice_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per multiple-choice type: questions with k choices and with k correct choices, and the
    correct/wrong totals."""
    out = []
    for t in MC_TYPES:
        g = rows[rows["question_type"] == t]
        if not len(g):
            continue
        row = {"type": t, "questions": len(g)}
        for k in range(1, 5):
            row[f"{k} choices"] = int((g["choices"] == k).sum())
        for k in range(0, 5):
            row[f"{k} correct"] = int((g["correct_choices"] == k).sum())
        row["correct"] = int(g["correct_choices"].sum())
        row["wrong"] = int((g["choices"] - g["correct_choices"]).sum())
        out.append(row)
    return pd.DataFrame(out)


def stats_markdown(rows: pd.DataFrame) -> str:
    return ("## Questions per type (share of each split; CLEVRER train for reference)\n\n"
            + type_table(rows).to_markdown(index=False)
            + "\n\n## Choices per multiple-choice question\n\n" + choice_table(rows).to_markdown(index=False)
            + "\n\n## Descriptive answers per subtype\n\n" + answer_table(rows).to_markdown(index=False) + "\n")
