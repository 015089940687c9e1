"""What a video's questions are about: its objects, its events, and the facts the program
executor reads (ground truth from an annotation, our tail events and counterfactual outcomes).

Events follow CLEVRER's executor: `start` (frame 0) and `end` (last frame) plus the enter (`in`),
exit (`out`) and collision events of the rendered video, sorted by frame; `unseen` events are
those of the held-out tail; `all_events` are every pair of objects as a possible collision (no
frame). Only objects visible in some rendered frame exist for questions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from qa_data.clevrer.annotations import Annotation, ObjectProperty, load_annotation, read_json
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.errors import DataError

# An object is moving at a frame when its ground speed (world units/s) exceeds MOVING_SPEED.
# Questions are only asked where every speed involved is clear of the band around it.
MOVING_SPEED = 0.06
CLEAR_BELOW, CLEAR_ABOVE = 0.03, 0.12
CLEAR_WINDOW = 2  # frames either side over which a motion status must hold to be asked about


@dataclass(frozen=True)
class Event:
    """`objects` is () for start/end, (id,) for in/out, a sorted pair for a collision; `frame` is
    None for the hypothetical collisions of `all_events`."""

    kind: str
    objects: tuple[int, ...]
    frame: int | None

    def same_as(self, other: "Event") -> bool:
        """CLEVRER's `belong_to` identity: same kind and same set of objects (frames ignored)."""
        return self.kind == other.kind and set(self.objects) == set(other.objects)


def collision_event(a: int, b: int, frame: int | None) -> Event:
    return Event("collision", tuple(sorted((a, b))), frame)


@dataclass
class SceneFacts:
    """Ground truth of one video as the executor sees it."""

    scene_index: int
    properties: dict[int, ObjectProperty]
    objects: list[int]  # visible in some rendered frame, in annotation order
    events: list[Event]  # rendered video, with start and end, sorted by frame
    unseen: list[Event] = field(default_factory=list)  # held-out tail (frame >= num_frames)
    # removed id -> every collision of the re-simulation without it (the executor counts those
    # within the rendered duration, frame < num_frames)
    counterfactual: dict[int, list[Event]] | None = None
    speed: np.ndarray | None = None  # [T, N] ground speed, columns in `column` order
    visible: np.ndarray | None = None  # [T, N] bool
    column: dict[int, int] = field(default_factory=dict)
    num_frames: int = 128

    # ------------------------------------------------------------------ motion
    def _status(self, obj: int, frame: int) -> str:
        c = self.column[obj]
        if not self.visible[frame, c]:
            return "invisible"
        return "moving" if self.speed[frame, c] > MOVING_SPEED else "stationary"

    def is_moving(self, obj: int, frame: int | None) -> bool:
        """Visible and moving at `frame`; with None, visible and moving at some frame."""
        self._need_motion()
        if frame is None:
            c = self.column[obj]
            return bool((self.visible[:, c] & (self.speed[:, c] > MOVING_SPEED)).any())
        return self._status(obj, frame) == "moving"

    def is_stationary(self, obj: int, frame: int | None) -> bool:
        """Visible and not moving at `frame`; with None, visible somewhere and never moving there."""
        self._need_motion()
        if frame is None:
            c = self.column[obj]
            vis = self.visible[:, c]
            return bool(vis.any() and not (vis & (self.speed[:, c] > MOVING_SPEED)).any())
        return self._status(obj, frame) == "stationary"

    def motion_is_clear(self, obj: int, frame: int | None) -> bool:
        """Whether a question may rely on this object's motion status: its speed is clear of the
        threshold band and its status (and visibility) holds over the frames around `frame`."""
        self._need_motion()
        c = self.column[obj]
        if frame is None:
            vis = self.visible[:, c]
            top = self.speed[vis, c].max() if vis.any() else 0.0
            return bool(top < CLEAR_BELOW or top > CLEAR_ABOVE)
        lo, hi = max(0, frame - CLEAR_WINDOW), min(self.num_frames, frame + CLEAR_WINDOW + 1)
        statuses = {self._status(obj, f) for f in range(lo, hi)}
        s = self.speed[lo:hi, c]
        return len(statuses) == 1 and bool(((s < CLEAR_BELOW) | (s > CLEAR_ABOVE)).all())

    def _need_motion(self) -> None:
        if self.speed is None or self.visible is None:
            raise ValueError(f"scene {self.scene_index}: no trajectories, so no motion facts")

    # ------------------------------------------------------------------ events
    @property
    def start(self) -> Event:
        return self.events[0]

    @property
    def end(self) -> Event:
        return self.events[-1]

    def all_events(self) -> list[Event]:
        return [collision_event(a, b, None) for a, b in combinations(self.objects, 2)]

    def counterfactual_pairs(self, removed: int) -> set[tuple[int, ...]] | None:
        """Pairs that collide within the video's duration once `removed` is taken out (None: unknown)."""
        if self.counterfactual is None or removed not in self.counterfactual:
            return None
        return {e.objects for e in self.counterfactual[removed] if e.frame < self.num_frames}

    def trace(self, obj: int) -> list[Event]:
        """The object's events (not start/end) in time order: its causal trace."""
        return [e for e in self.events if obj in e.objects]

    def ancestors(self, event: Event) -> list[Event]:
        """Every event that causes `event`: for each object of an event, the event before it on
        that object's trace is a direct cause (CLEVRER's causal graph), recursively."""
        found: list[Event] = []
        stack = [event]
        while stack:
            e = stack.pop()
            for o in e.objects:
                tr = self.trace(o)
                if e in tr:
                    i = tr.index(e)
                    if i > 0 and tr[i - 1] not in found:
                        found.append(tr[i - 1])
                        stack.append(tr[i - 1])
        return found


def _frame(value, path, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DataError(path, f"{what}: frame_id must be an integer >= 0, got {value!r}")
    return value


def _object_ids(value, ids: set[int], n: int, path, what: str) -> list[int]:
    if (not isinstance(value, list) or len(value) != n or len(set(map(repr, value))) != n
            or not all(isinstance(x, int) and not isinstance(x, bool) and x in ids for x in value)):
        raise DataError(path, f"{what}: expected {n} different object ids of the annotation, got {value!r}")
    return value


def _tail_events(tail: dict[str, Any], path, ids: set[int]) -> list[Event]:
    try:
        out = [collision_event(*_object_ids(c["object_ids"], ids, 2, path, f"collision[{i}]"),
                               _frame(c["frame_id"], path, f"collision[{i}]")) for i, c in enumerate(tail["collision"])]
        for kind, key in (("in", "enter"), ("out", "exit")):
            out += [Event(kind, tuple(_object_ids([e["object_id"]], ids, 1, path, f"{key}[{i}]")),
                          _frame(e["frame_id"], path, f"{key}[{i}]")) for i, e in enumerate(tail[key])]
    except (KeyError, TypeError) as e:
        raise DataError(path, f"malformed tail events (missing or wrong {e})") from None
    return sorted(out, key=lambda e: e.frame)


def _counterfactuals(cf: dict[str, Any], path, ids: set[int]) -> dict[int, list[Event]]:
    out: dict[int, list[Event]] = {}
    try:
        for i, r in enumerate(cf["counterfactuals"]):
            removed = _object_ids([r["removed_object_id"]], ids, 1, path, f"counterfactuals[{i}]")[0]
            if removed in out:
                raise DataError(path, f"counterfactuals[{i}]: object {removed} is removed twice")
            out[removed] = [collision_event(*_object_ids(c["object_ids"], ids, 2, path,
                                                         f"counterfactuals[{i}].collision[{j}]"),
                                            _frame(c["frame_id"], path, f"counterfactuals[{i}].collision[{j}]"))
                            for j, c in enumerate(r["collision"])]
    except (KeyError, TypeError) as e:
        raise DataError(path, f"malformed counterfactual outcomes (missing or wrong {e})") from None
    return out


def scene_facts(ann: Annotation, tail: dict | None = None, counterfactual: dict | None = None,
                tail_path: str | Path = "<tail>", cf_path: str | Path = "<counterfactual>") -> SceneFacts:
    """Facts of one video from its annotation, plus (when given) tail events and counterfactuals.

    Counterfactual collisions count within the rendered video's duration, like the factual ones
    (`counterfactual_pairs`).
    """
    T = ann.num_frames
    ids = [o.object_id for o in ann.object_property]
    inside = ann.inside_view()  # [T, N]
    column = {oid: i for i, oid in enumerate(ids)}
    visible_ids = [oid for oid in ids if inside[:, column[oid]].any()]
    vis = set(visible_ids)
    velocity = np.zeros((T, len(ids), 3))
    for t, fr in enumerate(ann.motion_trajectory):
        for s in fr.objects:
            velocity[t, column[s.object_id]] = s.velocity
    speed = np.linalg.norm(velocity[..., :2], axis=-1)  # [T, N]
    events = [Event(e.kind, (e.object_id,), e.frame_id) for e in ann.view_events()]
    events += [collision_event(*c.object_ids, c.frame_id) for c in ann.collision
               if c.frame_id < T and set(c.object_ids) <= vis]
    ordered = sorted(events, key=lambda e: e.frame)
    return SceneFacts(
        scene_index=ann.scene_index,
        properties={o.object_id: o for o in ann.object_property},
        objects=visible_ids,
        events=[Event("start", (), 0)] + ordered + [Event("end", (), T - 1)],
        unseen=[] if tail is None else [e for e in _tail_events(tail, tail_path, set(ids)) if e.frame >= T],
        counterfactual=None if counterfactual is None else _counterfactuals(counterfactual, cf_path, set(ids)),
        speed=speed, visible=inside, column=column, num_frames=T)


def load_scene_facts(layout: ClevrerLayout, split: str, index: int) -> SceneFacts:
    """Facts of one video of a dataset; tail and counterfactual files are used when present."""
    ann = load_annotation(layout.annotation_path(split, index))
    tp, cp = layout.tail_events_path(index), layout.counterfactual_path(index)
    return scene_facts(ann, read_json(tp) if tp.is_file() else None,
                       read_json(cp) if cp.is_file() else None, tp, cp)
