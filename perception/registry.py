"""Builds the perception model a config names; the one place that maps names to classes."""
from __future__ import annotations

import torch
import torch.nn as nn

from perception.config import PerceptionConfig
from perception.iodine import Decomposition, Iodine, decompose_frames

MODELS = ("iodine",)


def build_model(cfg: PerceptionConfig) -> nn.Module:
    size = tuple(cfg.frames.preprocess.size)
    if cfg.model == "iodine":
        return Iodine(cfg.iodine, size)
    raise NotImplementedError(f"perception model {cfg.model!r} is not implemented; known: {MODELS}")


def train_clip_len(cfg: PerceptionConfig) -> int:
    """Frames per training sample: 1 for image models."""
    if cfg.model == "iodine":
        return 1
    raise NotImplementedError(f"perception model {cfg.model!r} is not implemented; known: {MODELS}")


def training_forward(model: nn.Module, cfg: PerceptionConfig, clips: torch.Tensor):
    """The training objective's forward pass on clips [B, L, 3, H, W]; returns the model output."""
    if cfg.model == "iodine":
        return model(clips.flatten(0, 1))
    raise NotImplementedError(f"perception model {cfg.model!r} is not implemented; known: {MODELS}")


def decompose(model: nn.Module, cfg: PerceptionConfig, video: torch.Tensor,
              seeds: torch.Tensor | None = None) -> Decomposition:
    """Per-frame masks, means, reconstructions and latents of video [B, T, 3, H, W] (no grad);
    seeds [B, T] fix the latent noise of each frame (deterministic evaluation)."""
    with torch.no_grad():
        if cfg.model == "iodine":
            return decompose_frames(model, video, seeds)
    raise NotImplementedError(f"perception model {cfg.model!r} is not implemented; known: {MODELS}")
