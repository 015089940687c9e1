"""Instance masks in CLEVRER's `derender_proposals/proposal_%05d.json` format (COCO RLE).

File schema: {video_index, video_filename, frames: [{frame_index, objects: [{mask: {size: [H, W],
counts: <RLE string>}, color, material, shape, score, frame_index, video_index}]}]}.
Decoded masks are integer arrays [T, H, W]: 0 = background, object_id + 1 for an object.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from pycocotools import mask as mask_utils

from qa_data.clevrer.annotations import ObjectProperty, read_json
from qa_data.errors import DataError


def encode_frame_objects(seg: np.ndarray, objects: Sequence[ObjectProperty], frame_index: int,
                         video_index: int) -> list[dict]:
    """RLE-encodes every object visible in one instance-id frame `seg` [H, W] (0 = bg, id+1)."""
    out = []
    for o in objects:
        m = seg == (o.object_id + 1)
        if not m.any():
            continue
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        out.append({
            "mask": {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")},
            "color": o.color, "material": o.material, "shape": o.shape,
            "score": 1.0, "frame_index": frame_index, "video_index": video_index,
        })
    return out


def proposals_json(seg_frames: np.ndarray, objects: Sequence[ObjectProperty], video_index: int) -> dict:
    """Whole proposal file for instance-id frames [T, H, W]."""
    return {
        "video_index": video_index,
        "video_filename": f"video_{video_index:05d}.mp4",
        "frames": [
            {"frame_index": t, "objects": encode_frame_objects(seg, objects, t, video_index)}
            for t, seg in enumerate(seg_frames)
        ],
    }


def rle_counts(counts: str) -> list[int]:
    """The run lengths of a COCO compressed RLE string (pycocotools' `rleFrString`): 5 bits per
    character from '0' (48), a continuation bit, a sign bit, runs after the second given relative
    to the run two before. Raises ValueError for a character outside the code's range."""
    runs: list[int] = []
    p = 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            if p >= len(counts):
                raise ValueError("the string ends inside a run length")
            c = ord(counts[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"character {counts[p]!r} at {p} is not an RLE code")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


def check_rle(size, counts, path, where: str) -> None:
    """A mask's size is [H, W] of positive integers and its run lengths are non-negative and cover H x W."""
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise DataError(path, f"{where}: mask size must be [height, width] of positive integers, got {size!r}")
    if not isinstance(counts, str):
        raise DataError(path, f"{where}: mask counts must be a compressed RLE string, got {type(counts).__name__}")
    try:
        runs = rle_counts(counts)
    except ValueError as e:
        raise DataError(path, f"{where}: corrupt RLE mask ({e})") from None
    if any(r < 0 for r in runs):
        raise DataError(path, f"{where}: corrupt RLE mask (a negative run length)")
    total = sum(runs)
    if total != size[0] * size[1]:
        raise DataError(path, f"{where}: RLE run lengths add up to {total} pixels, but the mask size "
                              f"{size[0]}x{size[1]} has {size[0] * size[1]}")


def check_proposals(data, path: str | Path = "<proposals>") -> list[int]:
    """Checks a proposal file without decoding its masks: the layout, every object's fields and score, every
    RLE mask (`check_rle`) and one mask size throughout. Returns the number of objects in each frame; raises
    DataError naming the file, frame and object."""
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise DataError(path, "proposal file must be an object with a 'frames' list")
    size, counts_per_frame = None, []
    for t, fr in enumerate(data["frames"]):
        objs = fr.get("objects") if isinstance(fr, dict) else None
        if not isinstance(objs, list):
            raise DataError(path, f"frames[{t}] has no 'objects' list")
        if not all(isinstance(o, dict) for o in objs):
            raise DataError(path, f"frames[{t}]: every object must be a JSON object")
        scores = [o.get("score", 1.0) for o in objs]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in scores):
            raise DataError(path, f"frames[{t}]: object scores must be finite numbers, got {scores}")
        for j, ob in enumerate(objs):
            where = f"frames[{t}].objects[{j}]"
            try:
                mask_size, counts = ob["mask"]["size"], ob["mask"]["counts"]
                key = (ob["color"], ob["material"], ob["shape"])
            except (KeyError, TypeError) as e:
                raise DataError(path, f"{where} is malformed (missing or wrong {e})") from None
            check_rle(mask_size, counts, path, f"{where} ({' '.join(map(str, key))})")
            if size is None:
                size = list(mask_size)
            elif list(mask_size) != size:
                raise DataError(path, f"frames[{t}]: mask size {list(mask_size)} differs from {size}")
        counts_per_frame.append(len(objs))
    return counts_per_frame


def decode_proposals(data: dict, path: str | Path = "<proposals>",
                     object_property: Sequence[ObjectProperty] | None = None) -> np.ndarray:
    """Decodes a proposal file (checked by `check_proposals`) into int16 instance ids [T, H, W] (0 = background).

    With `object_property` (the video's annotation) an object's id is matched by its
    color/material/shape, which identify it uniquely in CLEVRER. Without it (test split), ids are
    given in order of first appearance of each attribute triple. Overlapping masks (real
    proposals overlap) are resolved in favour of the higher score.
    """
    check_proposals(data, path)
    frames = data["frames"]
    if not frames:
        raise DataError(path, "proposal file has no frames")
    ids: dict[tuple[str, str, str], int] = {}
    if object_property is not None:
        ids = {(o.color, o.material, o.shape): o.object_id for o in object_property}
    out = None
    for t, fr in enumerate(frames):
        for j, ob in sorted(enumerate(fr["objects"]), key=lambda jo: jo[1].get("score", 1.0)):  # lowest score first
            key = (ob["color"], ob["material"], ob["shape"])
            rle = {"size": list(ob["mask"]["size"]), "counts": ob["mask"]["counts"].encode("ascii")}
            if out is None:
                out = np.zeros((len(frames), *rle["size"]), dtype=np.int16)
            if key not in ids:
                if object_property is not None:
                    raise DataError(path, f"frames[{t}]: object {' '.join(key)} is not in the annotation")
                ids[key] = len(ids)
            try:
                m = mask_utils.decode(rle).astype(bool)
            except Exception as e:  # pycocotools raises bare Exceptions on corrupt RLE
                raise DataError(path, f"frames[{t}].objects[{j}]: corrupt RLE mask ({e})") from e
            out[t][m] = ids[key] + 1
    if out is None:
        raise DataError(path, "no object masks in any frame; the mask size is unknown")
    return out


def load_masks(path: str | Path, object_property: Sequence[ObjectProperty] | None = None) -> np.ndarray:
    """Instance ids [T, H, W] from a proposal file."""
    return decode_proposals(read_json(path), path, object_property)
