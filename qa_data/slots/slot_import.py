"""Slots from other models (SlotFormer's StoSAVi, SAVi, ...) imported into the slot cache.

Inputs:
- SlotFormer's pickle: `{'train'|'val'|'test': {'video_XXXXX.mp4': array [T, K, D]}}` (one file for every
  split); read with an unpickler that builds only plain containers and numpy arrays, so a pickle someone
  handed you cannot run code;
- an `.npz` of `video_XXXXX -> [T, K, D]` (one split), read with `allow_pickle=False`.

Every video of the dataset's split gets a row: the input's features, or a skip saying why (not in the
input, wrong shape, non-finite values). Videos of the input that the split does not have are reported. The
cache's producer is `import`; its identity is the `--label` and the feature layout (the same for every split
of one model), and `source_sha256` is the input file's hash.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import pickle
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa_data.clevrer.layout import ClevrerLayout, canonical_split
from qa_data.errors import DataError
from qa_data.provenance import code_version, file_sha256
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

CLEVRER_FRAMES = 128
PICKLE_SPLITS = {"train": ("train",), "validation": ("val", "validation"), "test": ("test",)}
_VIDEO_KEY = re.compile(r"^(?:.*/)?video_(\d+)(?:\.mp4)?$")

# The globals a pickle of numpy arrays needs (numpy 1 and 2 names), and nothing else.
SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}


class PlainUnpickler(pickle.Unpickler):
    """Builds dicts, lists, tuples, strings, numbers and numpy arrays; any other object is refused before
    it is created (so no code in the file runs)."""

    def find_class(self, module: str, name: str):
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not a plain container or numpy array")


def load_plain_pickle(path: Path):
    """A pickle's contents, if they are only plain containers and numpy arrays; DataError otherwise."""
    data = Path(path).read_bytes()
    try:
        return PlainUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as e:
        raise DataError(path, f"refused: the pickle holds {e}; only containers and numpy arrays are loaded") from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as e:
        raise DataError(path, f"not a readable pickle ({type(e).__name__}: {e})") from None


def video_index_of(key: str) -> int | None:
    """`video_10000.mp4`, `video_10000` (or a path ending so) -> 10000; None for other keys."""
    m = _VIDEO_KEY.match(str(key))
    return int(m.group(1)) if m else None


def read_input(path: Path, split: str) -> dict[str, np.ndarray]:
    """The input's arrays of one split, by their original keys."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "slot file not found")
    if path.suffix == ".npy":
        raise DataError(path, "a .npy file holds one array; slots come as an .npz of video_XXXXX -> [T, K, D] or as "
                              "SlotFormer's pickle of every split")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except ValueError as e:  # object arrays need pickle: refused
            raise DataError(path, f"refused: {e}") from None
        except (OSError, EOFError) as e:
            raise DataError(path, f"not a readable .npz ({e})") from None
    data = load_plain_pickle(path)
    if not isinstance(data, dict):
        raise DataError(path, f"expected SlotFormer's layout {{'train'|'val'|'test': {{video: array}}}}, got "
                              f"{type(data).__name__}")
    names = [n for n in PICKLE_SPLITS[split] if n in data]
    if not names:
        raise DataError(path, f"no {split!r} entry (keys: {sorted(map(str, data))[:6]})")
    videos = data[names[0]]
    if not isinstance(videos, dict):
        raise DataError(path, f"{names[0]!r}: expected a dict of video -> array, got {type(videos).__name__}")
    return videos


@dataclass
class ImportConfig:
    split: str = "train"
    d_dyn: int = 0  # the last d_dyn dims of each slot are dynamics (0: all static)
    frame_stride: int = 1  # the input's frames are source frames 0, S, 2S, ...
    label: str = ""  # the source's name (default: the input file's stem); the same for every split of one model
    dtype: str = "float16"

    def __post_init__(self):
        from qa_data.config import ConfigError

        if self.d_dyn < 0 or self.frame_stride < 1 or self.dtype not in ("float16", "float32"):
            raise ConfigError(f"need --d-dyn >= 0, --frame-stride >= 1 and dtype float16|float32; got {self.d_dyn}, "
                              f"{self.frame_stride}, {self.dtype}")


@dataclass
class ImportResult:
    path: Path
    written: int = 0
    already_done: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # dataset videos without usable features
    extra: list[str] = field(default_factory=list)  # input keys the split does not have
    seconds: float = 0.0


def dataset_videos(layout: ClevrerLayout, split: str) -> list[int]:
    """The split's videos (annotations for a dataset without pixels)."""
    try:
        return layout.video_indices(split) if layout.rendered else layout.annotation_indices(split)
    except FileNotFoundError as e:
        raise DataError(layout.root, f"no {split} videos ({e})") from None


@holds_lock("out_dir")
def import_slots(input_path: Path, data_root: Path, out_dir: Path, cfg: ImportConfig) -> ImportResult:
    """Writes (or completes) `out_dir/<split>.h5` from another model's slot file."""
    input_path, layout, split = Path(input_path), ClevrerLayout(data_root), canonical_split(cfg.split)
    videos = dataset_videos(layout, split)
    if not videos:
        raise DataError(layout.root, f"split {split!r} has no videos")
    arrays = read_input(input_path, split)
    by_index, extra, wanted, key_of = {}, [], set(videos), {}
    for key, value in arrays.items():
        idx = video_index_of(key)
        if idx is None or idx not in wanted:
            extra.append(str(key))
        elif idx in by_index:  # `video_00000` and `video_0`: which one is meant cannot be told
            raise DataError(input_path, f"{key_of[idx]!r} and {str(key)!r} both name video {idx}")
        else:
            by_index[idx], key_of[idx] = value, str(key)
    shapes = {tuple(np.shape(v)) for v in by_index.values() if isinstance(v, np.ndarray) and np.ndim(v) == 3}
    if not shapes:
        raise DataError(input_path, f"no [T, K, D] array for any {split} video of {layout.root}")
    t, k, d = max(shapes, key=lambda s: sum(tuple(np.shape(v)) == s for v in by_index.values()))  # the common one
    if cfg.d_dyn > d:
        raise DataError(input_path, f"--d-dyn {cfg.d_dyn} is more than the {d} dims per slot")
    label = cfg.label or input_path.stem
    layout_info = {"label": label, "num_slots": k, "dim": d, "d_dyn": cfg.d_dyn, "frames": t,
                   "frame_stride": cfg.frame_stride}
    attrs = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "model": "imported", "model_label": label,
        "producer": "import",
        "producer_id": hashlib.sha256(json.dumps(layout_info, sort_keys=True).encode()).hexdigest(),
        "source_sha256": file_sha256(input_path),
        "producer_info": json.dumps({"input": str(input_path.resolve()), "layout": layout_info}, sort_keys=True),
        "extraction": json.dumps({"frame_stride": cfg.frame_stride, "dtype": cfg.dtype}, sort_keys=True),
        "dataset": "clevrer", "data_root": str(layout.root.resolve()), "dataset_id": layout.dataset_id, "split": split,
        **SlotLayout(d - cfg.d_dyn, cfg.d_dyn, k, cfg.frame_stride, t, t).attrs(),
        "source_frames": max(CLEVRER_FRAMES, (t - 1) * cfg.frame_stride + 1),
        "resolution": [0, 0], "video_index_first": videos[0], "video_index_last": videos[-1],
        "num_videos": len(videos), "code_version": code_version(),
    }
    path = split_file(out_dir, split)
    check_or_create(path, attrs, videos, list(range(0, t * cfg.frame_stride, cfg.frame_stride)), d, cfg.dtype)
    result = ImportResult(path, extra=extra)
    t0 = time.perf_counter()
    writer = CacheWriter(path)
    try:
        status = writer.status()
        for row, idx in enumerate(videos):
            if status[row] == DONE:
                result.already_done += 1
                continue
            value = by_index.get(idx)
            if value is None:
                reason = f"not in {input_path.name}"
            elif not isinstance(value, np.ndarray) or value.shape != (t, k, d):
                reason = f"features of shape {list(np.shape(value))}, the others have {[t, k, d]}"
            elif not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
                reason = f"features of dtype {value.dtype}, not real numbers"
            elif not np.isfinite(value).all():
                reason = "non-finite features"
            elif not np.isfinite(value.astype(cfg.dtype)).all():
                reason = (f"features up to {float(np.abs(value).max()):.4g} overflow {cfg.dtype} (import with "
                          "--dtype float32)")
            else:
                writer.write(idx, value.astype(np.float32))
                result.written += 1
                continue
            writer.skip(idx, reason)
            result.skipped.append((idx, reason))
        writer.flush()
    finally:
        writer.close()
    if extra:
        logger.warning("%s: %d entries are not %s videos of %s (left out): %s", input_path, len(extra), split,
                       layout.root, extra[:5])
    result.seconds = time.perf_counter() - t0
    return result
