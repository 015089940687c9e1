"""QA evaluation: predictions of every question of a split, gathered over processes, scored with
CLEVRER's metrics (`qa_data.programs.scoring`), written as Markdown/CSV tables and a submission JSON."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from torch.utils.data import DataLoader

from qa_data.clevrer.questions import MC_TYPES, SceneQuestions
from qa_data.programs.scoring import (
    Predictions,
    accuracy_markdown,
    accuracy_table,
    binomial_ci,
    predictions_to_json,
    score_questions,
)
from reasoning.aloe import Aloe
from reasoning.qa_dataset import QuestionSet, collate
from reasoning.tokenizer import QuestionTokenizer

# The one-row summary in the layout of the ODDN paper's Tables 1-2.
SUMMARY_COLUMNS = [("descriptive", "per_question", "Descriptive"),
                   ("explanatory", "per_option", "Explanatory per opt."),
                   ("explanatory", "per_question", "Explanatory per ques."),
                   ("predictive", "per_option", "Predictive per opt."),
                   ("predictive", "per_question", "Predictive per ques."),
                   ("counterfactual", "per_option", "Counterfactual per opt."),
                   ("counterfactual", "per_question", "Counterfactual per ques.")]


@torch.no_grad()
def predict(model: Aloe, dataset: QuestionSet, accelerator: Accelerator, batch_size: int) -> Predictions:
    """Answers of every question of `dataset`, gathered on every process. Descriptive: the arg-max of
    the 21 answers; a choice is `correct` when its logit is >= 0 (ALOE).

    The questions are cut into fixed batches of consecutive questions, dealt round-robin to the
    processes: a question is always computed in the same batch, so the answers do not depend on
    the number of processes (batch composition changes the floating-point sums)."""
    was_training = model.training
    model.eval()
    batches = [list(range(i, min(i + batch_size, len(dataset)))) for i in range(0, len(dataset), batch_size)]
    mine = batches[accelerator.process_index::accelerator.num_processes]
    local: Predictions = {}
    for passes in DataLoader(dataset, batch_sampler=mine, collate_fn=collate):
        passes = passes.to(accelerator.device)
        with accelerator.autocast():
            out = model(passes.slots, passes.text, passes.segment, passes.presence)
        answers = (out.answer_logits[:, 1:].float().argmax(-1) + 1).tolist()  # never the padding class
        correct = (out.choice_logits.float() >= 0).tolist()
        for j, (scene, qid, cid) in enumerate(passes.keys):
            if cid is None:
                local[(scene, qid)] = QuestionTokenizer.answer_text(answers[j])
            else:
                local.setdefault((scene, qid), {})[cid] = "correct" if correct[j] else "wrong"
    merged: Predictions = {}
    for part in (gather_object([local]) if accelerator.num_processes > 1 else [local]):
        overlap = merged.keys() & part.keys()
        if overlap:
            raise RuntimeError(f"questions predicted twice across processes: {sorted(overlap)[:3]}")
        merged.update(part)
    model.train(was_training)
    return merged


def accuracy_tables(scenes: list[SceneQuestions], preds: Predictions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per question rows, accuracy table with a row per type and per subtype)."""
    per_question = score_questions(scenes, preds)
    table = accuracy_table(per_question)
    extra = []
    for t in MC_TYPES:  # subtypes of the multiple-choice types, when the questions carry them
        g = per_question[(per_question.question_type == t) & per_question.question_subtype.notna()]
        for sub, gs in g.groupby("question_subtype", sort=True):
            extra.append({"type": f"{t}: {sub}", "questions": len(gs), "options": int(gs.options.sum()),
                          "per_option": 100.0 * gs.options_right.sum() / max(1, gs.options.sum()),
                          "per_question": 100.0 * gs.correct.mean(), "missing": int(gs.missing.sum())})
            extra[-1]["per_option_lo"], extra[-1]["per_option_hi"] = binomial_ci(gs.options_right.sum(),
                                                                                gs.options.sum())
            extra[-1]["per_question_lo"], extra[-1]["per_question_hi"] = binomial_ci(gs.correct.sum(), len(gs))
    if extra:
        table = pd.concat([table, pd.DataFrame(extra)], ignore_index=True)
    return per_question, table


def summary_row(table: pd.DataFrame) -> dict:
    """Per-type accuracies (%) in the ODDN Table 1-2 columns."""
    by_type = table.set_index("type")
    return {name: float(by_type.loc[t, metric]) if t in by_type.index else float("nan")
            for t, metric, name in SUMMARY_COLUMNS}


def has_answers(scenes: list[SceneQuestions]) -> bool:
    return all((q.answer is not None) if not q.is_multiple_choice else all(c.answer is not None for c in q.choices)
               for s in scenes for q in s.questions)


def write_eval(out: Path, scenes: list[SceneQuestions], preds: Predictions, title: str) -> pd.DataFrame | None:
    """Writes `predictions.json` (CLEVRER's test-submission layout) and, when the split has answers,
    `accuracy.md/.csv`, `summary.csv` and `per_question.csv`; returns the accuracy table."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictions.json").write_text(json.dumps(predictions_to_json(preds)))
    if not has_answers(scenes):
        return None
    per_question, table = accuracy_tables(scenes, preds)
    per_question.to_csv(out / "per_question.csv", index=False)
    table.to_csv(out / "accuracy.csv", index=False)
    pd.DataFrame([summary_row(table)]).to_csv(out / "summary.csv", index=False)
    (out / "accuracy.md").write_text(f"# {title}\n\nAccuracy (%): descriptive exact match; multiple choice per "
                                     "option and per question (every choice right); in brackets the 95 % binomial "
                                     "(Wilson) interval.\n\n" + accuracy_markdown(table) + "\n")
    return table


def seed_cell(mean: float, std: float, seeds: int) -> str:
    """A table cell of an accuracy over seeds: "m ± s", or the value alone when there is one seed (no spread)."""
    return f"{mean:.1f}" if seeds < 2 else f"{mean:.1f} ± {std:.1f}"
