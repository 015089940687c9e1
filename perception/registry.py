"""Builds the perception model a config names; the one place that maps names to classes.

Every model offers, through the functions here: a training forward pass on clips, a per-frame
decomposition (evaluation), slot features for reasoning and, for video models, prediction.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from perception.config import PerceptionConfig
from perception.iodine import Decomposition, Iodine, decompose_frames, infer_latents
from perception.oddn import Oddn, Rollout
from perception.provide import Provide

MODELS = ("iodine", "oddn", "provide")


def _unknown(cfg: PerceptionConfig) -> NotImplementedError:
    return NotImplementedError(f"perception model {cfg.model!r} is not implemented; known: {MODELS}")


def build_model(cfg: PerceptionConfig) -> nn.Module:
    size = tuple(cfg.frames.preprocess.size)
    if cfg.model == "iodine":
        return Iodine(cfg.iodine, size)
    if cfg.model == "oddn":
        return Oddn(cfg.iodine, cfg.oddn, size)
    if cfg.model == "provide":
        return Provide(cfg.iodine, cfg.provide, size)
    raise _unknown(cfg)


def model_label(cfg: PerceptionConfig) -> str:
    """The model and its variant, e.g. `oddn` or `oddn/iodine_linear` (tables, file attributes)."""
    if cfg.model == "oddn" and cfg.oddn.variant != "oddn":
        return f"oddn/{cfg.oddn.variant}"
    return cfg.model


def is_video_model(cfg: PerceptionConfig) -> bool:
    """Whether the model trains on clips and predicts future frames."""
    if cfg.model in MODELS:
        return cfg.model != "iodine"
    raise _unknown(cfg)


def curriculum_length(schedule: list[list[int]], step: int) -> int:
    """Clip length at optimizer step `step` (0-based) of a [[from_step, frames], ...] schedule."""
    if not schedule or schedule[0][0] != 0:
        raise ValueError(f"a curriculum must start at step 0, got {schedule}")
    if any(len(entry) != 2 for entry in schedule) or [s for s, _ in schedule] != sorted(s for s, _ in schedule):
        raise ValueError(f"a curriculum is a list of [from_step, frames] with increasing steps, got {schedule}")
    return [frames for start, frames in schedule if start <= step][-1]


def train_clip_len(cfg: PerceptionConfig, step: int | None = None) -> int:
    """Frames per training sample at `step` (None: the longest of the run): 1 for image models."""
    if cfg.model == "iodine":
        return 1
    if cfg.model in ("oddn", "provide"):
        schedule = cfg.oddn.curriculum if cfg.model == "oddn" else cfg.provide.curriculum
        if step is None:
            return max(frames for _, frames in schedule)
        return curriculum_length(schedule, step)
    raise _unknown(cfg)


def training_forward(model: nn.Module, cfg: PerceptionConfig, clips: torch.Tensor):
    """The training objective's forward pass on clips [B, L, 3, H, W]; returns the model output."""
    if cfg.model == "iodine":
        return model(clips.flatten(0, 1))
    if cfg.model in ("oddn", "provide"):
        return model(clips)
    raise _unknown(cfg)


def _static_model(model: nn.Module, cfg: PerceptionConfig) -> Iodine:
    if cfg.model == "iodine":
        return model
    if cfg.model == "oddn":
        return model.iodine
    raise _unknown(cfg)


def decompose(model: nn.Module, cfg: PerceptionConfig, video: torch.Tensor,
              seeds: torch.Tensor | None = None) -> Decomposition:
    """Per-frame masks, means, reconstructions and latents of video [B, T, 3, H, W] (no grad);
    seeds [B, T] fix the latent noise of each frame (deterministic evaluation)."""
    if cfg.model == "provide":  # a sequence model: frames are inferred in order
        return model.decompose(video, seeds)
    with torch.no_grad():
        return decompose_frames(_static_model(model, cfg), video, seeds)


def feature_dims(model: nn.Module, cfg: PerceptionConfig) -> tuple[int, int]:
    """(static dims, dynamics dims) of `slot_features`."""
    if cfg.model == "iodine":
        return cfg.iodine.latent_dim, 0
    if cfg.model == "oddn":
        return cfg.iodine.latent_dim, model.dyn_dim
    if cfg.model == "provide":
        return cfg.iodine.latent_dim, 0
    raise _unknown(cfg)


def slot_features(model: nn.Module, cfg: PerceptionConfig, video: torch.Tensor,
                  seeds: torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame slot features of video [B, T, 3, H, W] for reasoning: [B, T, K, D_static + D_dyn].

    Static features are posterior means of the last refinement (`Provide.features`: after each
    frame's last refinement); see `feature_dims` for the split and `Oddn.features` for the dynamics.
    """
    with torch.no_grad():
        if cfg.model == "iodine":
            return infer_latents(model, video, seeds)[1]
        if cfg.model in ("oddn", "provide"):
            return model.features(video, seeds)
    raise _unknown(cfg)


def predict(model: nn.Module, cfg: PerceptionConfig, context: torch.Tensor, steps: int,
            seeds: torch.Tensor | None = None) -> Rollout:
    """Future frames of a video model from context frames [B, C, 3, H, W]."""
    if not is_video_model(cfg):
        raise ValueError(f"{model_label(cfg)} is an image model; it does not predict frames")
    return model.rollout(context, steps, seeds)
