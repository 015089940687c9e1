"""Video decoding (PyAV or PNG frame folders) into uint8 [T, H, W, 3], and mp4 encoding."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import av
import numpy as np
from PIL import Image

from qa_data.errors import DataError


def read_video(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """Decodes an mp4 (or a folder of PNG frames) into uint8 [T, H, W, 3]."""
    path = Path(path)
    if path.is_dir():
        return _read_png_dir(path, max_frames)
    if not path.is_file():
        raise DataError(path, "video not found")
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(path, "no video stream")
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except av.FFmpegError as e:
        raise DataError(path, f"cannot decode video ({e})") from e
    if not frames:
        raise DataError(path, "video has no decodable frames")
    return np.stack(frames)  # [T, H, W, 3]


def _read_png_dir(path: Path, max_frames: int | None) -> np.ndarray:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise DataError(path, "frame folder has no PNG/JPEG frames")
    files = files[:max_frames] if max_frames else files
    frames = []
    for f in files:
        try:
            frames.append(np.asarray(Image.open(f).convert("RGB")))
        except OSError as e:
            raise DataError(f, f"cannot read frame ({e})") from e
    if len({fr.shape for fr in frames}) != 1:
        raise DataError(path, "frames have different sizes")
    return np.stack(frames)


def count_frames(path: str | Path) -> int:
    """Number of frames, from the container header when it has one, else by decoding."""
    path = Path(path)
    if path.is_dir():
        return len([p for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")])
    if not path.is_file():
        raise DataError(path, "video not found")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(path, "no video stream")
            n = container.streams.video[0].frames
            if n:
                return int(n)
            return sum(1 for _ in container.decode(video=0))
    except av.FFmpegError as e:
        raise DataError(path, f"cannot open video ({e})") from e


# x264's macroblock-tree rate control made the bitstream of the same frames differ from call to call within a
# process (in 11 of 32 encodings: its result depends on memory it does not initialise); without it, 64 of 64
# encodings were identical (docs/benchmarks.md). The CLEVRER-sim generator turns it off.
DETERMINISTIC_X264 = "mbtree=0"


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: int = 25, crf: int = 18,
                pix_fmt: str = "yuv420p", preset: str = "veryfast", x264_params: str = DETERMINISTIC_X264) -> None:
    """Encodes uint8 frames [H, W, 3] to an H.264 mp4, atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with av.open(str(tmp), "w", format="mp4") as container:
            stream = None
            for index, frame in enumerate(frames):
                if stream is None:
                    h, w = frame.shape[:2]
                    stream = container.add_stream("libx264", rate=fps)
                    stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
                    # threads=1: the generator parallelises over videos, and x264's output is then
                    # independent of the machine's core count.
                    stream.options = {"crf": str(crf), "preset": preset, "threads": "1",
                                      **({"x264-params": x264_params} if x264_params else {})}
                video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                video_frame.pts = index
                for packet in stream.encode(video_frame):
                    container.mux(packet)
            if stream is None:
                raise ValueError(f"{path}: no frames to write")
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
