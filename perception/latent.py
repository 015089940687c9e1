"""Diagonal Gaussian slot latents: posterior parameters lambda = [mu, logvar], sampling and KL."""
from __future__ import annotations

import torch


def split_params(lam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """lambda [..., 2D] -> (mu [..., D], logvar [..., D])."""
    mu, logvar = lam.chunk(2, dim=-1)
    return mu, logvar


def sample_latent(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """Reparameterised draw z = mu + sigma * eps; eps ~ N(0, I) from the global RNG unless given."""
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + eps * torch.exp(0.5 * logvar)


def seeded_noise(seeds: torch.Tensor, step: int, shape: tuple[int, ...], device, dtype) -> torch.Tensor:
    """N(0, I) noise [B, *shape] where row b depends only on (seeds[b], step).

    Evaluation draws its latents with it, so an image's result does not depend on the batch or
    process it was scored in.
    """
    rows = []
    for s in seeds.tolist():
        g = torch.Generator().manual_seed(int(s) * 1_000_003 + step)
        rows.append(torch.randn(shape, generator=g))
    return torch.stack(rows).to(device=device, dtype=dtype)


def kl_normal(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor | None = None,
              logvar_p: torch.Tensor | None = None) -> torch.Tensor:
    """KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))), summed over the last axis.

    The prior defaults to N(0, I) (the PyTorch port; DeepMind's prior has variance ln 2).
    """
    if mu_p is None:
        mu_p = torch.zeros_like(mu_q)
    if logvar_p is None:
        logvar_p = torch.zeros_like(logvar_q)
    kl = 0.5 * (logvar_p - logvar_q + (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) * torch.exp(-logvar_p) - 1.0)
    return kl.sum(-1)
