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

from qa_data.annotations import ObjectProperty, read_json
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


def decode_proposals(data: dict, path: str | Path = "<proposals>",
                     object_property: Sequence[ObjectProperty] | None = None) -> np.ndarray:
    """Decodes a proposal file into int16 instance ids [T, H, W] (0 = background).

    With `object_property` (the video's annotation) an object's id is matched by its
    color/material/shape, which identify it uniquely in CLEVRER. Without it (test split), ids are
    given in order of first appearance of each attribute triple. Overlapping masks (real
    proposals overlap) are resolved in favour of the higher score.
    """
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise DataError(path, "proposal file must be an object with a 'frames' list")
    frames = data["frames"]
    if not frames:
        raise DataError(path, "proposal file has no frames")
    ids: dict[tuple[str, str, str], int] = {}
    if object_property is not None:
        ids = {(o.color, o.material, o.shape): o.object_id for o in object_property}
    size = None
    out = None
    for t, fr in enumerate(frames):
        objs = fr.get("objects") if isinstance(fr, dict) else None
        if not isinstance(objs, list):
            raise DataError(path, f"frames[{t}] has no 'objects' list")
        for j, ob in enumerate(sorted(objs, key=lambda o: o.get("score", 1.0))):
            try:
                rle = {"size": list(ob["mask"]["size"]), "counts": ob["mask"]["counts"].encode("ascii")}
                key = (ob["color"], ob["material"], ob["shape"])
            except (KeyError, TypeError, AttributeError) as e:
                raise DataError(path, f"frames[{t}].objects[{j}] is malformed ({e!r})") from e
            if size is None:
                size = tuple(rle["size"])
                out = np.zeros((len(frames),) + size, dtype=np.int16)
            elif tuple(rle["size"]) != size:
                raise DataError(path, f"frames[{t}]: mask size {rle['size']} differs from {list(size)}")
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
