"""Ground-truth object states as a feature source: each video's annotation written into the
slot-cache format (`qa_data.slots.slot_cache`), so the QA stage reads them exactly as it reads slots.

Slot k of a video is the k-th object of its annotation's `object_property`; slots beyond the
video's objects are empty. Per slot and frame (`STATE_FEATURES`):

    static   colour one-hot (8), shape one-hot (3), material one-hot (2), location x, y, z (3)
    dynamics velocity x, y, z (3)

Values are the annotation's, unscaled (world units; the QA model normalises its inputs). The
presence mask is 1 where the object is inside the camera view at that frame and 0 where it is
outside it or where the slot holds no object (whose features are 0); the QA model ignores those.
The producer's identity is the state layout; each split's `source_sha256` hashes its annotation
files, so a cache never mixes annotations of two datasets.

`future=N` appends N frames past the annotation, at the same stride, from the simulator's
continuation that CLEVRER-sim keeps in `tail_events/tail_*.json` (`motion_trajectory`, generator
1.3 on): the oracle of any rollout. They are marked predicted (`observed_frames`), and N is part of
the producer's identity. Real CLEVRER has no continuation; asking for one is an error.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa_data.clevrer.annotations import (
    COLORS,
    MATERIALS,
    SHAPES,
    Annotation,
    load_annotation,
    parse_annotation,
    read_json,
)
from qa_data.clevrer.layout import ClevrerLayout, canonical_split
from qa_data.config import ConfigError
from qa_data.errors import DataError
from qa_data.provenance import code_version
from qa_data.runtime.run_lock import holds_lock
from qa_data.slots.slot_cache import (
    DONE,
    FORMAT,
    FORMAT_VERSION,
    CacheWriter,
    SlotLayout,
    check_or_create,
    split_file,
)

logger = logging.getLogger(__name__)

STATE_LAYOUT_VERSION = 1
STATIC_FEATURES = ([f"color={c}" for c in COLORS] + [f"shape={s}" for s in SHAPES]
                   + [f"material={m}" for m in MATERIALS] + ["x", "y", "z"])
DYNAMIC_FEATURES = ["vx", "vy", "vz"]
STATE_FEATURES = STATIC_FEATURES + DYNAMIC_FEATURES
SOURCE_FRAMES = 128  # CLEVRER's annotated frames per video


@dataclass
class StateExtractConfig:
    split: str = "train"
    frame_stride: int = 1  # every S-th annotated frame
    max_objects: int = 6  # K: slots per video (CLEVRER scenes have at most 6 objects)
    dtype: str = "float32"
    future: int = 0  # frames past the annotation from the simulator's continuation (CLEVRER-sim only)


@dataclass
class StateExtractResult:
    path: Path
    written: int = 0
    already_done: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0


def state_layout(cfg: StateExtractConfig) -> dict:
    layout = {"version": STATE_LAYOUT_VERSION, "features": STATE_FEATURES, "static": len(STATIC_FEATURES),
              "dynamics": len(DYNAMIC_FEATURES), "max_objects": cfg.max_objects,
              "slot_order": "object_property order", "presence": "inside_camera_view"}
    if cfg.future:
        layout["future"] = {"frames": cfg.future, "source": "simulator continuation (tail_events motion_trajectory)"}
    return layout


def with_continuation(ann: Annotation, tail_path: Path) -> Annotation:
    """The annotation with the simulator's continuation (a CLEVRER-sim tail file) appended to its
    `motion_trajectory`; raises DataError when the file has none or it does not continue the video."""
    if not tail_path.is_file():
        raise DataError(tail_path, "no simulator continuation for this video (CLEVRER-sim writes "
                                   "tail_events/tail_*.json; real CLEVRER has no future frames)")
    tail = read_json(tail_path)
    if not isinstance(tail, dict) or "motion_trajectory" not in tail:
        raise DataError(tail_path, "the tail file has no motion_trajectory (written by CLEVRER-sim generator 1.3 on: "
                                   "regenerate the data)")
    cont = parse_annotation({"scene_index": ann.scene_index, "video_filename": ann.video_filename,
                             "object_property": [{"object_id": o.object_id, "color": o.color, "material": o.material,
                                                  "shape": o.shape} for o in ann.object_property],
                             "motion_trajectory": tail["motion_trajectory"], "collision": []}, tail_path)
    frames = [f.frame_id for f in cont.motion_trajectory]
    if frames and frames[0] != ann.num_frames:
        raise DataError(tail_path, f"motion_trajectory starts at frame {frames[0]}, the annotation ends at frame "
                                   f"{ann.num_frames - 1}")
    return replace(ann, motion_trajectory=ann.motion_trajectory + cont.motion_trajectory)


def state_frames(cfg: StateExtractConfig) -> tuple[np.ndarray, int]:
    """(source frames of the cache [T], how many of them are observed)."""
    observed = np.arange(0, SOURCE_FRAMES, cfg.frame_stride)
    future = observed[-1] + cfg.frame_stride * np.arange(1, cfg.future + 1)
    return np.concatenate([observed, future]), len(observed)


def video_states(ann: Annotation, frames: np.ndarray, max_objects: int,
                 path: Path | str = "<annotation>") -> tuple[np.ndarray, np.ndarray]:
    """(features float32 [T, K, D], presence bool [T, K]) of one annotation at `frames`."""
    if len(ann.object_property) > max_objects:
        raise DataError(path, f"{len(ann.object_property)} objects, more than max_objects={max_objects} "
                              "(raise --max-objects)")
    ids = [fr.frame_id for fr in ann.motion_trajectory]
    if ids != list(range(len(ids))):  # frames are read by position: position i must be frame i
        at = next(i for i, v in enumerate(ids) if v != i)
        raise DataError(path, f"motion_trajectory's frame ids are not the video's frames 0, 1, 2, ... in order "
                              f"(entry {at} is frame {ids[at]}); CLEVRER annotates every frame")
    if ann.num_frames <= int(frames[-1]):
        raise DataError(path, f"motion_trajectory has {ann.num_frames} frames, frame {int(frames[-1])} is needed")
    t, k, d = len(frames), max_objects, len(STATE_FEATURES)
    feats = np.zeros((t, k, d), dtype=np.float32)
    presence = np.zeros((t, k), dtype=bool)
    slot = {o.object_id: j for j, o in enumerate(ann.object_property)}
    for j, o in enumerate(ann.object_property):
        for name in (f"color={o.color}", f"shape={o.shape}", f"material={o.material}"):
            if name not in STATE_FEATURES:
                kind, value = name.split("=")
                raise DataError(path, f"object {o.object_id}: unknown {kind} {value!r}")
            feats[:, j, STATE_FEATURES.index(name)] = 1.0
    loc, vel = STATE_FEATURES.index("x"), STATE_FEATURES.index("vx")
    for i, f in enumerate(frames):
        fr = ann.motion_trajectory[int(f)]
        for s in fr.objects:
            j = slot[s.object_id]
            feats[i, j, loc:loc + 3] = s.location
            feats[i, j, vel:vel + 3] = s.velocity
            presence[i, j] = s.inside_camera_view
    return feats, presence


def files_sha256(paths: list[Path]) -> str:
    """One SHA-256 over the names and contents of files, in the given order."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def check_state_source(data_root: Path, cfg: StateExtractConfig) -> list[int]:
    """The split's annotated videos, after every check that needs no annotation read (the settings, the split, a
    continuation for --future); raises ConfigError or DataError naming the problem."""
    layout, split = ClevrerLayout(data_root), canonical_split(cfg.split)
    if cfg.frame_stride < 1 or cfg.max_objects < 1 or cfg.future < 0:
        raise ConfigError(f"--frame-stride and --max-objects must be at least 1 and --future at least 0, got "
                          f"{cfg.frame_stride}, {cfg.max_objects} and {cfg.future}")
    if cfg.frame_stride >= SOURCE_FRAMES:
        raise ConfigError(f"--frame-stride {cfg.frame_stride} leaves one frame of the video's {SOURCE_FRAMES}")
    try:
        indices = layout.annotation_indices(split)
    except FileNotFoundError:
        indices = []
    if not indices:
        raise DataError(layout.root / "annotations" / split,
                        f"no annotations for split {split!r}: ground-truth states need annotations (real CLEVRER "
                        "has them for train and validation only, not for test)")
    if cfg.future and not (layout.root / "tail_events").is_dir():
        raise DataError(layout.root / "tail_events", "--future needs the simulator's continuation of each video, which "
                                                     "only CLEVRER-sim has (tail_events/); real CLEVRER ends at its "
                                                     "last frame")
    return indices


@holds_lock("out_dir")
def extract_states(data_root: Path, out_dir: Path, cfg: StateExtractConfig,
                   progress: bool = True) -> StateExtractResult:
    """Writes (or completes) `out_dir/<split>.h5` from the split's annotations."""
    layout, split = ClevrerLayout(data_root), canonical_split(cfg.split)
    indices = check_state_source(data_root, cfg)
    paths = [layout.annotation_path(split, i) for i in indices]
    frames, observed = state_frames(cfg)
    slot_layout = SlotLayout(len(STATIC_FEATURES), len(DYNAMIC_FEATURES), cfg.max_objects, cfg.frame_stride,
                             len(frames), observed)
    attrs = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "model": "states", "model_label": "states",
        "producer": "annotations",
        "producer_id": hashlib.sha256(json.dumps(state_layout(cfg), sort_keys=True).encode()).hexdigest(),
        "source_sha256": files_sha256(paths + ([t for t in (layout.tail_events_path(i) for i in indices) if t.is_file()]
                                               if cfg.future else [])),
        "producer_info": json.dumps({"annotation_root": str(layout.root.resolve()), "annotations": len(paths),
                                     "state_layout": state_layout(cfg)}, sort_keys=True),
        "extraction": json.dumps({"frame_stride": cfg.frame_stride, "dtype": cfg.dtype}, sort_keys=True),
        "dataset": "clevrer", "data_root": str(layout.root.resolve()), "dataset_id": layout.dataset_id, "split": split,
        **slot_layout.attrs(), "source_frames": SOURCE_FRAMES,
        "resolution": [0, 0], "video_index_first": indices[0], "video_index_last": indices[-1],
        "num_videos": len(indices), "code_version": code_version(), "slot_tracks": "objects",
    }
    if cfg.future:
        attrs["model_label"] = "states+future"
    path = split_file(out_dir, split)
    check_or_create(path, attrs, indices, frames.tolist(), slot_layout.dim, cfg.dtype)
    result = StateExtractResult(path)
    t0 = time.perf_counter()
    writer = CacheWriter(path)
    try:
        status = writer.status()
        for row, (idx, ann_path) in enumerate(tqdm(list(zip(indices, paths)), desc=f"states {split}", unit="video",
                                                   disable=not progress)):
            if status[row] == DONE:
                result.already_done += 1
                continue
            try:
                ann = load_annotation(ann_path)
                if cfg.future:
                    ann = with_continuation(ann, layout.tail_events_path(idx))
                feats, presence = video_states(ann, frames, cfg.max_objects,
                                               layout.tail_events_path(idx) if cfg.future else ann_path)
            except DataError as e:
                writer.skip(idx, str(e))
                result.skipped.append((idx, str(e)))
                logger.warning("skipped video %d: %s", idx, e)
                continue
            writer.write(idx, feats, presence)
            result.written += 1
        writer.flush()
    finally:
        writer.close()
    result.seconds = time.perf_counter() - t0
    return result
