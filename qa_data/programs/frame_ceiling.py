"""How much a model that sees only some frames can know: the program executor run on facts
computed from those frames alone, scored against the true answers.

From the sampled frames `start + stride * i` (i < F) of the 128 annotated ones:
- visibility and speed are read at the sampled frames only, so an object seen only between
  samples does not exist, and motion is judged at the sampled frame where an event is seen;
- enter and exit events come from visibility changes between consecutive samples;
- a collision (of two objects that exist) is seen at the first sampled frame at or after it, so
  events between the same two samples tie and their order is lost (the executor keeps the
  annotation's order among ties: an optimistic choice); held-out tail and counterfactual events
  keep their order after the last sample.
Collisions are assumed detected whenever they happen, so the figure is an upper bound of what
the sampling allows, not of any particular model.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from qa_data.clevrer.annotations import view_events_from_mask
from qa_data.clevrer.questions import SceneQuestions
from qa_data.programs.events import Event, SceneFacts
from qa_data.programs.executor import Executor, ProgramError
from qa_data.programs.scoring import Predictions, score

SOURCE_FRAMES = 128


def sample_frames(num_frames: int, start: int = 0, total: int = SOURCE_FRAMES) -> np.ndarray:
    """ALOE's sampling (`qa_data.slots.slot_cache.SlotSampling`): stride total // num_frames from `start`."""
    stride = total // num_frames
    return start + stride * np.arange(num_frames)


def sampled_facts(facts: SceneFacts, frames: np.ndarray) -> SceneFacts:
    """The facts as seen from `frames` (sorted source-frame indices) only; frames are renumbered 0..F-1."""
    frames = np.asarray(frames)
    n = len(frames)

    def seen_at(frame: int) -> int:
        """Index of the first sampled frame at or after a source frame; past the last: after it."""
        if frame >= facts.num_frames:
            return n + (frame - facts.num_frames)  # held-out tail: after the video, in order
        return int(min(np.searchsorted(frames, frame, side="left"), n - 1))

    visible = facts.visible[frames]  # [F, N]
    ids = sorted(facts.column, key=facts.column.get)
    objects = [o for o in facts.objects if visible[:, facts.column[o]].any()]
    exists = set(objects)
    events = [Event(e.kind, (e.object_id,), e.frame_id) for e in view_events_from_mask(visible, ids)
              if e.object_id in exists]
    events += [Event(e.kind, e.objects, seen_at(e.frame)) for e in facts.events
               if e.kind == "collision" and set(e.objects) <= exists]
    ordered = sorted(events, key=lambda e: e.frame)  # stable: ties keep the annotation's order
    counterfactual = None
    if facts.counterfactual is not None:
        counterfactual = {k: [Event(e.kind, e.objects, n - 1 if e.frame < facts.num_frames else seen_at(e.frame))
                              for e in v] for k, v in facts.counterfactual.items()}
    return replace(facts, objects=objects,
                   events=[Event("start", (), 0)] + ordered + [Event("end", (), n - 1)],
                   unseen=[Event(e.kind, e.objects, seen_at(e.frame)) for e in facts.unseen],
                   counterfactual=counterfactual, speed=facts.speed[frames], visible=visible, num_frames=n)


def ceiling_predictions(scenes: list[SceneQuestions], facts_of, frames: np.ndarray) -> Predictions:
    """The executor's answers from the sampled facts; a program that cannot run there (its object
    or event is not seen) is answered wrong (descriptive: no answer; choices: the wrong label)."""
    out: Predictions = {}
    for s in scenes:
        ex = Executor(sampled_facts(facts_of(s.scene_index), frames))
        for q in s.questions:
            key = (s.scene_index, q.question_id)
            try:
                a = ex.answer(q)
            except ProgramError:
                a = None
            if q.is_multiple_choice:
                a = a or ["wrong" if c.answer == "correct" else "correct" for c in q.choices]
                out[key] = {c.choice_id: r for c, r in zip(q.choices, a)}
            else:
                out[key] = a if a is not None else "<unknown>"
    return out


def frame_ceiling_table(scenes: list[SceneQuestions], facts_of, frame_counts: list[int]) -> pd.DataFrame:
    """One row per number of sampled frames (from frame 0): the executor's per-question accuracy (%)
    of each question type (per option too for the multiple-choice types)."""
    rows = []
    for f in frame_counts:
        table = score(scenes, ceiling_predictions(scenes, facts_of, sample_frames(f))).set_index("type")
        row = {"frames": f, "stride": SOURCE_FRAMES // f}
        for t in ("descriptive", "explanatory", "predictive", "counterfactual"):
            if t in table.index:
                if t != "descriptive":
                    row[f"{t} per opt."] = table.loc[t, "per_option"]
                row[f"{t} per ques."] = table.loc[t, "per_question"]
        rows.append(row)
    return pd.DataFrame(rows)
