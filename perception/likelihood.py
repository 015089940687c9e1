"""Spatial Gaussian mixture likelihood with a fixed variance (IODINE eq. 1; ODDN eq. 1)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

MIXTURES = ("pixel", "channel")


@dataclass
class MixtureTerms:
    """Per-pixel terms of one decode; every field is float32."""

    masks: torch.Tensor  # [B, K, 1, H, W] softmax over slots
    log_px: torch.Tensor  # [B, 1, H, W] log p(x_i | z), summed over channels
    posterior: torch.Tensor  # [B, K, 1, H, W] responsibilities p(slot k | x_i, z)
    nll: torch.Tensor  # [B] -sum_i log p(x_i | z), in nats


def scheduled_variance(schedule: list[list[float]], base: float, step: int | None) -> float:
    """The pixel variance at optimizer step `step` of a [[step, variance], ...] schedule, linear between its
    points and constant outside them; `base` when the schedule is empty; the last value when `step` is None
    (a trained model)."""
    if not schedule:
        return float(base)
    if any(len(p) != 2 for p in schedule) or any(v <= 0 for _, v in schedule):
        raise ValueError(f"variance_schedule must be [[step, variance > 0], ...], got {schedule}")
    steps = [float(s) for s, _ in schedule]
    if steps != sorted(steps):
        raise ValueError(f"variance_schedule steps must increase, got {schedule}")
    values = [float(v) for _, v in schedule]
    return values[-1] if step is None else float(np.interp(step, steps, values))  # constant outside the points


class MixtureLikelihood:
    """p(x|z) = prod_i sum_k m_ik N(x_i; mu_ik, var) with var fixed for every pixel and slot.

    `mixture="pixel"` mixes the joint RGB vector of a pixel (IODINE paper, DeepMind code);
    `"channel"` mixes each colour channel separately and sums their log-likelihoods (the PyTorch
    port that PROVIDE and ODDN build on). The Gaussian normalising constant is included, so the
    NLL is in nats. Responsibilities are those of the joint-RGB components in both modes.
    """

    def __init__(self, variance: float, mixture: str = "pixel"):
        if mixture not in MIXTURES:
            raise ValueError(f"mixture must be one of {MIXTURES}, got {mixture!r}")
        if variance <= 0:
            raise ValueError(f"pixel variance must be positive, got {variance}")
        self.variance = float(variance)
        self.mixture = mixture

    def __call__(self, x: torch.Tensor, means: torch.Tensor, log_masks: torch.Tensor) -> MixtureTerms:
        # x: [B, C, H, W]; means: [B, K, C, H, W]; log_masks: [B, K, 1, H, W] (log-softmax over K)
        x, means, log_masks = x.float(), means.float(), log_masks.float()
        log_normal = -0.5 * ((x[:, None] - means) ** 2 / self.variance
                             + math.log(2 * math.pi * self.variance))  # [B, K, C, H, W]
        joint = log_masks + log_normal.sum(2, keepdim=True)  # [B, K, 1, H, W]
        if self.mixture == "pixel":
            log_px = torch.logsumexp(joint, dim=1)  # [B, 1, H, W]
        else:
            log_px = torch.logsumexp(log_masks + log_normal, dim=1).sum(1, keepdim=True)  # [B, 1, H, W]
        posterior = F.softmax(joint, dim=1)  # [B, K, 1, H, W]
        nll = -log_px.flatten(1).sum(1)  # [B]
        return MixtureTerms(masks=log_masks.exp(), log_px=log_px, posterior=posterior, nll=nll)
