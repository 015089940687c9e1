"""Training frames: a preprocessed uint8 frame store per split, and step-indexed batch sampling.

Decoding an mp4 up to a random frame for every sample costs more than a tiny model's step, so
training reads from a store built once: HDF5 `frames` [V, T', h, w, 3] uint8 (every
`frame_stride`-th frame, preprocessed as the config says) and `video_index` [V]. The store's
attributes record what it was built from; a store that no longer matches is rebuilt.

Batches are a pure function of (seed, step): a resumed run draws exactly the batches the
uninterrupted run would have, whatever the number of processes.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from perception.config import FramesConfig
from qa_data.clevrer.datasets import ClipConfig
from qa_data.errors import DataError
from qa_data.runtime.atomic import written_whole
from qa_data.sources import open_clips, split_name, video_frames, video_indices

logger = logging.getLogger(__name__)

STORE_VERSION = 1


def store_path(cache_dir: Path, split: str, cfg: FramesConfig) -> Path:
    h, w = cfg.preprocess.size
    prefix = "" if cfg.dataset == "clevrer" else f"{cfg.dataset}_"
    name = f"{prefix}{split_name(split, cfg.dataset)}_{cfg.preprocess.mode}_{h}x{w}_s{cfg.frame_stride}.h5"
    return Path(cache_dir) / name


def _expected_attrs(root: Path, split: str, cfg: FramesConfig, indices: list[int]) -> dict:
    return {"version": STORE_VERSION, "data_root": str(Path(root).resolve()), "dataset": cfg.dataset,
            "split": split_name(split, cfg.dataset),
            "preprocess": repr(asdict(cfg.preprocess)), "frame_stride": cfg.frame_stride,
            "listed_videos": len(indices), "first_video": indices[0] if indices else -1,
            "last_video": indices[-1] if indices else -1}


def build_frame_store(root: Path, split: str, cfg: FramesConfig, cache_dir: Path, workers: int = 0,
                      expected_frames: int | None = None, show_progress: bool = True) -> Path:
    """Writes (or keeps, when up to date) the frame store of one split; returns its path.
    `expected_frames`: frames per video (default: the dataset's, 128 for CLEVRER)."""
    path = store_path(cache_dir, split, cfg)
    indices = video_indices(root, split, cfg.dataset)
    if not indices:
        raise FileNotFoundError(f"{root}: no videos found for split {split!r}")
    attrs = _expected_attrs(root, split, cfg, indices)
    if path.is_file():
        with h5py.File(path, "r") as f:
            if all(f.attrs.get(k) == v for k, v in attrs.items()):
                return path
        logger.info("%s: built from other data or settings, rebuilding", path)
    if expected_frames is None:
        expected_frames = video_frames(root, split, cfg.dataset)
    clips = open_clips(root, split, ClipConfig(
        clip_len=math.ceil(expected_frames / cfg.frame_stride), stride=cfg.frame_stride, random_start=False,
        expected_frames=expected_frames, skip_bad=cfg.skip_bad, preprocess=cfg.preprocess), cfg.dataset,
        indices=indices)
    if len(clips) == 0:
        raise FileNotFoundError(f"{root}/{split}: no usable videos ({clips.skipped.summary()})")
    t = clips.cfg.clip_len
    h, w = cfg.preprocess.size
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    loader = DataLoader(_Decoded(clips, cfg.skip_bad), batch_size=None, num_workers=workers,
                        generator=torch.Generator())  # leaves the global RNG alone
    kept = []
    with written_whole(path, tmp), h5py.File(tmp, "w") as f:
        frames = f.create_dataset("frames", (len(clips), t, h, w, 3), maxshape=(None, t, h, w, 3), dtype="uint8",
                                  chunks=(1, 1, h, w, 3))
        for item in tqdm(loader, total=len(clips), desc=f"frame store {split}", disable=not show_progress):
            if "error" in item:  # skip_bad: a video whose header passed but whose frames do not all decode
                clips.skipped.add(item["error"])
                continue
            frames[len(kept)] = (item["frames"].permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
            kept.append(item["video_index"])
        if not kept:
            raise FileNotFoundError(f"{root}/{split}: no usable videos ({clips.skipped.summary()})")
        frames.resize(len(kept), axis=0)
        f.create_dataset("video_index", data=np.asarray(kept, dtype=np.int64))
        f.attrs.update(attrs)
        f.attrs["skipped"] = clips.skipped.summary()
    if clips.skipped:
        logger.warning("%s/%s frame store: %s", root, split, clips.skipped.summary())
    return path


class _Decoded(Dataset):
    """The clips of a dataset; with `skip_bad`, a video that fails to decode is `{"error": DataError}` (a
    counted skip) instead of ending the run."""

    def __init__(self, clips: Dataset, skip_bad: bool):
        self.clips, self.skip_bad = clips, skip_bad

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict:
        try:
            return self.clips[i]
        except DataError as e:
            if not self.skip_bad:
                raise
            return {"error": e}


class StoreFrames(Dataset):
    """Clips read from a frame store: item (video row, first frame[, length]) -> float [L, 3, h, w]
    in [0, 1]; `clip_len` is the longest length asked for (and the default).

    The HDF5 file is opened lazily, once per process or worker.
    """

    def __init__(self, path: Path, clip_len: int = 1):
        self.path = Path(path)
        self.clip_len = clip_len
        with h5py.File(self.path, "r") as f:
            self.num_videos, self.num_frames = f["frames"].shape[:2]
        if clip_len > self.num_frames:
            raise ValueError(f"{self.path}: clips of {clip_len} frames, but videos have {self.num_frames}")
        self._file = None

    def __len__(self) -> int:
        return self.num_videos

    def __getitem__(self, key: tuple[int, ...]) -> torch.Tensor:
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        v, t = key[:2]
        length = key[2] if len(key) > 2 else self.clip_len
        clip = self._file["frames"][v, t:t + length]  # [L, h, w, 3] uint8
        return torch.from_numpy(clip).permute(0, 3, 1, 2).float() / 255.0


class StepBatchSampler(Sampler):
    """Yields this process's share of the global batch of every step from `start_step` on.

    The global batch of step s is drawn with `np.random.default_rng([seed, s])`: (video row,
    first frame, clip length) triples, uniform over videos and valid start frames. `clip_len`
    is a length or a function of the step (a curriculum). Process r of W takes rows r, r + W, ...
    """

    def __init__(self, num_videos: int, num_frames: int, clip_len: int | Callable[[int], int], global_batch: int,
                 seed: int, start_step: int, total_steps: int, rank: int = 0, world: int = 1):
        if global_batch % world:
            raise ValueError(f"global batch {global_batch} is not divisible by {world} processes")
        self.num_videos, self.num_frames = num_videos, num_frames
        self.clip_len = clip_len if callable(clip_len) else (lambda step, n=clip_len: n)
        self.global_batch, self.seed = global_batch, seed
        self.start_step, self.total_steps = start_step, total_steps
        self.rank, self.world = rank, world

    def batch(self, step: int) -> list[tuple[int, int, int]]:
        length = self.clip_len(step)
        if length > self.num_frames:
            raise ValueError(f"step {step}: clips of {length} frames, but the stored videos have {self.num_frames}")
        rng = np.random.default_rng([self.seed, step])
        videos = rng.integers(0, self.num_videos, self.global_batch)
        starts = rng.integers(0, self.num_frames - length + 1, self.global_batch)
        keys = [(v, t, length) for v, t in zip(videos.tolist(), starts.tolist())]
        return keys[self.rank::self.world]

    def __iter__(self):
        for step in range(self.start_step, self.total_steps):
            yield self.batch(step)

    def __len__(self) -> int:
        return max(self.total_steps - self.start_step, 0)
