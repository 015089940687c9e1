"""CLEVRER annotation JSON as typed records, plus the enter/exit events derived from it.

Schema (per video): scene_index, video_filename, object_property[{object_id, color, material,
shape}], motion_trajectory[{frame_id, objects[{object_id, location[3], orientation[3],
velocity[3], angular_velocity[3], inside_camera_view}]}], collision[{object_ids[2], frame_id,
location[3]}].
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa_data.errors import DataError

COLORS = ("gray", "red", "blue", "green", "brown", "cyan", "purple", "yellow")
MATERIALS = ("metal", "rubber")
SHAPES = ("cube", "sphere", "cylinder")


@dataclass(frozen=True)
class ObjectProperty:
    object_id: int
    color: str
    material: str
    shape: str

    def description(self) -> str:
        return f"{self.color} {self.material} {self.shape}"


@dataclass(frozen=True)
class ObjectState:
    object_id: int
    location: tuple[float, float, float]
    orientation: tuple[float, float, float]
    velocity: tuple[float, float, float]
    angular_velocity: tuple[float, float, float]
    inside_camera_view: bool


@dataclass(frozen=True)
class FrameState:
    frame_id: int
    objects: tuple[ObjectState, ...]


@dataclass(frozen=True)
class Collision:
    object_ids: tuple[int, int]
    frame_id: int
    location: tuple[float, float, float]


@dataclass(frozen=True)
class ViewEvent:
    """An object entering (`kind='in'`) or leaving (`kind='out'`) the camera view at a frame."""

    kind: str
    object_id: int
    frame_id: int


@dataclass
class Annotation:
    scene_index: int
    video_filename: str
    object_property: list[ObjectProperty]
    motion_trajectory: list[FrameState]
    collision: list[Collision] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return len(self.motion_trajectory)

    def object(self, object_id: int) -> ObjectProperty:
        for o in self.object_property:
            if o.object_id == object_id:
                return o
        raise KeyError(f"scene {self.scene_index}: no object {object_id}")

    def inside_view(self) -> np.ndarray:
        """bool [T, N] by object position in `object_property` order."""
        ids = [o.object_id for o in self.object_property]
        out = np.zeros((self.num_frames, len(ids)), dtype=bool)
        col = {oid: i for i, oid in enumerate(ids)}
        for t, fr in enumerate(self.motion_trajectory):
            for s in fr.objects:
                out[t, col[s.object_id]] = s.inside_camera_view
        return out

    def locations(self) -> np.ndarray:
        """float [T, N, 3] world locations by object position in `object_property` order."""
        ids = [o.object_id for o in self.object_property]
        col = {oid: i for i, oid in enumerate(ids)}
        out = np.full((self.num_frames, len(ids), 3), np.nan)
        for t, fr in enumerate(self.motion_trajectory):
            for s in fr.objects:
                out[t, col[s.object_id]] = s.location
        return out

    def view_events(self) -> list[ViewEvent]:
        """Enter/exit events from `inside_camera_view` transitions (as DCL and NS-DR derive them).

        An object visible in frame 0 has no enter event; an object that becomes visible at frame f
        (not visible at f-1) enters at f; one that stops being visible at f exits at f.
        """
        return view_events_from_mask(self.inside_view(), [o.object_id for o in self.object_property])

    def to_json(self) -> dict[str, Any]:
        return {
            "scene_index": self.scene_index,
            "video_filename": self.video_filename,
            "object_property": [
                {"object_id": o.object_id, "color": o.color, "material": o.material, "shape": o.shape}
                for o in self.object_property
            ],
            "motion_trajectory": trajectory_json(self.motion_trajectory),
            "collision": [
                {"object_ids": list(c.object_ids), "frame_id": c.frame_id, "location": list(c.location)}
                for c in self.collision
            ],
        }


def trajectory_json(frames: list[FrameState]) -> list[dict[str, Any]]:
    """`motion_trajectory` entries in CLEVRER's schema."""
    return [{"frame_id": fr.frame_id, "objects": [
                {"object_id": s.object_id, "location": list(s.location), "orientation": list(s.orientation),
                 "velocity": list(s.velocity), "angular_velocity": list(s.angular_velocity),
                 "inside_camera_view": s.inside_camera_view}
                for s in fr.objects]}
            for fr in frames]


def view_events_from_mask(inside: np.ndarray, object_ids: list[int], first_frame: int = 0) -> list[ViewEvent]:
    """Enter/exit events from a bool [T, N] visibility mask; frames are numbered from `first_frame`."""
    events = []
    for t in range(1, inside.shape[0]):
        for n, oid in enumerate(object_ids):
            if inside[t, n] and not inside[t - 1, n]:
                events.append(ViewEvent("in", oid, first_frame + t))
            elif inside[t - 1, n] and not inside[t, n]:
                events.append(ViewEvent("out", oid, first_frame + t))
    return events


def _vec3(value, path, what) -> tuple[float, float, float]:
    if not (isinstance(value, list) and len(value) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise DataError(path, f"{what} must be a list of 3 numbers, got {value!r}")
    if not all(math.isfinite(v) for v in value):
        raise DataError(path, f"{what} must be finite, got {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _index(d: dict, key: str, path, what: str) -> int:
    """An id or frame number: an integer >= 0."""
    value = _get(d, key, int, path, what)
    if value < 0:
        raise DataError(path, f"{what}: {key!r} must be >= 0, got {value}")
    return value


def _word(d: dict, key: str, allowed: tuple[str, ...], path, what: str) -> str:
    value = _get(d, key, str, path, what)
    if value not in allowed:
        raise DataError(path, f"{what}: {key!r} must be one of {list(allowed)}, got {value!r}")
    return value


def _get(d: dict, key: str, typ, path, what: str):
    if not isinstance(d, dict) or key not in d:
        raise DataError(path, f"{what}: missing key {key!r}")
    v = d[key]
    if typ is int and isinstance(v, bool) or not isinstance(v, typ):
        name = typ.__name__ if isinstance(typ, type) else typ
        raise DataError(path, f"{what}: {key!r} must be {name}, got {type(v).__name__}")
    return v


def parse_annotation(data: Any, path: str | Path = "<annotation>") -> Annotation:
    """Validates and converts one annotation JSON object; raises DataError naming the problem."""
    if not isinstance(data, dict):
        raise DataError(path, f"annotation must be a JSON object, got {type(data).__name__}")
    props = []
    for i, o in enumerate(_get(data, "object_property", list, path, "annotation")):
        what = f"object_property[{i}]"
        props.append(ObjectProperty(
            _index(o, "object_id", path, what), _word(o, "color", COLORS, path, what),
            _word(o, "material", MATERIALS, path, what), _word(o, "shape", SHAPES, path, what)))
    ids = {o.object_id for o in props}
    if len(ids) != len(props):
        raise DataError(path, "object_property: object_id values are not unique")
    frames = []
    for t, fr in enumerate(_get(data, "motion_trajectory", list, path, "annotation")):
        what = f"motion_trajectory[{t}]"
        frame_id = _index(fr, "frame_id", path, what)
        if frames and frame_id <= frames[-1].frame_id:
            raise DataError(path, f"{what}: frame_id {frame_id} does not follow {frames[-1].frame_id}")
        states = []
        for j, s in enumerate(_get(fr, "objects", list, path, what)):
            w = f"{what}.objects[{j}]"
            oid = _get(s, "object_id", int, path, w)
            if oid not in ids:
                raise DataError(path, f"{w}: object_id {oid} is not in object_property")
            if any(st.object_id == oid for st in states):
                raise DataError(path, f"{w}: object {oid} appears twice in frame {frame_id}")
            states.append(ObjectState(
                oid, _vec3(_get(s, "location", list, path, w), path, f"{w}.location"),
                _vec3(_get(s, "orientation", list, path, w), path, f"{w}.orientation"),
                _vec3(_get(s, "velocity", list, path, w), path, f"{w}.velocity"),
                _vec3(_get(s, "angular_velocity", list, path, w), path, f"{w}.angular_velocity"),
                _get(s, "inside_camera_view", bool, path, w)))
        frames.append(FrameState(frame_id, tuple(states)))
    collisions = []
    for i, c in enumerate(_get(data, "collision", list, path, "annotation")):
        what = f"collision[{i}]"
        oids = _get(c, "object_ids", list, path, what)
        if (len(oids) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) and x in ids for x in oids)
                or oids[0] == oids[1]):
            raise DataError(path, f"{what}: object_ids must be 2 different ids from object_property, got {oids!r}")
        collisions.append(Collision((oids[0], oids[1]), _index(c, "frame_id", path, what),
                                    _vec3(_get(c, "location", list, path, what), path, f"{what}.location")))
    return Annotation(
        scene_index=_index(data, "scene_index", path, "annotation"),
        video_filename=_get(data, "video_filename", str, path, "annotation"),
        object_property=props, motion_trajectory=frames, collision=collisions)


def read_json(path: str | Path) -> Any:
    """Loads a JSON file; a missing or malformed file raises DataError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(path, f"malformed JSON ({e})") from None
    except UnicodeDecodeError as e:
        raise DataError(path, f"not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except IsADirectoryError:
        raise DataError(path, "is a directory, not a JSON file") from None


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(json.dumps(data, separators=(",", ":")))  # dumps uses the C encoder, dump does not
    os.replace(tmp, path)


def load_annotation(path: str | Path) -> Annotation:
    return parse_annotation(read_json(path), path)
