"""The straight-line reference for predictive questions: what a QA model could reach from the states alone.

Each object moves on from its ground-truth location and velocity at the video's last annotated frame in a
straight line; of a predictive question's two choices ("The X and the Y collide"), the pair whose paths come
closest within `horizon_s` seconds is answered "correct" and the other "wrong". It reads ground-truth
positions and velocities, so it is a reference row (like the executor oracle), not a model: it shows how much
of the predictive type a learner with the states can answer without any knowledge of the physics.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from qa_data.clevrer.annotations import Annotation
from qa_data.clevrer.questions import SceneQuestions
from qa_data.programs.events import Event, SceneFacts
from qa_data.programs.executor import Executor
from qa_data.programs.scoring import Predictions

HORIZON_S = 2.0  # CLEVRER-sim holds out 1.88 s after the rendered 5.12 s; real CLEVRER asks about the next ~2 s


def closest_approach(p_a: np.ndarray, v_a: np.ndarray, p_b: np.ndarray, v_b: np.ndarray, horizon: float) -> float:
    """Smallest ground-plane distance between a + v_a t and b + v_b t over t in [0, horizon]."""
    dp, dv = (np.asarray(p_a) - np.asarray(p_b))[:2], (np.asarray(v_a) - np.asarray(v_b))[:2]  # [2]
    speed2 = float(dv @ dv)
    t = 0.0 if speed2 == 0.0 else float(np.clip(-(dp @ dv) / speed2, 0.0, horizon))
    return float(np.linalg.norm(dp + dv * t))


def states_at(ann: Annotation, frame: int = -1) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """object id -> (location [3], velocity [3]) at an annotated frame (default: the last)."""
    return {s.object_id: (np.asarray(s.location, float), np.asarray(s.velocity, float))
            for s in ann.motion_trajectory[frame].objects}


def extrapolation_predictions(scenes: Iterable[SceneQuestions], annotation_of: Callable[[int], Annotation],
                              facts_of: Callable[[int], SceneFacts],
                              horizon_s: float = HORIZON_S, frame: int = -1, fps: float = 25.0) -> Predictions:
    """Answers of the straight-line rule for every predictive question (other types are not answered).
    `frame`: the annotated frame the paths start from (default the last; an earlier one also extrapolates over
    the frames between it and the end, at `fps`)."""
    out: Predictions = {}
    for s in scenes:
        predictive = [q for q in s.questions if q.question_type == "predictive"]
        if not predictive:
            continue
        ann = annotation_of(s.scene_index)
        states = states_at(ann, frame)
        gap_s = (ann.num_frames - 1 - (frame % ann.num_frames)) / fps  # seconds from `frame` to the last frame
        executor = Executor(facts_of(s.scene_index))
        for q in predictive:
            gaps = []
            for c in q.choices:
                event = executor.evaluate(c.program, f"scene {s.scene_index} question {q.question_id} choice "
                                                     f"{c.choice_id}")
                gaps.append(_gap(event, states, horizon_s + gap_s))
            best = int(np.argmin(gaps))
            out[(s.scene_index, q.question_id)] = {c.choice_id: "correct" if i == best else "wrong"
                                                   for i, c in enumerate(q.choices)}
    return out


def _gap(event: object, states: dict[int, tuple[np.ndarray, np.ndarray]], horizon_s: float) -> float:
    """The closest approach of a collision choice's two objects (inf when it names no collision of two
    objects with states)."""
    if not isinstance(event, Event) or event.kind != "collision" or not all(o in states for o in event.objects):
        return float("inf")
    (pa, va), (pb, vb) = (states[o] for o in event.objects)
    return closest_approach(pa, va, pb, vb, horizon_s)
