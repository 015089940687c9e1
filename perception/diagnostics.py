"""What a training run logs about its decomposition besides the loss (issue 31: what a decomposing run does
that the others do not): how many slots carry pixels, how sure the masks are, how different the slots' latents
are, and where the gradient goes.

All of it is computed from a training step's output and gradients, at the logging steps only.
"""
from __future__ import annotations

import torch
import torch.nn as nn

USED_SHARE = 0.02  # a slot "carries pixels" in an image when its mask holds at least this share of them


def mask_diagnostics(masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """Scalars of the last decode's masks [N, K, H, W] (softmax over K):

    - `diag/slots_used`: slots holding at least USED_SHARE of an image's mask mass, mean over images;
    - `diag/largest_share`: the largest slot's share of the image (1: one slot takes everything);
    - `diag/mask_entropy`: entropy of the per-pixel slot assignment in nats, mean over pixels (0: every pixel
      belongs to one slot; ln K: uniform).
    """
    m = masks.detach().float()
    share = m.flatten(2).mean(2)  # [N, K]
    entropy = -(m * m.clamp_min(1e-12).log()).sum(1)  # [N, H, W]
    return {"diag/slots_used": (share >= USED_SHARE).float().sum(1).mean(),
            "diag/largest_share": share.max(1).values.mean(),
            "diag/mask_entropy": entropy.mean()}


def latent_spread(z: torch.Tensor) -> torch.Tensor:
    """Standard deviation of the slots' latents across slots, mean over images and dims: 0 when every slot holds
    the same latent (the slots start from one shared lambda_0). z: [..., K, D]."""
    z = z.detach().float().flatten(0, -3)  # [N, K, D]
    return z.std(1).mean()


def gradient_norms(model: nn.Module) -> dict[str, float]:
    """Global gradient norm of each top-level part of the model (`decoder`, `refiner`, `lam0`, ...), before
    clipping: `diag/grad_<part>`. Parts with no gradient are left out."""
    sums: dict[str, float] = {}
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        parts = name.split(".")
        if parts[0] == "module":  # a distributed wrapper
            parts = parts[1:]
        part = parts[1] if parts[0] == "iodine" else parts[0]  # the IODINE parts of the video models
        sums[part] = sums.get(part, 0.0) + float(p.grad.detach().float().pow(2).sum())
    return {f"diag/grad_{part}": s ** 0.5 for part, s in sorted(sums.items())}


def step_diagnostics(output) -> dict[str, torch.Tensor]:
    """The output-based scalars of one training step (mask diagnostics and the latent spread)."""
    scalars = mask_diagnostics(output.masks)
    z = getattr(output, "z", None)
    if z is not None:
        scalars["diag/latent_spread"] = latent_spread(z)
    return scalars


def slot_kl(lam: torch.Tensor) -> torch.Tensor:
    """KL of each slot's posterior from N(0, I), sorted from the largest down: lam [N, K, 2D] -> [N, K]. A slot
    that holds an object carries information (large KL); an unused slot sits at the prior (KL near 0)."""
    from perception.latent import kl_normal, split_params

    mu, logvar = split_params(lam.detach().float())
    return kl_normal(mu, logvar).sort(dim=1, descending=True).values


def decomposition_state(model: nn.Module, frames: torch.Tensor, true_ids: torch.Tensor,
                        seeds: torch.Tensor | None = None) -> dict[str, float]:
    """What a trained model's decomposition of frames [N, 3, H, W] looks like (the IODINE inference inside any
    model): FG-ARI against true_ids [N, H, W], the mask diagnostics, the latent spread and the KL per slot
    (sorted, `kl_slot_1` the largest), mean over frames."""
    from perception.iodine import Iodine
    from perception.latent import split_params
    from perception.metrics import segmentation_scores

    iodine = next(m for m in model.modules() if isinstance(m, Iodine))
    with torch.no_grad():
        out = iodine(frames, seeds)
    scores = segmentation_scores(true_ids[:, None], out.masks[:, None])
    has_fg = scores["fg_frame_has_points"].flatten()
    state = {"FG-ARI": float(scores["fg_ari_frame"].flatten()[has_fg].mean())}
    state.update({k.removeprefix("diag/"): float(v) for k, v in mask_diagnostics(out.masks).items()})
    state["latent_spread"] = float(latent_spread(split_params(out.lam)[0]))  # of the posterior means
    kl = slot_kl(out.lam).mean(0)  # [K]
    state.update({f"kl_slot_{i + 1}": float(v) for i, v in enumerate(kl)})
    return state

