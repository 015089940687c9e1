"""What every perception model offers the stages: training, evaluation, prediction and slot extraction call
only these methods, so no module outside the models branches on a model's name (docs/perception.md).

A model is an `nn.Module` subclass of `PerceptionModel`, registered by name in `perception/registry.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn as nn


def curriculum_length(schedule: list[list[int]], step: int | None = None) -> int:
    """Clip length at optimizer step `step` (0-based; None: the longest) of a [[from_step, frames], ...] schedule."""
    if not schedule or schedule[0][0] != 0:
        raise ValueError(f"a curriculum must start at step 0, got {schedule}")
    if any(len(entry) != 2 for entry in schedule) or [s for s, _ in schedule] != sorted(s for s, _ in schedule):
        raise ValueError(f"a curriculum is a list of [from_step, frames] with increasing steps, got {schedule}")
    if step is None:
        return max(frames for _, frames in schedule)
    return [frames for start, frames in schedule if start <= step][-1]


@dataclass
class Rollout:
    """Predicted frames from context frames (evaluation, figures)."""

    context_recon: torch.Tensor  # [B, C, 3, H, W] reconstructions of the context frames
    frames: torch.Tensor  # [B, S, 3, H, W] predicted frames
    z: torch.Tensor  # [B, C + S, K, D] inferred then predicted latents


class PerceptionModel(nn.Module):
    """The interface. Tensors: clips and videos are [B, T, 3, H, W] in [0, 1]; seeds [B, T] fix each frame's
    latent noise (deterministic evaluation and extraction)."""

    name: ClassVar[str] = ""  # the registry name, `model:` in a preset
    is_video: ClassVar[bool] = False  # trains on clips and predicts future frames
    # slot k is the same object in every frame of a video (PROVIDE's per-slot temporal state); models that decompose
    # each frame from the same start do not keep slot order (`perception.tracking` matches them into tracks)
    tracks_slots: ClassVar[bool] = False
    config_sections: ClassVar[tuple[str, ...]] = ()  # its own sections of PerceptionConfig, besides `iodine`
    table_label: ClassVar[str] = ""  # its row in the length tables (PROVIDE Table 1)
    sequential_row: ClassVar[bool] = False  # also evaluated frame by frame in order (IODINE -> SEQ-IODINE)

    @classmethod
    def build(cls, cfg) -> "PerceptionModel":
        """The model a PerceptionConfig describes."""
        raise NotImplementedError

    @classmethod
    def label(cls, cfg) -> str:
        """The model and its variant, e.g. `oddn/iodine_linear` (tables, cache attributes)."""
        return cls.name

    @classmethod
    def clip_len(cls, cfg, step: int | None = None) -> int:
        """Frames per training sample at optimizer step `step` (None: the longest of the run); 1 for images."""
        return 1

    @classmethod
    def training_input(cls, clips: torch.Tensor) -> torch.Tensor:
        """What `forward` takes in training, from clips [B, L, 3, H, W] (default: the clips themselves).

        `forward` is the training objective: an output with `loss`, `nll`, `kl`, `recon` [N, 3, H, W], `masks`
        and `means` (optionally `scalars`, a dict of extra logged values). Training calls it through the
        (possibly distributed) wrapper, so it must be `forward`."""
        return clips

    def decompose(self, video: torch.Tensor, seeds: torch.Tensor | None = None):
        """Per-frame masks, means, reconstructions and latents of a video (`perception.iodine.Decomposition`)."""
        raise NotImplementedError

    def feature_dims(self) -> tuple[int, int]:
        """(static dims, dynamics dims) of `slot_features`."""
        raise NotImplementedError

    def slot_features(self, video: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        """Per-frame slot features for reasoning: [B, T, K, D_static + D_dyn] (called without gradients)."""
        raise NotImplementedError

    def predict(self, context: torch.Tensor, steps: int, seeds: torch.Tensor | None = None):
        """Video models: `steps` future frames from context frames [B, C, 3, H, W] (`Rollout`)."""
        raise ValueError(f"{self.name} is an image model; it does not predict frames")

    def rollout_features(self, video: torch.Tensor, steps: int, seeds: torch.Tensor | None = None) -> torch.Tensor:
        """Video models: the slot features of video [B, T, 3, H, W], then of `steps` frames the model predicts
        after it: [B, T + steps, K, D_static + D_dyn] (called without gradients). The first T are `slot_features`;
        the predicted ones are what `predict` rolls out from the same frames."""
        raise ValueError(f"{self.name} is an image model: it has no predictor to roll out (rollouts need a video "
                         "model such as ODDN or PROVIDE)")

    def interpretability_figures(self, cfg, item: dict, out_dir: Path) -> list[Path]:
        """Figures that show what the model's dynamics mean (ODDN Fig. 10); none by default."""
        return []
