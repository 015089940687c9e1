"""Which candidate questions a video gets: per-video quotas for CLEVRER's type and subtype
proportions, answers balanced within each descriptive subtype, templates spread, and choices
drawn so that correct and wrong ones are balanced.

Videos are taken one at a time in index order (so generation streams over any dataset size):
each slot goes to the candidate whose answer, then template, has been used least so far in the
split; a quota a video cannot fill is carried to the next videos.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from qa_data.clevrer.questions import MC_TYPES, Choice, Question
from qa_data.clevrer.vocab import out_of_vocabulary, tokenize
from qa_data.qgen.config import QuestionConfig
from qa_data.qgen.templates import Candidate

CARRY_CAP = 3.0  # a slot quota never grows past this many times its per-video expectation


class TemplateError(ValueError):
    """A template produced text outside CLEVRER's vocabulary (a bug in the templates)."""


def _check_vocab(text: str) -> None:
    bad = out_of_vocabulary(text)
    if bad:
        raise TemplateError(f"{text!r}: tokens outside the CLEVRER vocabulary {bad}")


class Sampler:
    """Selection state of one split."""

    def __init__(self, cfg: QuestionConfig, rng: np.random.Generator):
        self.cfg, self.rng = cfg, rng
        qpv = cfg.questions_per_video
        t, s = cfg.types, cfg.subtypes
        self.expected = {f"descriptive/{k}": qpv * t.descriptive * v for k, v in vars(s).items()}
        self.expected.update({k: qpv * getattr(t, k) for k in MC_TYPES})
        self.owed: dict[str, float] = {k: 0.0 for k in self.expected}
        self.answers: dict[str, Counter] = {}  # slot -> answer counts (descriptive)
        self.templates = Counter()
        self.choice_labels = Counter()  # (type, negated, kind, label) -> choices drawn

    # -------------------------------------------------------------- helpers
    def _quota(self, slot: str) -> tuple[int, float]:
        """Questions this video should get in a slot (stochastically rounded), and the exact target."""
        x = min(self.expected[slot] + self.owed[slot], CARRY_CAP * self.expected[slot])
        return int(x + self.rng.random()), x

    def _fits(self, c: Candidate) -> bool:
        return len(tokenize(c.question)) <= self.cfg.max_question_tokens

    def _choices(self, c: Candidate) -> list[Choice] | None:
        """Draws the choices of a multiple-choice candidate, or None if it cannot have enough."""
        cfg = self.cfg
        pool = [ch for ch in c.choices if len(tokenize(ch.text)) <= cfg.max_choice_tokens]
        right = [ch for ch in pool if ch.holds != c.negated]
        wrong = [ch for ch in pool if ch.holds == c.negated]
        if c.question_type == "predictive":  # always 2 choices, exactly 1 correct
            if not right or not wrong:
                return None
            picked = [(right[self.rng.integers(len(right))], "correct"),
                      (wrong[self.rng.integers(len(wrong))], "wrong")]
        else:
            n = min(cfg.max_choices, len(pool))
            if n < cfg.min_choices or len(right) < c.min_correct:
                return None
            picked = self._draw_choices(c, right, wrong, n)
        order = self.rng.permutation(len(picked))
        return [Choice(j, picked[i][0].text, list(picked[i][0].program), picked[i][1]) for j, i in enumerate(order)]

    def _share(self, key: tuple) -> float:
        seen = self.choice_labels[key + ("correct",)] + self.choice_labels[key + ("wrong",)]
        return self.choice_labels[key + ("correct",)] / seen if seen else self.cfg.correct_prob

    def _draw_choices(self, c: Candidate, right: list, wrong: list, n: int) -> list[tuple]:
        """n choices, one at a time: a label that steers the type's running share of correct
        choices towards correct_prob, then a kind (presence, collision, enter) that needs that
        label most, so that no phrasing gives its label away where the videos allow."""
        cfg = self.cfg
        pools = {"correct": list(right), "wrong": list(wrong)}
        picked: list[tuple] = []
        for slot in range(n):
            short = c.min_correct - sum(lab == "correct" for _, lab in picked)
            p = float(np.clip(2 * cfg.correct_prob - self._share((c.question_type, c.negated)), 0.05, 0.95))
            lab = "correct" if self.rng.random() < p else "wrong"
            if short >= n - slot or not pools["wrong"]:
                lab = "correct"
            elif not pools["correct"]:
                lab = "wrong"
            kinds = sorted({ch.kind for ch in pools[lab]})
            sign = 1 if lab == "correct" else -1
            need = [(self._share((c.question_type, c.negated, k)) * sign, self.rng.random(), k) for k in kinds]
            kind = min(need)[2]
            items = [i for i, ch in enumerate(pools[lab]) if ch.kind == kind]
            picked.append((pools[lab].pop(items[self.rng.integers(len(items))]), lab))
            self.choice_labels.update([(c.question_type, c.negated, lab), (c.question_type, c.negated, kind, lab)])
        return picked

    # -------------------------------------------------------------- per video
    def select(self, candidates: list[Candidate]) -> list[Question]:
        """The questions of one video, descriptive first, with question ids from 0."""
        for c in candidates:
            _check_vocab(c.question)
            for ch in c.choices:
                _check_vocab(ch.text)
        chosen: list[tuple[Candidate, list[Choice] | None]] = []
        desc_slots = [k for k in self.expected if k.startswith("descriptive/")]
        for slot in desc_slots + list(MC_TYPES):
            want, target = self._quota(slot)
            got = self._fill(slot, want, [c for c in candidates if self._slot(c) == slot and self._fits(c)], chosen)
            self.owed[slot] = target - got
        questions = []
        for qid, (c, choices) in enumerate(chosen):
            questions.append(Question(qid, c.question, c.question_type, c.subtype, list(c.program),
                                      c.answer, choices or []))
        return questions

    @staticmethod
    def _slot(c: Candidate) -> str:
        return f"descriptive/{c.subtype}" if c.question_type == "descriptive" else c.question_type

    def _fill(self, slot: str, want: int, pool: list[Candidate], chosen: list) -> int:
        """Adds up to `want` questions of one slot to `chosen`; returns how many."""
        answers = self.answers.setdefault(slot, Counter())
        used_groups: set = set()
        asked: set = set()  # (question, choices as a set): the same question is not asked twice in a video
        got = 0
        remaining = list(pool)
        while got < want and remaining:
            noise = self.rng.random(len(remaining))
            # least-used answer first (descriptive), then least-used template, then random
            keys = [(answers[c.answer] if c.answer is not None else 0, self.templates[c.template], noise[i])
                    for i, c in enumerate(remaining)]
            i = min(range(len(remaining)), key=keys.__getitem__)
            c = remaining.pop(i)
            group = c.key  # one question per target
            if group in used_groups:
                continue
            choices = None
            if c.question_type != "descriptive":
                choices = self._choices(c)
                if choices is None:
                    continue
                same = (c.question, frozenset(ch.choice for ch in choices))
                if same in asked:  # e.g. a tail collision's second predictive question drew the same wrong choice
                    continue
                asked.add(same)
            else:
                answers[c.answer] += 1
            used_groups.add(group)
            self.templates[c.template] += 1
            chosen.append((c, choices))
            got += 1
        return got
