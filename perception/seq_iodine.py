"""SEQ-IODINE (PROVIDE Sec. 4.1, supplement A.3): a trained static IODINE run over a video with one
refinement per incoming frame, the PROVIDE paper's sequential baseline.

Frame 0 gets the model's own R decodes (R - 1 refinements), as it was trained. Each later frame t
gets one refinement whose inputs compare the previous decode with frame t ("instead of ... the
ground truth image, we use the next video frame"), then one decode, which is frame t's result. The
refinement LSTM's state runs through the whole video. Gradient inputs and updates are clamped to
+-`clamp` (the supplement's fix for exploding updates on long videos; None: no clamp).
"""
from __future__ import annotations

import torch

from perception.iodine import Decomposition, Iodine
from perception.latent import sample_latent, seeded_noise, split_params


def _noise(lam: torch.Tensor, seeds: torch.Tensor | None, step: int) -> torch.Tensor:
    mu = split_params(lam)[0]
    return torch.randn_like(mu) if seeds is None else seeded_noise(seeds, step, mu.shape[1:], mu.device, mu.dtype)


def seq_iodine(model: Iodine, video: torch.Tensor, seeds: torch.Tensor | None = None,
               clamp: float | None = 10.0) -> Decomposition:
    """Decomposes video [B, T, 3, H, W] (seeds [B, T] optional) with SEQ-IODINE (no grad)."""
    b, n = video.shape[:2]
    if seeds is not None and seeds.shape != (b, n):
        raise ValueError(f"expected seeds [B, T] = {[b, n]}, got {list(seeds.shape)}")
    r_steps = model.cfg.num_iters
    k = model.cfg.num_slots

    def bounded(grads):
        return grads if clamp is None else tuple(g.clamp(-clamp, clamp) for g in grads)

    def score(x, lam, eps):
        """Samples z = mu + sigma * eps from a fresh leaf lambda and scores it (the gradient with
        respect to lambda runs through the sample, as in IODINE's own inference)."""
        with torch.enable_grad():
            lam = lam.detach().requires_grad_(True)
            mu, logvar = split_params(lam)
            return model.score(x, sample_latent(mu, logvar, eps), lam), lam

    outputs = []
    with torch.no_grad():
        lam = model.initial_params(b, k)
        state = model.refiner.initial_state(b * k, video.device)
        frame_seeds = None if seeds is None else seeds[:, 0]
        for r in range(r_steps):  # frame 0: the trained inference
            eps = _noise(lam, frame_seeds, r)
            dec, lam = score(video[:, 0], lam, eps)
            if r < r_steps - 1:
                grads = bounded(model.gradient_inputs(dec, lam, keep_graph=False))
                lam, state = model.refine(video[:, 0], dec, lam, state, keep_graph=False, grads=grads,
                                          delta_clamp=clamp)
        outputs.append((dec, lam))
        for t in range(1, n):
            x = video[:, t]
            frame_seeds = None if seeds is None else seeds[:, t]
            prev, lam = score(x, lam, eps)  # the previous decode, scored against the new frame
            grads = bounded(model.gradient_inputs(prev, lam, keep_graph=False))
            lam, state = model.refine(x, prev, lam, state, keep_graph=False, grads=grads, delta_clamp=clamp)
            eps = _noise(lam, frame_seeds, r_steps + t)
            dec, lam = score(x, lam, eps)
            outputs.append((dec, lam))
    return Decomposition(
        masks=torch.stack([d.terms.masks[:, :, 0].detach() for d, _ in outputs], 1),
        means=torch.stack([d.means.detach() for d, _ in outputs], 1),
        recon=torch.stack([(d.terms.masks * d.means.float()).sum(1).detach() for d, _ in outputs], 1),
        z=torch.stack([split_params(lam.detach())[0] for _, lam in outputs], 1))
