"""Frame preprocessing shared by every model: crop and resize uint8 frames to float tensors.

Modes: `provide` (PROVIDE / IODINE on CLEVRER: centre crop to a square, resize, 64x64 by default),
`oddn` (ODDN reasoning: resize to 64x96, no crop) and `resize` (any size, for tiny presets).
Masks go through the same crop and a nearest-neighbour resize, so they stay aligned.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class PreprocessConfig:
    mode: str = "resize"  # provide | oddn | resize
    size: list[int] = field(default_factory=lambda: [64, 96])  # output [H, W]


PAPER_SIZES = {"provide": [64, 64], "oddn": [64, 96]}


def _crop_box(h: int, w: int, mode: str) -> tuple[int, int, int, int]:
    if mode == "provide":  # centre square (480x320 -> 320x320)
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        return top, left, s, s
    if mode in ("oddn", "resize"):
        return 0, 0, h, w
    raise ValueError(f"unknown preprocessing mode {mode!r}; expected provide | oddn | resize")


def preprocess_frames(frames: np.ndarray, cfg: PreprocessConfig) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> float32 [T, 3, h, w] in [0, 1]."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames [T, H, W, 3], got {frames.shape}")
    top, left, ch, cw = _crop_box(frames.shape[1], frames.shape[2], cfg.mode)
    x = torch.from_numpy(np.ascontiguousarray(frames[:, top:top + ch, left:left + cw]))
    x = x.permute(0, 3, 1, 2).float() / 255.0  # [T, 3, ch, cw]
    if [ch, cw] != list(cfg.size):
        x = F.interpolate(x, size=tuple(cfg.size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp_(0.0, 1.0)


def preprocess_masks(masks: np.ndarray, cfg: PreprocessConfig) -> torch.Tensor:
    """Instance ids [T, H, W] -> int64 [T, h, w] with the frames' crop and a nearest resize."""
    top, left, ch, cw = _crop_box(masks.shape[1], masks.shape[2], cfg.mode)
    m = torch.from_numpy(np.ascontiguousarray(masks[:, top:top + ch, left:left + cw]).astype(np.int64))
    if [ch, cw] != list(cfg.size):
        m = F.interpolate(m[:, None].float(), size=tuple(cfg.size), mode="nearest-exact")[:, 0].long()
    return m
