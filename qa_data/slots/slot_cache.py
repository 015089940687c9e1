"""The slot-feature cache: one self-describing HDF5 file per split, written by a *producer* and
read here for reasoning. Producers: `perception` (a perception checkpoint's slots,
`perception.extract`, `scripts/extract_slots.py`), `annotations` (ground-truth object states,
`qa_data.slots.state_cache`, `scripts/extract_states.py`) and `import` (another model's slots,
`qa_data.slots.slot_import`, `scripts/import_slots.py`).

Layout of `SLOTS_DIR/<split>.h5` (format version 2)::

    slots        [N, T, K, D]  float16 | float32, one chunk per video, NaN until written;
                               D = d_static + d_dyn, the features are [static; dynamics]
    presence     [N, T, K]  int8  1 where slot k holds an object at that frame, 0 where the object is
                               absent or outside the view (the QA model masks those); all 1 for
                               perception slots
    video_index  [N]  int64    the video of each row, ascending: rows are placed by video index
    status       [N]  int8     0 pending, 1 done, 2 skipped (`skip_reason` says why)
    skip_reason  [N]  bytes    UTF-8, empty unless skipped
    frame_index  [T]  int64    the source frame of each cached frame (0, S, 2S, ...)
    slot_objects [N, K]  int16 optional (caches with the `grounding` attribute): the annotated object id
                               each slot track holds over the observed frames, -1 for none; what the QA
                               stage's grounding loss reads to train on perception slots

A cache may end with *predicted* frames: the first `observed_frames` cached frames come from the
video, the rest continue it at the same stride (a perception model's rollout, `extract_slots.py
--rollout N`, or the simulator's continuation, `extract_states.py --future N`). The optional
attribute `observed_frames` says where they start; a cache without it holds observed frames only.

The attributes (`ATTRS`) record what made the file: the producer (its kind, its identity shared
by every split it produced, the content hash of this split's inputs, and its details: checkpoint
path, step and resolved config, or the annotation root and state layout), the extraction settings, feature dims, frame
stride, resolution, video index range and code version. Every dataset is allocated when the
file is created and none is compressed, so later writes change raw data only: a writer killed
mid-write leaves a valid file whose unfinished rows are still `pending`.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from qa_data.clevrer.layout import ClevrerLayout
from qa_data.errors import DataError
from qa_data.runtime.atomic import written_whole

logger = logging.getLogger(__name__)

FORMAT = "odr-slot-cache"
FORMAT_VERSION = 2  # 2: generic producer, presence mask
PENDING, DONE, SKIPPED = 0, 1, 2
STATUS_NAMES = {PENDING: "pending", DONE: "done", SKIPPED: "skipped"}
REASON_BYTES = 256  # skip reasons are truncated to this many bytes

# Attribute -> meaning. Every cache carries all of them (`check_attrs`).
ATTRS = {
    "format": f"always {FORMAT!r}",
    "format_version": "layout version of this file",
    "model": "what the features are: a perception model name (iodine | oddn | provide) or states",
    "model_label": "model and variant, e.g. oddn/oddn_no_relation, or states",
    "producer": "kind of producer: perception (a checkpoint) | annotations (ground-truth states) | import "
                "(another model's slot file, qa_data.slots.slot_import)",
    "producer_id": "the producer's identity, the same for every split it made: SHA-256 of the checkpoint's "
                   "model.pt (perception), of the state layout (annotations) or of the import's label and layout",
    "source_sha256": "SHA-256 of this split's inputs where they are hashed (the annotation files, the imported "
                     "file); empty otherwise",
    "producer_info": "JSON: checkpoint path, step and resolved perception config, or annotation root and state layout",
    "extraction": "extraction settings that shape the values: frame stride, batch size, dtype, precision (JSON)",
    "dataset": "video source (clevrer | bouncing_balls)",
    "data_root": "dataset root the videos were read from",
    "split": "split name",
    "d_static": "static (appearance) dims per slot: slots[..., :d_static]",
    "d_dyn": "dynamics dims per slot: slots[..., d_static:] (0 for models without dynamics)",
    "num_slots": "K",
    "frame_stride": "every frame_stride-th source frame is cached",
    "frames_per_video": "T, cached frames per video",
    "source_frames": "frames per source video",
    "resolution": "[height, width] of the frames the model saw",
    "video_index_first": "first video index of the cache",
    "video_index_last": "last video index of the cache",
    "num_videos": "N, rows of the cache",
    "code_version": "package version and git commit of the code that created the cache",
}

# Optional attributes: absent in older caches, or where they do not apply.
OPTIONAL_ATTRS = {
    "observed_frames": "frames 0 .. observed_frames-1 are observed; the later ones are predicted (a rollout or "
                       "the simulator's continuation). Absent: every frame is observed",
    "slot_tracks": "whether slot k is one object through a video: objects (ground-truth states, one slot per "
                   "annotated object), model (the model carries each slot across frames: PROVIDE), matched (each "
                   "frame's slots reordered into tracks at extraction, perception.tracking) or none (IODINE and ODDN "
                   "decompose every frame from the same start: slot k is a different object from frame to frame). "
                   "Absent: unknown (older caches, imports)",
    "grounding": "JSON, present when the cache holds `slot_objects`: how each slot track was matched to an annotated "
                 "object (by its masks against the annotation's instance masks over the observed frames; min_share)",
    "dataset_id": "what made the dataset (qa_data.clevrer.layout.ClevrerLayout.dataset_id; CLEVRER-sim: a hash of "
                  "its manifest), checked against the dataset a QA run reads. Empty or absent: unknown (real CLEVRER)",
}

SLOT_TRACKS = ("objects", "model", "matched", "none")

# What must agree for a run to fill in (append to) an existing cache.
IDENTITY = ("format_version", "model", "model_label", "producer", "producer_id", "source_sha256", "extraction",
            "dataset", "data_root", "split", "d_static", "d_dyn", "num_slots", "frame_stride", "frames_per_video",
            "observed_frames", "dataset_id", "resolution", "video_index_first", "video_index_last", "num_videos")


def split_file(slots_dir: Path, split: str) -> Path:
    return Path(slots_dir) / f"{split}.h5"


def _plain(value):
    """An HDF5 attribute value as a JSON-comparable Python value."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_attrs(path: Path) -> dict:
    """The cache's attributes as plain Python values; raises DataError for a file that is not a cache."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "slot cache not found (see scripts/extract_slots.py)")
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _plain(v) for k, v in f.attrs.items()}
            if attrs.get("format") != FORMAT:
                raise DataError(path,
                                f"not a slot cache (format attribute {attrs.get('format')!r}, expected {FORMAT!r})")
            check_attrs(path, attrs)
            check_shapes(path, attrs, f)
    except OSError as e:
        raise DataError(path, f"cannot open as HDF5 ({e})") from None
    return attrs


SHAPE_ATTRS = ("d_static", "d_dyn", "num_slots", "frame_stride", "frames_per_video", "source_frames", "num_videos",
               "video_index_first", "video_index_last")


def check_shapes(path: Path, attrs: dict, f: h5py.File) -> None:
    """The attributes that say how to read the datasets agree with the datasets' shapes and contents."""
    for key in SHAPE_ATTRS:
        value = attrs[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DataError(path, f"attribute {key} must be an integer >= 0, got {value!r}")
    if "observed_frames" in attrs:  # checked before the layout reads it
        obs, t = attrs["observed_frames"], attrs["frames_per_video"]
        if isinstance(obs, bool) or not isinstance(obs, int) or not 1 <= obs <= t:
            raise DataError(path, f"attribute observed_frames must be an integer in [1, {t}], got {obs!r}")
    layout = SlotLayout.of(attrs)
    if layout.num_slots < 1 or layout.frame_stride < 1 or layout.dim < 1:
        raise DataError(path, "attributes num_slots, frame_stride and d_static + d_dyn must be >= 1")
    n, t, k = attrs["num_videos"], layout.frames_per_video, layout.num_slots
    expected = {"slots": (n, t, k, layout.dim), "presence": (n, t, k), "video_index": (n,),
                "status": (n,), "skip_reason": (n,), "frame_index": (t,)}
    if "grounding" in attrs:
        expected["slot_objects"] = (n, k)
    for name, shape in expected.items():
        if name not in f or not isinstance(f[name], h5py.Dataset):
            raise DataError(path, f"slot cache lacks the dataset {name!r}")
        if tuple(f[name].shape) != shape:
            raise DataError(path, f"dataset {name} has shape {list(f[name].shape)}, but the attributes say "
                                  f"{list(shape)} (the file was altered or is damaged)")
    index = f["video_index"][:]
    if n and (int(index[0]) != attrs["video_index_first"] or int(index[-1]) != attrs["video_index_last"]
              or not (np.diff(index) > 0).all()):
        raise DataError(path, "video_index is not ascending from video_index_first to video_index_last")
    status = f["status"][:]
    if not np.isin(status, list(STATUS_NAMES)).all():
        raise DataError(path, f"status holds values other than {sorted(STATUS_NAMES)}")
    if attrs.get("slot_tracks", "objects") not in SLOT_TRACKS:
        raise DataError(path, f"attribute slot_tracks must be one of {SLOT_TRACKS}, got {attrs['slot_tracks']!r}")


@dataclass(frozen=True)
class SlotLayout:
    """What a cached slot holds and which frames a cache has: the one description of a cache's layout. Producers
    write it (`attrs`), and the QA stage, the ablation and the main job read it (`of`, `read`) instead of
    recomputing dims from attributes. A QA checkpoint records only the slot's part (`producer_key`): its frame
    fields are then None."""

    d_static: int  # slots[..., :d_static] are static (appearance) features
    d_dyn: int  # slots[..., d_static:] are dynamics (0 for models without dynamics)
    num_slots: int  # K
    frame_stride: int | None = None  # every frame_stride-th source frame is cached
    frames_per_video: int | None = None  # T, cached frames per video, observed then predicted
    observed_frames: int | None = None  # frames 0 .. observed_frames-1 are observed, the rest predicted

    @property
    def dim(self) -> int:
        """D, features per slot in the file."""
        return self.d_static + self.d_dyn

    def served_dim(self, static_only: bool = False) -> int:
        """Features per slot a reader sees: the static dims alone (the "-dyn" ablation) or all of them."""
        return self.d_static if static_only else self.dim

    @property
    def predicted_frames(self) -> int:
        return self.frames_per_video - self.observed_frames

    def attrs(self) -> dict:
        """The cache attributes that carry this layout (`observed_frames` only where frames are predicted, so a cache
        of observed frames keeps the attributes it always had)."""
        if None in (self.frame_stride, self.frames_per_video, self.observed_frames):
            raise ValueError(f"a cache's layout needs its frames: {self}")
        out = {"d_static": self.d_static, "d_dyn": self.d_dyn, "num_slots": self.num_slots,
               "frame_stride": self.frame_stride, "frames_per_video": self.frames_per_video}
        if self.predicted_frames:
            out["observed_frames"] = self.observed_frames
        return out

    @classmethod
    def of(cls, attrs: dict) -> "SlotLayout":
        """The layout a cache's attributes describe (`read_attrs` has checked them), or the slot's part of it that
        a producer key holds."""
        def number(key: str, default=None):
            value = attrs.get(key, default)
            return None if value is None else int(value)

        t = number("frames_per_video")
        return cls(number("d_static"), number("d_dyn"), number("num_slots"), number("frame_stride"), t,
                   number("observed_frames", t))

    @classmethod
    def read(cls, path: Path) -> "SlotLayout":
        """The layout of the cache file `path` (its attributes checked)."""
        return cls.of(read_attrs(path))


def check_attrs(path: Path, attrs: dict) -> None:
    missing = sorted(set(ATTRS) - set(attrs))
    if missing:
        raise DataError(path, f"slot cache lacks attributes {missing}")
    if attrs["format_version"] != FORMAT_VERSION:
        raise DataError(path, f"slot cache format version {attrs['format_version']}, this code reads {FORMAT_VERSION}")


def producer_key(attrs: dict) -> dict:
    """What must agree between the caches one QA model reads (train and validation, or a model and
    the cache it is evaluated on): the producer and the feature layout."""
    return {k: _plain(attrs[k]) for k in ("producer", "producer_id", "model_label", "d_static", "d_dyn", "num_slots")}


def identity_mismatch(old: dict, new: dict) -> list[str]:
    """The identity attributes on which two caches differ."""
    return [k for k in IDENTITY if _plain(old.get(k)) != _plain(new.get(k))]


def create_cache(path: Path, attrs: dict, video_index: list[int], frame_index: list[int], num_slots: int,
                 dim: int, dtype: str) -> None:
    """Creates an empty cache (every row pending), atomically: written under a temporary name and
    renamed into place, so a crash never leaves a half-made file."""
    path = Path(path)
    check_attrs(path, attrs)
    n, t = len(video_index), len(frame_index)
    if list(video_index) != sorted(set(video_index)):
        raise ValueError("video indices of a cache must be unique and ascending")
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.unlink(missing_ok=True)
    with written_whole(path, tmp), h5py.File(tmp, "w", track_order=True) as f:
        for key in ATTRS:
            f.attrs[key] = attrs[key]
        for key in OPTIONAL_ATTRS:
            if key in attrs:
                f.attrs[key] = attrs[key]

        def dataset(name, shape, dt, chunks=None, fill=None):
            # Early allocation: every chunk exists from the start, so writes never touch metadata
            # (crash-safe, and the file's bytes do not depend on the order rows arrive in).
            plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            plist.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
            f.create_dataset(name, shape, dtype=dt, chunks=chunks, fillvalue=fill, dcpl=plist, track_times=False)

        dataset("slots", (n, t, num_slots, dim), dtype, chunks=(1, t, num_slots, dim), fill=np.nan)
        dataset("presence", (n, t, num_slots), "int8", chunks=(1, t, num_slots), fill=1)
        dataset("video_index", (n,), "int64")
        dataset("status", (n,), "int8")
        dataset("skip_reason", (n,), f"S{REASON_BYTES}")
        dataset("frame_index", (t,), "int64")
        if "grounding" in attrs:
            dataset("slot_objects", (n, num_slots), "int16", chunks=(1, num_slots), fill=-1)
        f["video_index"][:] = np.asarray(video_index, dtype=np.int64)
        f["frame_index"][:] = np.asarray(frame_index, dtype=np.int64)
        f["slots"].attrs["axes"] = "video, frame, slot, feature"
        f["status"].attrs["values"] = json.dumps(STATUS_NAMES)
        check_shapes(path, attrs, f)  # a cache whose attributes contradict its datasets is never written


def check_cache_belongs(path: Path, attrs: dict, data_root: Path, split: str) -> None:
    """Raises DataError, naming the cache, unless it holds `split` of the dataset at `data_root`: the split
    attribute, and the dataset identity where both sides have one. Where neither can tell (real CLEVRER, a cache
    older than the identity) and the cache was made from another folder, a warning says so."""
    if attrs.get("split") != split:
        raise DataError(path, f"holds the {attrs.get('split')!r} split, not {split!r}: the split files of the slot "
                              "folder are mixed up")
    want, have = ClevrerLayout(data_root).dataset_id, str(attrs.get("dataset_id") or "")
    if want and have and want != have:
        raise DataError(path, f"was made from another dataset ({attrs.get('data_root')}, {have}) than the one given "
                              f"({data_root}, {want}): extract the slots of this dataset")
    if not (want and have) and Path(str(attrs.get("data_root"))).resolve() != Path(data_root).resolve():
        logger.warning("%s was made from %s, the questions come from %s; neither records what made it, so it "
                       "cannot be checked that they are the same dataset", path, attrs.get("data_root"), data_root)


class CacheMismatch(DataError):
    """An existing cache was made by another producer or with other settings."""


def check_or_create(path: Path, attrs: dict, indices: list[int], frame_index: list[int], dim: int,
                    dtype: str) -> None:
    """Creates the cache, or checks that an existing one has the same identity (so a resumed run
    only fills in its pending rows); raises CacheMismatch naming every attribute that differs."""
    if path.exists():
        old = read_attrs(path)
        diff = identity_mismatch(old, attrs)
        if diff:
            lines = [f"  {k}: cache {_short(old.get(k), 80)} | this run {_short(attrs.get(k), 80)}" for k in diff]
            raise CacheMismatch(path, f"made by another producer ({old.get('producer')} {old.get('model_label')}) or "
                                      "with other settings; refusing to add to it. Use another --out, or delete the "
                                      "file to start over.\n" + "\n".join(lines))
        return
    create_cache(path, attrs, indices, frame_index, attrs["num_slots"], dim, dtype)


class CacheWriter:
    """Writes finished rows into an existing cache: data first, then the row's status, then a flush,
    so a row is `done` only once its features are on disk."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.file = h5py.File(self.path, "r+")
        self.rows = {int(v): i for i, v in enumerate(self.file["video_index"][:])}

    def status(self) -> np.ndarray:
        return self.file["status"][:]

    def write(self, video_index: int, features: np.ndarray, presence: np.ndarray | None = None,
              objects: np.ndarray | None = None) -> None:
        """features [T, K, D]; presence [T, K] bool (None: every slot present); objects [K] (a grounded cache:
        the object id of each slot track, -1 for none)."""
        row = self.rows[video_index]
        expected = self.file["slots"].shape[1:]
        if features.shape != expected:
            raise ValueError(f"{self.path}: video {video_index} features {features.shape}, the cache holds {expected}")
        if ("slot_objects" in self.file) != (objects is not None):
            raise ValueError(f"{self.path}: video {video_index}: slot objects are written to a grounded cache, and "
                             "only to one")
        if objects is not None:
            if objects.shape != expected[1:2]:
                raise ValueError(f"{self.path}: video {video_index} objects {objects.shape}, expected {expected[1:2]}")
            self.file["slot_objects"][row] = objects.astype(np.int16)
        if presence is not None:
            if presence.shape != expected[:2]:
                raise ValueError(f"{self.path}: video {video_index} presence {presence.shape}, expected {expected[:2]}")
            self.file["presence"][row] = presence.astype(np.int8)
        self.file["slots"][row] = features.astype(self.file["slots"].dtype, copy=False)
        self.file["skip_reason"][row] = b""
        self.file["status"][row] = DONE

    def skip(self, video_index: int, reason: str) -> None:
        row = self.rows[video_index]
        self.file["skip_reason"][row] = reason.encode()[:REASON_BYTES]
        self.file["status"][row] = SKIPPED

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


@dataclass
class SlotSampling:
    """Which cached frames a reasoning item sees (ALOE: 25 frames, strided over the video).

    Frames are `start + stride * i` for i < num_frames, with stride = T_obs // num_frames over the
    T_obs observed frames (ALOE and SlotFormer: 128 // 25 = 5). Training draws `start` uniformly
    from every start that fits (ALOE's random choice, SlotFormer's start in [0, 8)); evaluation uses
    the fixed `start`. An item that asks for the future (`SlotFrames.sample(..., future=True)`: the
    predictive questions) has its window shifted by `future_shift` cached frames into the predicted
    frames (SlotFormer shifts by its whole rollout); in a cache without predicted frames nothing moves.
    """

    num_frames: int = 25
    random_start: bool = False  # True in training
    start: int = 0  # evaluation start (cached-frame units), clipped to the last start that fits
    drop_dynamics: bool = False  # serve only the static dims (the "-dyn" ablation)
    future_shift: int = -1  # -1: every predicted frame (SlotFormer); N: N cached frames, at most the predicted ones

    def __post_init__(self):
        if self.future_shift < -1:
            raise ValueError(f"future_shift must be -1 (all predicted frames) or >= 0, got {self.future_shift}")


class SlotFrames(Dataset):
    """Slot features of a cache, one item per video: `{"slots": float32 [F, K, D'], "presence": bool
    [F, K], "video_index", "frame_index": int64 [F] (source frames), "predicted": bool [F]}` with
    D' = d_static (drop_dynamics) or D.

    The HDF5 file is opened on first access in each process (each DataLoader worker), never in
    `__init__`, so the dataset pickles and every worker gets its own handle. Only `done` rows are
    served; `videos` lists them, and `skipped` maps the others to their status and reason.
    """

    def __init__(self, path: Path, sampling: SlotSampling | None = None, videos: list[int] | None = None):
        self.path = Path(path)
        self.sampling = sampling or SlotSampling()
        self.attrs = read_attrs(self.path)
        with h5py.File(self.path, "r") as f:  # metadata only; closed before any worker forks
            index = f["video_index"][:]
            status = f["status"][:]
            reasons = f["skip_reason"][:]
            self.frame_index = f["frame_index"][:]
        self.rows = {int(v): i for i, v in enumerate(index)}
        self.skipped = {int(v): (STATUS_NAMES[int(s)], r.decode()) for v, s, r in zip(index, status, reasons)
                        if s != DONE}
        wanted = [int(v) for v in index] if videos is None else list(videos)
        absent = [v for v in wanted if v not in self.rows]
        if absent:
            raise DataError(self.path, f"videos {absent[:5]} are not in this cache "
                                       f"({self.attrs['video_index_first']}-{self.attrs['video_index_last']})")
        self.videos = [v for v in wanted if v not in self.skipped]
        self.layout = SlotLayout.of(self.attrs)
        self.t, self.t_observed = self.layout.frames_per_video, self.layout.observed_frames
        n = self.sampling.num_frames
        if not 1 <= n <= self.t_observed:
            raise DataError(self.path, f"cannot sample {n} frames (data.num_frames) from its {self.t_observed} "
                                       "observed frames per video")
        self.stride = self.t_observed // n
        self.last_start = self.t_observed - (n - 1) * self.stride - 1
        predicted = self.t - self.t_observed
        shift = self.sampling.future_shift
        self.future_shift = predicted if shift < 0 else min(shift, predicted)  # cached frames
        self.dim = self.layout.served_dim(self.sampling.drop_dynamics)
        self._file = None
        self._pid = None
        self._memory: dict[str, np.ndarray] | None = None

    def slot_objects(self) -> dict[int, np.ndarray]:
        """Grounded caches: video index -> the object id of each slot track [K] (-1: none), for the served videos."""
        if "grounding" not in self.attrs:
            raise DataError(self.path, "holds no slot objects: extract with --ground (slots matched to the "
                                       "annotated objects by their masks)")
        with h5py.File(self.path, "r") as f:
            table = f["slot_objects"][:]
        return {v: table[self.rows[v]].astype(np.int64) for v in self.videos}

    def preload(self) -> "SlotFrames":
        """Reads the served dims of every row into memory once; later reads touch no file."""
        with h5py.File(self.path, "r") as f:
            self._memory = {"slots": f["slots"][:, :, :, :self.dim], "presence": f["presence"][:]}
        return self

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"] = state["_pid"] = None
        return state

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        """Releases this process's file handle (reopened on the next read)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __len__(self) -> int:
        return len(self.videos)

    def frames_for(self, start: int) -> np.ndarray:
        """Cached-frame positions sampled from `start`: [num_frames]."""
        return start + self.stride * np.arange(self.sampling.num_frames)

    def read(self, video_index: int, frames: np.ndarray | None = None, what: str = "slots") -> np.ndarray:
        """Features (`what="slots"`: [T or len(frames), K, D'] as stored, float16 or float32) or the
        presence mask (`what="presence"`: [T or len(frames), K] int8) of one video."""
        if video_index not in self.rows:
            raise DataError(self.path, f"video {video_index} is not in this cache")
        if video_index in self.skipped:
            status, reason = self.skipped[video_index]
            raise DataError(self.path, f"video {video_index} is {status}" + (f": {reason}" if reason else ""))
        row = self.rows[video_index]
        data = self._memory[what] if self._memory is not None else self._handle()[what]
        index = (slice(None), slice(None), slice(0, self.dim)) if what == "slots" else (slice(None), slice(None))
        if frames is not None:
            index = (slice(frames[0], frames[-1] + 1, self.stride), *index[1:])  # one strided read
        out = data[(row, *index)]
        if what == "slots" and not np.isfinite(out).all():  # a done row is finite (extraction skips others)
            raise DataError(self.path, f"video {video_index}: non-finite features in a row marked done (the file "
                                       "was altered or is damaged)")
        return out

    def __getitem__(self, i: int) -> dict:
        return self.sample(self.videos[i])

    @property
    def predicted(self) -> np.ndarray:
        """bool [T]: which cached frames are predicted rather than observed."""
        return np.arange(self.t) >= self.t_observed

    def sample(self, video: int, future: bool = False) -> dict:
        """The item of one video (by video index), sampled as configured; `future`: the window is
        shifted into the predicted frames (when the cache has them)."""
        s = self.sampling
        start = (int(torch.randint(0, self.last_start + 1, ()).item()) if s.random_start
                 else min(s.start, self.last_start))
        frames = self.frames_for(start) + (self.future_shift if future else 0)  # [F] cached-frame positions
        slots = torch.from_numpy(np.asarray(self.read(video, frames), dtype=np.float32))  # [F, K, D']
        presence = torch.from_numpy(self.read(video, frames, "presence") > 0)  # [F, K]
        return {"slots": slots, "presence": presence, "video_index": video,
                "frame_index": torch.from_numpy(self.frame_index[frames]),
                "predicted": torch.from_numpy(self.predicted[frames])}


def summary(path: Path, sample_rows: int = 64) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(attributes, row status and sizes, feature statistics over up to `sample_rows` done rows)."""
    path = Path(path)
    attrs = read_attrs(path)
    with h5py.File(path, "r") as f:
        status = f["status"][:]
        index = f["video_index"][:]
        reasons = f["skip_reason"][:]
        shape, dtype = f["slots"].shape, f["slots"].dtype
        done_rows = np.flatnonzero(status == DONE)[:sample_rows]
        sample = f["slots"][np.sort(done_rows)].astype(np.float32) if len(done_rows) else None
    shown = list(ATTRS) + [k for k in OPTIONAL_ATTRS if k in attrs]
    attr_table = pd.DataFrame([(k, _short(attrs[k])) for k in shown], columns=["attribute", "value"])
    size = path.stat().st_size
    layout = SlotLayout.of(attrs)
    rows = [("shape [N, T, K, D]", str(list(shape))), ("dtype", str(dtype)),
            ("frames observed / predicted", f"{layout.observed_frames} / {layout.predicted_frames}"),
            ("videos done", int((status == DONE).sum())), ("videos skipped", int((status == SKIPPED).sum())),
            ("videos pending", int((status == PENDING).sum())), ("file size (MB)", f"{size / 2**20:.2f}"),
            ("bytes per video", f"{size / max(len(index), 1):.0f}")]
    rows += [(f"skipped video {int(v)}", r.decode()) for v, s, r in zip(index, status, reasons) if s == SKIPPED]
    status_table = pd.DataFrame(rows, columns=["item", "value"])
    stats = []
    if sample is not None:
        d_static = layout.d_static
        for name, part in (("static", sample[..., :d_static]), ("dynamics", sample[..., d_static:])):
            if part.shape[-1]:
                stats.append({"features": name, "dims": part.shape[-1], "videos sampled": len(sample),
                              "mean": float(part.mean()), "std": float(part.std()),
                              "min": float(part.min()), "max": float(part.max()),
                              "non-finite": int((~np.isfinite(part)).sum())})
    return attr_table, status_table, pd.DataFrame(stats)


def _short(value, width: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= width else text[:width - 3] + "..."
