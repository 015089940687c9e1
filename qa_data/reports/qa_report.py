"""The question report of a dataset: statistics, and the baseline accuracy tables (blind
majority, executor oracle, the straight-line reference on predictive questions) on validation and test, as
Markdown and CSV."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qa_data.clevrer.annotations import load_annotation
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.questions import SceneQuestions, load_questions
from qa_data.programs.baselines import MajorityBaseline, oracle_predictions
from qa_data.programs.events import load_scene_facts
from qa_data.programs.extrapolation import extrapolation_predictions
from qa_data.programs.scoring import ci_text, score
from qa_data.reports.question_stats import answer_table, choice_table, question_rows, stats_markdown, type_table


def load_split_with_answers(layout: ClevrerLayout, split: str) -> list[SceneQuestions]:
    """Questions with programs and answers: the split's file, or for test our answer key."""
    key = layout.answer_key_path(split)
    return load_questions(key if key.is_file() else layout.questions_path(split))


@dataclass
class QuestionReportTables:
    types: pd.DataFrame
    choices: pd.DataFrame
    answers: pd.DataFrame
    baselines: pd.DataFrame  # long: split, method, type, questions, options, per_option, per_question


EXTRAPOLATION = "straight-line extrapolation"  # predictive only, from ground-truth states (reference row)


def baseline_table(layout: ClevrerLayout, eval_splits=("validation", "test")) -> pd.DataFrame:
    """Long table (split, method, type, accuracies) of the reference rows: the blind majority, the executor oracle
    and, for predictive questions, the straight-line extrapolation of the ground-truth states."""
    train = load_split_with_answers(layout, "train")
    blind = MajorityBaseline.fit(train)
    frames = []
    for split in eval_splits:
        scenes = load_split_with_answers(layout, split)
        facts_of = lambda i, s=split: load_scene_facts(layout, s, i)  # noqa: E731
        for method, preds in (
                ("blind majority", blind.predict(scenes)),
                ("executor oracle", oracle_predictions(scenes, facts_of))):
            t = score(scenes, preds)
            t.insert(0, "method", method)
            t.insert(0, "split", split)
            frames.append(t)
        predictive = [SceneQuestions(s.scene_index, s.video_filename,
                                     [q for q in s.questions if q.question_type == "predictive"]) for s in scenes]
        preds = extrapolation_predictions(predictive, lambda i, s=split: load_annotation(layout.annotation_path(s, i)),
                                          facts_of)
        t = score(predictive, preds)
        t = t[t["type"] == "predictive"]  # it answers no other type
        t.insert(0, "method", EXTRAPOLATION)
        t.insert(0, "split", split)
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def wide_accuracy(long: pd.DataFrame, split: str) -> pd.DataFrame:
    """Rows: question types; columns: each method's per-option / per-question accuracy (%) with its
    95 % binomial interval."""
    d = long[long["split"] == split]
    out = None
    for method, g in d.groupby("method", sort=False):
        g = g.set_index("type")
        g = pd.DataFrame({f"{method} {c.replace('_', '-')} [95% CI]": [ci_text(r[c], r[f"{c}_lo"], r[f"{c}_hi"])
                                                                       for _, r in g.iterrows()]
                          for c in ("per_option", "per_question")}, index=g.index)
        out = g if out is None else out.join(g)
    counts = d.drop_duplicates("type").set_index("type")[["questions"]]
    return counts.join(out).fillna("-").reset_index()  # "-": a method that answers no question of the type


def write_question_report(data_root: str | Path, out_dir: str | Path) -> QuestionReportTables:
    layout, out = ClevrerLayout(data_root), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = {s: load_split_with_answers(layout, s) for s in ("train", "validation", "test")
              if layout.questions_path(s).is_file()}
    rows = question_rows(splits)
    tables = QuestionReportTables(type_table(rows), choice_table(rows), answer_table(rows), baseline_table(layout))
    tables.types.to_csv(out / "question_types.csv", index=False)
    tables.choices.to_csv(out / "question_choices.csv", index=False)
    tables.answers.to_csv(out / "question_answers.csv", index=False)
    (out / "question_stats.md").write_text("# CLEVRER-sim question statistics\n\n" + stats_markdown(rows))
    tables.baselines.to_csv(out / "baselines.csv", index=False)
    md = ["# Baselines\n",
          "Blind majority: most frequent training answer per descriptive subtype, most frequent label per "
          "(question template, choice template) for choices; the floor every model must beat. Executor "
          "oracle: the program executor on ground truth; it must score 100%. Straight-line extrapolation (predictive "
          "only): each object moves on in a straight line from its ground-truth location and velocity at the last "
          "frame, and the choice whose two objects come closest is taken (qa_data/programs/extrapolation.py); what "
          "a model could learn from the states.\n"]
    for split in tables.baselines["split"].unique():
        md += [f"## {split}\n", wide_accuracy(tables.baselines, split).to_markdown(index=False), ""]
    (out / "baselines.md").write_text("\n".join(md) + "\n")
    return tables
