"""The non-finite guard of both training loops."""
from __future__ import annotations

import torch


class NonFiniteLoss(RuntimeError):
    """Training met a non-finite loss or gradient; nothing was saved after the last good checkpoint."""

    user_error = True  # reported in one line: the step and the last good checkpoint


def check_finite(accelerator, value: torch.Tensor, what: str, step: int, last_checkpoint) -> None:
    """Raises NonFiniteLoss on every process when `value` is not finite on any of them (before the optimizer
    step and before any save, so the last good checkpoint stays the newest)."""
    bad = accelerator.reduce(torch.tensor(float(not torch.isfinite(value.detach()).all()), device=accelerator.device),
                             reduction="sum")
    if bad.item() > 0:
        raise NonFiniteLoss(f"non-finite {what} at step {step}; last good checkpoint: {last_checkpoint}")
