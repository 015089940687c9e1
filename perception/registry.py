"""The table from a model's name to its class: the one place that knows which perception models exist.

Every model implements `perception.interface.PerceptionModel`. The functions below are what the stages call
with a config and a model; they only look the class up or call the interface, never branch on a name. Adding a
model is one module, one `register` line and one preset (docs/architecture.md).
"""
from __future__ import annotations

import torch

from perception.config import PerceptionConfig
from perception.interface import PerceptionModel, Rollout, curriculum_length  # noqa: F401  (curriculum_length: for users)
from perception.iodine import Decomposition, Iodine
from perception.oddn import Oddn
from perception.provide import Provide

MODELS: dict[str, type[PerceptionModel]] = {}


def register(cls: type[PerceptionModel]) -> type[PerceptionModel]:
    """Adds a model class under its `name` (usable as a decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no `name`")
    MODELS[cls.name] = cls
    return cls


for _cls in (Iodine, Oddn, Provide):
    register(_cls)


def model_class(cfg: PerceptionConfig) -> type[PerceptionModel]:
    """The class of the model a config names."""
    try:
        return MODELS[cfg.model]
    except KeyError:
        raise NotImplementedError(f"perception model {cfg.model!r} is not implemented; known: {sorted(MODELS)}") \
            from None


def build_model(cfg: PerceptionConfig) -> PerceptionModel:
    return model_class(cfg).build(cfg)


def model_label(cfg: PerceptionConfig) -> str:
    """The model and its variant, e.g. `oddn` or `oddn/iodine_linear` (tables, file attributes)."""
    return model_class(cfg).label(cfg)


def is_video_model(cfg: PerceptionConfig) -> bool:
    """Whether the model trains on clips and predicts future frames."""
    return model_class(cfg).is_video


def train_clip_len(cfg: PerceptionConfig, step: int | None = None) -> int:
    """Frames per training sample at `step` (None: the longest of the run): 1 for image models."""
    return model_class(cfg).clip_len(cfg, step)


def training_forward(model: torch.nn.Module, cfg: PerceptionConfig, clips: torch.Tensor):
    """The training objective's forward pass on clips [B, L, 3, H, W] through `model`, which may be a
    distributed wrapper of the model; returns the model output."""
    return model(model_class(cfg).training_input(clips))


def decompose(model: PerceptionModel, cfg: PerceptionConfig, video: torch.Tensor,
              seeds: torch.Tensor | None = None) -> Decomposition:
    """Per-frame masks, means, reconstructions and latents of video [B, T, 3, H, W] (no grad);
    seeds [B, T] fix the latent noise of each frame (deterministic evaluation)."""
    return model.decompose(video, seeds)


def feature_dims(model: PerceptionModel, cfg: PerceptionConfig) -> tuple[int, int]:
    """(static dims, dynamics dims) of `slot_features`."""
    return model.feature_dims()


def slot_features(model: PerceptionModel, cfg: PerceptionConfig, video: torch.Tensor,
                  seeds: torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame slot features of video [B, T, 3, H, W] for reasoning: [B, T, K, D_static + D_dyn]."""
    with torch.no_grad():
        return model.slot_features(video, seeds)


def rollout_features(model: PerceptionModel, cfg: PerceptionConfig, video: torch.Tensor, steps: int,
                     seeds: torch.Tensor | None = None) -> torch.Tensor:
    """Slot features of video [B, T, 3, H, W] then of `steps` predicted frames: [B, T + steps, K, D]; a model
    without a predictor raises ValueError."""
    with torch.no_grad():
        return model.rollout_features(video, steps, seeds)


def predict(model: PerceptionModel, cfg: PerceptionConfig, context: torch.Tensor, steps: int,
            seeds: torch.Tensor | None = None) -> Rollout:
    """Future frames of a video model from context frames [B, C, 3, H, W]."""
    return model.predict(context, steps, seeds)
