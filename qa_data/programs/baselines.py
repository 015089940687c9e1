"""Reference rows for every accuracy table: the blind majority baseline (the floor a model must
beat) and the program executor on ground truth (the ceiling, a self-check: it must score 100%).

The blind baseline sees question text only. Descriptive: the most frequent training answer of the
question's subtype. Multiple choice: the most frequent training label of the choice's template
within its question's template (templates are the texts with object descriptions abstracted),
falling back to the most frequent label of the question type.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

from qa_data.clevrer.annotations import COLORS, MATERIALS, SHAPES
from qa_data.clevrer.questions import SceneQuestions
from qa_data.clevrer.vocab import tokenize
from qa_data.programs.events import SceneFacts
from qa_data.programs.executor import Executor
from qa_data.programs.scoring import Predictions

_ADJ = "|".join(COLORS + MATERIALS)
_NOUN = "|".join(SHAPES + ("object",))
_PLURAL = "|".join(s + "s" for s in SHAPES + ("object",))
_OBJ = re.compile(rf"\b(?:(?:{_ADJ}) )*(?:{_NOUN})('s|,)?(?= |$)")
_OBJS = re.compile(rf"\b(?:(?:{_ADJ}) )*(?:{_PLURAL})(?= |$)")


def text_template(text: str) -> str:
    """'Which event will happen if the red cube is removed?' -> 'which event will happen if the
    <obj> is removed' (plural sets become <objs>)."""
    t = " ".join(tokenize(text))
    t = _OBJS.sub("<objs>", t)
    return _OBJ.sub(lambda m: "<obj>" + (m.group(1) or ""), t)


@dataclass
class MajorityBaseline:
    """Fitted on training questions; predicts without looking at videos."""

    by_subtype: dict[str, str] = field(default_factory=dict)
    by_template: dict[tuple[str, str], str] = field(default_factory=dict)
    by_type: dict[str, str] = field(default_factory=dict)
    fallback_answer: str = "0"

    @classmethod
    def fit(cls, scenes: Iterable[SceneQuestions]) -> "MajorityBaseline":
        sub, tmpl, typ, every = defaultdict(Counter), defaultdict(Counter), defaultdict(Counter), Counter()
        for s in scenes:
            for q in s.questions:
                if not q.is_multiple_choice:
                    sub[q.question_subtype][q.answer] += 1
                    every[q.answer] += 1
                    continue
                qt = text_template(q.question)
                for c in q.choices:
                    tmpl[(qt, text_template(c.choice))][c.answer] += 1
                    typ[q.question_type][c.answer] += 1

        def top(counter: Counter) -> str:  # ties: alphabetical, for determinism
            return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        return cls({k: top(v) for k, v in sub.items()}, {k: top(v) for k, v in tmpl.items()},
                   {k: top(v) for k, v in typ.items()}, top(every) if every else "0")

    def predict(self, scenes: Iterable[SceneQuestions]) -> Predictions:
        out: Predictions = {}
        for s in scenes:
            for q in s.questions:
                key = (s.scene_index, q.question_id)
                if not q.is_multiple_choice:
                    out[key] = self.by_subtype.get(q.question_subtype, self.fallback_answer)
                    continue
                qt = text_template(q.question)
                out[key] = {c.choice_id: self.by_template.get((qt, text_template(c.choice)),
                                                              self.by_type.get(q.question_type, "wrong"))
                            for c in q.choices}
        return out


def oracle_predictions(scenes: Iterable[SceneQuestions], facts_of: Callable[[int], SceneFacts]) -> Predictions:
    """The executor's answers on ground-truth facts (needs programs: train/validation files or the
    test answer key)."""
    out: Predictions = {}
    for s in scenes:
        ex = Executor(facts_of(s.scene_index))
        for q in s.questions:
            a = ex.answer(q, f"scene {s.scene_index} ")
            out[(s.scene_index, q.question_id)] = (
                {c.choice_id: r for c, r in zip(q.choices, a)} if q.is_multiple_choice else a)
    return out
