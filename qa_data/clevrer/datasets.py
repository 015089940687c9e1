"""torch Datasets over a CLEVRER(-sim) split: clips of video frames with optional instance masks."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from qa_data.clevrer.annotations import load_annotation
from qa_data.clevrer.layout import ClevrerLayout, canonical_split
from qa_data.clevrer.masks import load_masks
from qa_data.clevrer.preprocess import PreprocessConfig, preprocess_frames, preprocess_masks
from qa_data.clevrer.video_io import count_frames, read_video
from qa_data.errors import DataError, SkipReport

logger = logging.getLogger(__name__)


@dataclass
class ClipConfig:
    clip_len: int = 8  # frames per clip
    stride: int = 1  # take every stride-th frame
    random_start: bool = True  # else `start_frame`
    start_frame: int = 0
    with_masks: bool = False
    expected_frames: int = 128  # shorter videos are defects (real CLEVRER has a few)
    skip_bad: bool = False  # count, log and report bad videos instead of raising
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)


class ClevrerClips(Dataset):
    """Clips `{frames [T, 3, h, w] float, masks [T, h, w] int64 (optional), video_index, start}`.

    Videos are checked when the dataset is built (frame count from the container header, mask
    files present): a bad one raises DataError naming the file, or with `skip_bad` is counted in
    `self.skipped` and left out. Nothing is resampled behind the caller's back.
    """

    def __init__(self, root, split: str, cfg: ClipConfig, indices: list[int] | None = None):
        self.layout = ClevrerLayout(root)
        self.split = canonical_split(split)
        self.cfg = cfg
        self.span = (cfg.clip_len - 1) * cfg.stride + 1
        if self.span > cfg.expected_frames:
            raise ValueError(f"a clip spans {self.span} frames, more than expected_frames={cfg.expected_frames}")
        self.skipped = SkipReport()
        self.indices = []
        for idx in (self.layout.video_indices(self.split) if indices is None else indices):
            try:
                self._check(idx)
                self.indices.append(idx)
            except DataError as e:
                if not cfg.skip_bad:
                    raise
                self.skipped.add(e)
        if self.skipped:
            logger.warning("%s/%s: %s", root, self.split, self.skipped.summary())

    def _check(self, idx: int) -> None:
        src = self.layout.video_source(self.split, idx)
        n = count_frames(src)
        if n < self.cfg.expected_frames:
            raise DataError(src, f"video has {n} frames, expected {self.cfg.expected_frames}")
        if self.cfg.with_masks and not self.layout.proposal_path(idx).is_file():
            raise DataError(self.layout.proposal_path(idx), "mask (derender proposal) file not found")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        cfg, idx = self.cfg, self.indices[i]
        last_start = cfg.expected_frames - self.span
        start = (int(torch.randint(0, last_start + 1, ()).item()) if cfg.random_start
                 else min(cfg.start_frame, last_start))
        frame_ids = np.arange(start, start + self.span, cfg.stride)
        src = self.layout.video_source(self.split, idx)
        video = read_video(src, max_frames=int(frame_ids[-1]) + 1)
        if len(video) <= frame_ids[-1]:
            raise DataError(src, f"decoded {len(video)} frames, clip needs frame {frame_ids[-1]}")
        item = {"frames": preprocess_frames(video[frame_ids], cfg.preprocess),  # [T, 3, h, w]
                "video_index": idx, "start": start}
        if cfg.with_masks:
            ann_path = self.layout.annotation_path(self.split, idx)
            props = load_annotation(ann_path).object_property if ann_path.is_file() else None
            masks = load_masks(self.layout.proposal_path(idx), props)  # [T_all, H, W]
            if len(masks) <= frame_ids[-1]:
                raise DataError(self.layout.proposal_path(idx),
                                f"has {len(masks)} mask frames, clip needs frame {frame_ids[-1]}")
            if masks.shape[1:] != video.shape[1:3]:
                raise DataError(self.layout.proposal_path(idx),
                                f"mask size {masks.shape[1:]} differs from video {video.shape[1:3]}")
            item["masks"] = preprocess_masks(masks[frame_ids], cfg.preprocess)  # [T, h, w]
        return item
