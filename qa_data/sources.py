"""The video datasets a perception model can read, by name: one place that maps names to readers.

`clevrer`: the real CLEVRER layout or CLEVRER-sim (`qa_data.clevrer.datasets.ClevrerClips`, 128-frame
videos, splits train / validation / test). `bouncing_balls`: one HDF5 file per split
(`qa_data.balls.bouncing_balls.BallsClips`, any split name, the file's frame count).
"""
from __future__ import annotations

from pathlib import Path

from qa_data.balls.bouncing_balls import BallsClips
from qa_data.balls.bouncing_balls import video_indices as balls_indices
from qa_data.clevrer.datasets import ClevrerClips, ClipConfig
from qa_data.clevrer.layout import ClevrerLayout, canonical_split
from qa_data.config import ConfigError

DATASETS = ("clevrer", "bouncing_balls")
CLEVRER_FRAMES = 128


def _check(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")


def split_name(split: str, dataset: str) -> str:
    """CLEVRER names are canonical (`val` -> `validation`); Bouncing Balls splits are file names."""
    _check(dataset)
    return canonical_split(split) if dataset == "clevrer" else split


def video_indices(root: Path, split: str, dataset: str) -> list[int]:
    _check(dataset)
    if dataset == "clevrer":
        return ClevrerLayout(root).video_indices(split)
    return balls_indices(root, split)


def video_frames(root: Path, split: str, dataset: str) -> int:
    """Frames per video of a split."""
    _check(dataset)
    if dataset == "clevrer":
        return CLEVRER_FRAMES
    return BallsClips(root, split, ClipConfig(clip_len=1, expected_frames=1)).num_frames


def open_clips(root: Path, split: str, cfg: ClipConfig, dataset: str, indices: list[int] | None = None):
    """The clip dataset of a split: items {frames, masks (optional), video_index, start}."""
    _check(dataset)
    if dataset == "clevrer":
        return ClevrerClips(root, split, cfg, indices=indices)
    return BallsClips(root, split, cfg, indices=indices)
