"""Question items over a slot cache, and their collation into ALOE passes.

One item per question. A batch becomes one pass per descriptive question and one pass per choice of
a multiple-choice question (question and choice concatenated, the video's slots repeated), with
the map from passes back to questions.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from qa_data.clevrer.questions import QUESTION_TYPES, SceneQuestions
from qa_data.errors import DataError, SkipReport
from qa_data.slots.slot_cache import SlotFrames
from reasoning.tokenizer import QuestionTokenizer

logger = logging.getLogger(__name__)
TYPE_ID = {t: i for i, t in enumerate(QUESTION_TYPES)}


class QuestionSet(Dataset):
    """Items `{"slots" [F, K, D], "presence" [F, K] bool, "frame_index" [F] and "predicted" [F] bool (absent when
    blind), "scene_index", "question_id", "type",
    "question" [Lq], "choices" [n, Lc], "choice_ids" [n], "answer" (descriptive id, -1 unknown), "labels" [n]
    (1 correct, 0 wrong, -1 unknown)}`. Questions whose video has no slots are counted skips. A predictive
    question's frames are shifted into the cache's predicted frames, if it has any (`SlotSampling.future_shift`);
    every other type sees observed frames only."""

    def __init__(self, scenes: list[SceneQuestions], tokenizer: QuestionTokenizer, slots: SlotFrames | None,
                 source: str = "<questions>", mentions: dict | None = None, mentioned_first: bool = False,
                 selections: dict | None = None, collision_pairs: dict | None = None,
                 collision_frames: dict | None = None):
        self.slots = slots
        self.skipped = SkipReport()
        self.items = []
        available = set(slots.videos) if slots is not None else None
        for s in scenes:
            if available is not None and s.scene_index not in available:
                reason = (slots.skipped.get(s.scene_index, ("absent", "not in the cache"))[1] or "not extracted")
                self.skipped.add(DataError(source, f"scene {s.scene_index}: {len(s.questions)} questions skipped, "
                                                   f"its video has no slots ({reason})"))
                continue
            for q in s.questions:
                item = self._encode(s.scene_index, q, tokenizer)
                if mentions is not None:  # the objects each choice names (reasoning.mention_oracle)
                    item["mentions"] = [mentions.get((s.scene_index, q.question_id, c), ()) for c in item["choice_ids"]]
                    item["mentioned_first"] = mentioned_first
                if selections is not None and not q.is_multiple_choice:  # reasoning.mention_oracle
                    item["selected"] = selections.get((s.scene_index, q.question_id))  # None: unknown
                if collision_pairs is not None and not q.is_multiple_choice:  # reasoning.mention_oracle
                    item["collision_pairs"] = collision_pairs.get((s.scene_index, q.question_id))  # None: unknown
                if collision_frames is not None and not q.is_multiple_choice:  # reasoning.mention_oracle
                    item["collision_frames"] = collision_frames.get(s.scene_index)  # None: unknown
                self.items.append(item)
        if self.skipped:
            logger.warning("%s: %s", source, self.skipped.summary())

    @staticmethod
    def _encode(scene: int, q, tok: QuestionTokenizer) -> dict:
        item = {"scene_index": scene, "question_id": q.question_id, "type": TYPE_ID[q.question_type],
                "question": torch.tensor(tok.question(q.question))}
        if q.is_multiple_choice:
            item["choices"] = torch.tensor([tok.choice(c.choice) for c in q.choices]).view(-1, tok.cfg.choice_len)
            item["choice_ids"] = [c.choice_id for c in q.choices]
            item["labels"] = torch.tensor([-1 if c.answer is None else int(c.answer == "correct") for c in q.choices])
            item["answer"] = -1
        else:
            item["choices"] = torch.zeros(0, tok.cfg.choice_len, dtype=torch.long)
            item["choice_ids"] = []
            item["labels"] = torch.zeros(0, dtype=torch.long)
            item["answer"] = -1 if q.answer is None else tok.answer(q.answer)
        return item

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        item = dict(self.items[i])
        if self.slots is not None:
            # predictive questions look into the predicted frames when the cache has them
            video = self.slots.sample(item["scene_index"], future=item["type"] == TYPE_ID["predictive"])
            item["slots"], item["presence"] = video["slots"], video["presence"]  # [F, K, D], [F, K]
            item["frame_index"], item["predicted"] = video["frame_index"], video["predicted"]  # [F], [F]
        return item


@dataclass
class Passes:
    """A batch as model passes: N = descriptive questions + choices of multiple-choice questions."""

    slots: torch.Tensor | None  # [N, F, K, D]
    presence: torch.Tensor | None  # [N, F, K] bool
    text: torch.Tensor  # [N, Lq + Lc]
    segment: torch.Tensor  # [N, Lq + Lc]: 0 question of a multiple-choice pass, 1 otherwise
    is_choice: torch.Tensor  # [N] bool
    answer: torch.Tensor  # [N] descriptive answer id (-1: none or unknown)
    label: torch.Tensor  # [N] choice label 1/0 (-1: none or unknown)
    question: torch.Tensor  # [N] index of the pass's question in the batch
    qtype: torch.Tensor  # [N] question type id (QUESTION_TYPES order)
    keys: list  # per pass: (scene_index, question_id, choice_id or None)
    # [N, K] 1 where the pass's choice names the slot's object (descriptive: the question selects it), NaN: unknown
    mention: torch.Tensor | None = None
    # [N, P] (P = K(K-1)/2 slot pairs a < b, row-major) 1 where a descriptive question rests on the pair's collision,
    # NaN: unknown (every multiple-choice pass)
    collision: torch.Tensor | None = None
    # [N, P] the window frame of the pair's collision (a descriptive pass over a video whose collisions are known),
    # -1: no collision in the window, or unknown
    when: torch.Tensor | None = None

    def to(self, device) -> "Passes":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Passes(move(self.slots), move(self.presence), move(self.text), move(self.segment), move(self.is_choice),
                      move(self.answer), move(self.label), move(self.question), move(self.qtype), self.keys,
                      move(self.mention), move(self.collision), move(self.when))


def _collision_window_frames(item: dict) -> dict[tuple[int, int], int]:
    """{(slot a, slot b): window frame} for the item's annotated collisions (`collision_frames`) that fall in its
    window: the observed window frame nearest the collision, within one frame spacing, where both slots are
    present."""
    frames = item["frame_index"].long()  # [F] video frame of each window frame
    observed = ~item["predicted"]  # [F]
    present = _presence(item)  # [F, K]
    spacing = int((frames[1:] - frames[:-1]).abs().max()) if len(frames) > 1 else 1
    out = {}
    for a, b, frame in item["collision_frames"]:
        gap = (frames - frame).abs().masked_fill(~observed, torch.iinfo(torch.long).max)  # [F]
        t = int(gap.argmin())
        if int(gap[t]) <= spacing and bool(present[t, a] & present[t, b]):
            out[(a, b)] = t
    return out


def _pair_columns(k: int) -> dict[tuple[int, int], int]:
    """(slot a, slot b), a < b -> its column among the K(K-1)/2 slot pairs (row-major, as the model's pair tokens)."""
    first, second = torch.triu_indices(k, k, 1).tolist()
    return {(a, b): i for i, (a, b) in enumerate(zip(first, second))}


def _presence(item: dict) -> torch.Tensor:
    """[F, K] bool; every slot present when the item does not say."""
    if "presence" in item:
        return item["presence"]
    return torch.ones(item["slots"].shape[:2], dtype=torch.bool)


def _mentioned_first(slots: torch.Tensor, presence: torch.Tensor, mentioned: tuple[int, ...]
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """slots [F, K, D], presence [F, K] with the mentioned slots moved to the front, the others after in order."""
    k = slots.shape[1]
    order = list(mentioned) + [j for j in range(k) if j not in mentioned]
    return slots[:, order], presence[:, order]


def collate(items: list[dict]) -> Passes:
    slots, presence, text, segment, is_choice, answer, label, question, qtype, keys = ([] for _ in range(10))
    named = []  # per pass: slot indices its choice names, None where unknown
    collided = []  # per pass: the slot pairs its descriptive question's collisions are between, None where unknown
    timed = []  # per pass: the window frame of each colliding slot pair {(a, b): frame}, None where unknown
    for qi, it in enumerate(items):
        q = it["question"]  # [Lq]
        lc = it["choices"].shape[1]
        if len(it["choice_ids"]) == 0:  # descriptive: question + an empty choice, all segment 1 (ALOE)
            text.append(torch.cat([q, q.new_zeros(lc)]))
            segment.append(torch.ones(len(q) + lc, dtype=torch.long))
            is_choice.append(False)
            answer.append(it["answer"])
            label.append(-1)
            question.append(qi)
            qtype.append(it["type"])
            keys.append((it["scene_index"], it["question_id"], None))
            named.append(None if it.get("selected") is None else tuple(it["selected"]))  # () names no object
            collided.append(it.get("collision_pairs"))
            if "slots" in it:
                slots.append(it["slots"])
                presence.append(_presence(it))
            timed.append(None if it.get("collision_frames") is None or "slots" not in it
                         else _collision_window_frames(it))
            continue
        for i, (c, cid, lab) in enumerate(zip(it["choices"], it["choice_ids"], it["labels"].tolist())):
            text.append(torch.cat([q, c]))
            segment.append(torch.cat([torch.zeros(len(q), dtype=torch.long), torch.ones(lc, dtype=torch.long)]))
            is_choice.append(True)
            answer.append(-1)
            label.append(lab)
            question.append(qi)
            qtype.append(it["type"])
            keys.append((it["scene_index"], it["question_id"], cid))
            these = tuple(it["mentions"][i]) if "mentions" in it else None
            if "slots" in it:
                x, m = it["slots"], _presence(it)
                if these and it.get("mentioned_first"):
                    x, m = _mentioned_first(x, m, these)
                    these = tuple(range(len(these)))
                slots.append(x)
                presence.append(m)
            named.append(these if these else None)
            collided.append(None)
            timed.append(None)
    mention = collision = when = None
    if slots and any(n is not None for n in named):
        mention = torch.full((len(named), slots[0].shape[1]), float("nan"))  # [N, K]
        for j, n in enumerate(named):
            if n is not None:
                mention[j] = 0.0
                mention[j, list(n)] = 1.0
    if slots and any(c is not None for c in collided):
        pair = _pair_columns(slots[0].shape[1])
        collision = torch.full((len(collided), len(pair)), float("nan"))  # [N, P]
        for j, c in enumerate(collided):
            if c is not None:
                collision[j] = 0.0
                collision[j, [pair[ab] for ab in c]] = 1.0
    if slots and any(t is not None for t in timed):
        pair = _pair_columns(slots[0].shape[1])
        when = torch.full((len(timed), len(pair)), -1, dtype=torch.long)  # [N, P]
        for j, t in enumerate(timed):
            for ab, f in (t or {}).items():
                when[j, pair[ab]] = f
    return Passes(mention=mention, collision=collision, when=when, slots=torch.stack(slots) if slots else None,
                  presence=torch.stack(presence) if presence else None,
                  text=torch.stack(text), segment=torch.stack(segment),
                  is_choice=torch.tensor(is_choice), answer=torch.tensor(answer), label=torch.tensor(label),
                  question=torch.tensor(question), qtype=torch.tensor(qtype, dtype=torch.long), keys=keys)
