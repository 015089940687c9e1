"""CLEVRER's scoring, used by every stage that answers questions.

Descriptive: exact-match accuracy (also per subtype). Multiple choice: per-option accuracy over
all (question, choice) pairs, and per-question accuracy where a question counts only if every one
of its choices is right. Predictions use CLEVRER's submission layout:
`[{scene_index, questions: [{question_id, answer} | {question_id, choices: [{choice_id, answer}]}]}]`.
A question without a prediction counts as wrong and is reported as missing.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from qa_data.clevrer.questions import QUESTION_TYPES, SceneQuestions
from qa_data.errors import DataError

logger = logging.getLogger(__name__)
# key: (scene_index, question_id) -> descriptive answer, or {choice_id: 'correct'|'wrong'}
Predictions = dict[tuple[int, int], Any]


def predictions_from_json(data: Any, path: str = "<predictions>") -> Predictions:
    """Reads CLEVRER's submission layout."""
    out: Predictions = {}
    if not isinstance(data, list):
        raise DataError(path, "predictions must be a list of scenes")
    for i, s in enumerate(data):
        try:
            idx = s["scene_index"]
            if isinstance(idx, bool) or not isinstance(idx, int):
                raise DataError(path, f"scene entry {i}: scene_index must be an integer, got {idx!r}")
            for q in s["questions"]:
                qid = q["question_id"]
                if isinstance(qid, bool) or not isinstance(qid, int):
                    raise DataError(path, f"scene {idx}: question_id must be an integer, got {qid!r}")
                key = (idx, qid)
                if key in out:
                    raise DataError(path, f"scene {idx}: question {qid} is predicted twice")
                if "choices" in q:
                    answer = {}
                    for c in q["choices"]:
                        cid = c["choice_id"]
                        if isinstance(cid, bool) or not isinstance(cid, int) or cid in answer:
                            raise DataError(path, f"scene {idx} question {qid}: choice_id {cid!r} is not an integer "
                                                  "or is given twice")
                        answer[cid] = c["answer"]
                    out[key] = answer
                else:
                    out[key] = q["answer"]
        except (KeyError, TypeError) as e:
            raise DataError(path, f"scene entry {i}: malformed prediction entry (missing or wrong {e})") from None
    return out


def predictions_to_json(preds: Predictions) -> list[dict]:
    scenes: dict[int, list] = {}
    for (idx, qid), p in sorted(preds.items()):
        entry = ({"question_id": qid, "choices": [{"choice_id": c, "answer": a} for c, a in sorted(p.items())]}
                 if isinstance(p, dict) else {"question_id": qid, "answer": p})
        scenes.setdefault(idx, []).append(entry)
    return [{"scene_index": i, "questions": qs} for i, qs in scenes.items()]


def score_questions(truth: Iterable[SceneQuestions], preds: Predictions) -> pd.DataFrame:
    """One row per question: type, subtype, options and options right, whether it is right, and
    whether its prediction was missing."""
    rows, seen = [], set()
    for s in truth:
        for q in s.questions:
            if (s.scene_index, q.question_id) in seen:
                raise DataError(f"scene {s.scene_index}", f"question {q.question_id} appears twice")
            seen.add((s.scene_index, q.question_id))
            p = preds.get((s.scene_index, q.question_id))
            row = {"scene_index": s.scene_index, "question_id": q.question_id,
                   "question_type": q.question_type, "question_subtype": q.question_subtype,
                   "missing": p is None}
            if not q.is_multiple_choice:
                if q.answer is None:
                    raise DataError(f"scene {s.scene_index}",
                                    f"question {q.question_id} has no answer to score against")
                row.update(options=1, options_right=int(p == q.answer))
            else:
                p = p if isinstance(p, dict) else {}
                if not q.choices:
                    raise DataError(f"scene {s.scene_index}", f"question {q.question_id} has no choices to score")
                if any(c.answer is None for c in q.choices):
                    raise DataError(f"scene {s.scene_index}", f"question {q.question_id} has choices without answers")
                right = sum(p.get(c.choice_id) == c.answer for c in q.choices)
                row.update(options=len(q.choices), options_right=right)
            row["correct"] = row["options_right"] == row["options"]
            rows.append(row)
    df = pd.DataFrame(rows)
    if len(df) and df["missing"].any():
        logger.warning("%d of %d questions have no prediction; they count as wrong", df["missing"].sum(), len(df))
    return df


def binomial_ci(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (%) of a binomial proportion; (nan, nan) without trials."""
    if trials <= 0:
        return float("nan"), float("nan")
    ci = binomtest(int(successes), int(trials)).proportion_ci(level, method="wilson")
    return 100.0 * ci.low, 100.0 * ci.high


def ci_text(value: float, low: float, high: float, digits: int = 1) -> str:
    """`57.3 [54.1, 60.4]`: a figure with its interval, for Markdown tables."""
    if not np.isfinite(value):
        return "-"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def accuracy_table(per_question: pd.DataFrame) -> pd.DataFrame:
    """Rows: descriptive (and each subtype), explanatory, predictive, counterfactual, and the mean
    per-question accuracy over the four types. Columns: questions, options, per_option and
    per_question accuracy (%) each with its 95 % binomial (Wilson) interval (`*_lo`, `*_hi`; for
    the mean over types, the normal approximation of a mean of independent proportions), missing."""
    rows = []

    def add(name, g):
        options, right, correct = int(g["options"].sum()), int(g["options_right"].sum()), int(g["correct"].sum())
        rows.append({"type": name, "questions": len(g), "options": options,
                     "per_option": 100.0 * right / max(1, options),
                     "per_question": 100.0 * g["correct"].mean() if len(g) else float("nan"),
                     "missing": int(g["missing"].sum())})
        rows[-1]["per_option_lo"], rows[-1]["per_option_hi"] = binomial_ci(right, options)
        rows[-1]["per_question_lo"], rows[-1]["per_question_hi"] = binomial_ci(correct, len(g))

    df = per_question
    for t in QUESTION_TYPES:
        g = df[df["question_type"] == t] if len(df) else df
        if not len(g):
            continue
        add(t, g)
        if t == "descriptive":
            for sub, gs in g.groupby("question_subtype", sort=True):
                add(f"descriptive: {sub}", gs)
    table = pd.DataFrame(rows)
    types = table[table["type"].isin(QUESTION_TYPES)]
    if len(types):
        mean = float(types["per_question"].mean())
        p = types["per_question"].to_numpy() / 100.0
        half = 196.0 * float(np.sqrt((p * (1 - p) / types["questions"].to_numpy()).sum())) / len(types)
        rows.append({"type": "mean over types", "questions": int(types["questions"].sum()),
                     "options": int(types["options"].sum()), "per_option": float("nan"),
                     "per_question": mean, "missing": int(types["missing"].sum()),
                     "per_option_lo": float("nan"), "per_option_hi": float("nan"),
                     "per_question_lo": mean - half, "per_question_hi": mean + half})
    return pd.DataFrame(rows)


def accuracy_markdown(table: pd.DataFrame) -> str:
    """The accuracy table as Markdown, each accuracy followed by its 95 % interval in brackets."""
    show = table[["type", "questions", "options"]].copy()
    for col in ("per_option", "per_question"):
        show[f"{col} [95% CI]"] = [ci_text(r[col], r.get(f"{col}_lo", np.nan), r.get(f"{col}_hi", np.nan))
                                   for _, r in table.iterrows()]
    show["missing"] = table["missing"]
    return show.to_markdown(index=False)


def score(truth: Iterable[SceneQuestions], preds: Predictions) -> pd.DataFrame:
    """The accuracy table of predictions against questions with answers."""
    return accuracy_table(score_questions(truth, preds))
