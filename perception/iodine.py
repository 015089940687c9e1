"""IODINE: iterative amortized inference of K slot latents per image (Greff et al. 2019).

One forward pass: lambda starts at a learned lambda_0 shared by all slots; R times, a latent is
sampled, decoded and scored, and (except after the last decode) the refinement network reads the
image, the decode, the likelihood terms and the gradients of the step loss and adds an update
to lambda. The loss is the weighted sum of the R step losses beta * NLL + KL.

The parts (decoder, likelihood, refinement network, `decode`, `score`, `refine`) are what PROVIDE
and ODDN reuse; their frame loops call them rather than this `forward`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from perception.config import IodineConfig
from perception.decoder import SpatialBroadcastDecoder, coordinate_grid
from perception.interface import PerceptionModel
from perception.latent import kl_normal, sample_latent, seeded_noise, split_params
from perception.likelihood import MixtureLikelihood, MixtureTerms, scheduled_variance
from perception.refinement import SPATIAL_CHANNELS, RefinementNetwork, refinement_inputs

STEP_WEIGHTS = ("increasing", "linspace", "uniform")
MASK_GRADS = ("logits", "probs")


def step_weights(kind: str, num_iters: int) -> torch.Tensor:
    """Weights of the R step losses: [R]."""
    t = torch.arange(num_iters, dtype=torch.float32)
    if kind == "increasing":
        return (t + 1) / num_iters
    if kind == "linspace":
        return t / max(num_iters - 1, 1)
    if kind == "uniform":
        return torch.ones(num_iters)
    raise ValueError(f"step_weights must be one of {STEP_WEIGHTS}, got {kind!r}")


@dataclass
class Decode:
    """One decode of all slots and its loss terms."""

    means: torch.Tensor  # [B, K, 3, H, W]
    mask_logits: torch.Tensor  # [B, K, 1, H, W]
    mask_ref: torch.Tensor  # the mask tensor whose gradient feeds refinement (logits or probs)
    terms: MixtureTerms
    kl: torch.Tensor  # [B] summed over slots and latent dims
    loss: torch.Tensor  # scalar: beta * mean NLL + mean KL


@dataclass
class IodineOutput:
    loss: torch.Tensor  # scalar, weighted sum over steps (the training objective)
    step_losses: torch.Tensor  # [R] unweighted step losses (batch means)
    nll: torch.Tensor  # [B] NLL of the last decode (nats)
    kl: torch.Tensor  # [B] KL of the last decode
    means: torch.Tensor  # [B, K, 3, H, W]
    masks: torch.Tensor  # [B, K, H, W]
    recon: torch.Tensor  # [B, 3, H, W] = sum_k masks * means
    z: torch.Tensor  # [B, K, D] latent of the last decode
    lam: torch.Tensor  # [B, K, 2D] posterior parameters of the last decode


class Iodine(PerceptionModel):
    """IODINE (Greff et al. 2019): an image model, trained and evaluated frame by frame."""

    name = "iodine"
    table_label = "IODINE"
    sequential_row = True  # SEQ-IODINE: the same model run over a video's frames in order

    def __init__(self, cfg: IodineConfig, image_size: tuple[int, int], refine_core: nn.Module | None = None):
        """`refine_core` replaces the refinement network's LSTM cell (PROVIDE's 2D-LSTM)."""
        super().__init__()
        if cfg.mask_grad not in MASK_GRADS:
            raise ValueError(f"mask_grad must be one of {MASK_GRADS}, got {cfg.mask_grad!r}")
        if cfg.num_iters < 1 or cfg.num_slots < 1:
            raise ValueError("num_iters and num_slots must be >= 1")
        self.cfg = cfg
        self.image_size = tuple(image_size)
        d = cfg.latent_dim
        # lambda_0 ~ U(-0.5, 0.5), shared by all slots (PyTorch port; ODDN A.3).
        self.lam0 = nn.Parameter(torch.rand(2 * d) - 0.5)
        self.decoder = SpatialBroadcastDecoder(d, self.image_size, cfg.decoder_channels, cfg.decoder_kernel)
        self.refiner = RefinementNetwork(SPATIAL_CHANNELS, 4 * d, 2 * d, cfg.refine_channels, cfg.refine_kernel,
                                         cfg.refine_stride, cfg.refine_mlp, cfg.refine_hidden, core=refine_core)
        # A trained model scores with the schedule's last variance; training sets it step by step.
        self.likelihood = MixtureLikelihood(scheduled_variance(cfg.variance_schedule, cfg.pixel_variance, None),
                                            cfg.mixture)
        self.register_buffer("coords", coordinate_grid(*self.image_size), persistent=False)  # [2, H, W]
        self.register_buffer("weights", step_weights(cfg.step_weights, cfg.num_iters), persistent=False)
        self.beta = float(cfg.beta)  # the NLL weight; GECO (perception.geco) moves it during training

    # -- parts shared with the video models ---------------------------------------------------

    def initial_params(self, batch: int, num_slots: int | None = None) -> torch.Tensor:
        """lambda_0 for every slot: [B, K, 2D]."""
        k = num_slots or self.cfg.num_slots
        return self.lam0.expand(batch, k, -1)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z [B, K, D] -> means [B, K, 3, H, W], mask logits [B, K, 1, H, W]."""
        b, k = z.shape[:2]
        means, logits = self.decoder(z.flatten(0, 1))
        return means.unflatten(0, (b, k)), logits.unflatten(0, (b, k))

    def score(self, x: torch.Tensor, z: torch.Tensor, lam: torch.Tensor,
              prior: tuple[torch.Tensor, torch.Tensor] | None = None) -> Decode:
        """Decodes z [B, K, D] and computes the step loss against the image x [B, 3, H, W]."""
        means, logits = self.decode(z)
        if self.cfg.mask_grad == "logits":
            mask_ref = logits
            log_masks = F.log_softmax(logits.float(), dim=1)
        else:
            mask_ref = F.softmax(logits.float(), dim=1)
            log_masks = mask_ref.clamp_min(1e-12).log()
        terms = self.likelihood(x, means, log_masks)
        mu, logvar = split_params(lam)
        prior_mu, prior_logvar = prior if prior is not None else (None, None)
        kl = kl_normal(mu.float(), logvar.float(), prior_mu, prior_logvar).sum(1)  # [B]
        loss = self.beta * terms.nll.mean() + kl.mean()
        return Decode(means, logits, mask_ref, terms, kl, loss)

    def gradient_inputs(self, dec: Decode, lam: torch.Tensor, keep_graph: bool
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """d loss / d(means, masks, lambda), first order only: no graph is built through them."""
        with torch.enable_grad():
            d_means, d_masks, d_lam = torch.autograd.grad(
                dec.loss, [dec.means, dec.mask_ref, lam], retain_graph=keep_graph, create_graph=False)
        return d_means.detach(), d_masks.detach(), d_lam.detach()

    def refine(self, x: torch.Tensor, dec: Decode, lam: torch.Tensor, state, keep_graph: bool,
               grads: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
               delta_clamp: float | None = None):
        """One refinement step: returns (lambda + delta [B, K, 2D], new recurrent state).

        `grads` = (d_means, d_masks, d_lam) replaces the gradients of `dec.loss` (PROVIDE's
        prediction feeds zeros; SEQ-IODINE clamps them); `delta_clamp` bounds the update.
        """
        b, k = lam.shape[:2]
        d_means, d_masks, d_lam = grads if grads is not None else self.gradient_inputs(dec, lam, keep_graph)
        spatial, flat = refinement_inputs(
            x, dec.means, dec.terms.masks, dec.mask_logits, d_means, d_masks, dec.terms.posterior,
            dec.terms.log_px, lam, d_lam, self.coords)
        delta, state = self.refiner(spatial, flat, state)  # [B*K, 2D]
        if delta_clamp is not None:
            delta = delta.clamp(-delta_clamp, delta_clamp)
        return lam + delta.view(b, k, -1), state

    # -- static images --------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, seeds: torch.Tensor | None = None) -> IodineOutput:
        """x: [B, 3, H, W] in [0, 1]; seeds: optional int [B] fixing each image's latent noise.

        Latents are always sampled: slots start from one shared lambda_0, and the sampling noise
        is what tells them apart. Under `torch.no_grad()` (evaluation) the per-step gradients are
        still computed, each step on a graph that is freed at once.
        """
        if tuple(x.shape[-2:]) != self.image_size or x.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, {self.image_size[0]}, {self.image_size[1]}], got {list(x.shape)}")
        training_graph = torch.is_grad_enabled()
        b = x.shape[0]
        if seeds is not None and seeds.shape != (b,):
            raise ValueError(f"expected one seed per image ({b}), got {list(seeds.shape)}")
        lam = self.initial_params(b)
        state = self.refiner.initial_state(b * self.cfg.num_slots, x.device)
        total = x.new_zeros((), dtype=torch.float32)
        step_losses = []
        for t in range(self.cfg.num_iters):
            with torch.enable_grad():
                if not training_graph:
                    lam = lam.detach().requires_grad_(True)
                mu, logvar = split_params(lam)
                eps = None if seeds is None else seeded_noise(seeds, t, mu.shape[1:], mu.device, mu.dtype)
                z = sample_latent(mu, logvar, eps)
                dec = self.score(x, z, lam)
            total = total + self.weights[t] * dec.loss
            step_losses.append(dec.loss.detach())
            if t < self.cfg.num_iters - 1:
                lam, state = self.refine(x, dec, lam, state, keep_graph=training_graph)
        masks = dec.terms.masks[:, :, 0]  # [B, K, H, W]
        recon = (dec.terms.masks * dec.means).sum(1)  # [B, 3, H, W]
        out = IodineOutput(loss=total, step_losses=torch.stack(step_losses), nll=dec.terms.nll, kl=dec.kl,
                           means=dec.means, masks=masks, recon=recon, z=z, lam=lam)
        if not training_graph:
            out = IodineOutput(**{f: getattr(out, f).detach() for f in out.__dataclass_fields__})
        return out

    # -- the perception-model interface (perception/interface.py) ------------------------------------------

    @classmethod
    def build(cls, cfg) -> "Iodine":
        return cls(cfg.iodine, tuple(cfg.frames.preprocess.size))

    @classmethod
    def training_input(cls, clips: torch.Tensor) -> torch.Tensor:
        return clips.flatten(0, 1)  # [B*L, 3, H, W]: an image model sees frames

    def decompose(self, video: torch.Tensor, seeds: torch.Tensor | None = None) -> "Decomposition":
        with torch.no_grad():
            return decompose_frames(self, video, seeds)

    def feature_dims(self) -> tuple[int, int]:
        return self.cfg.latent_dim, 0

    def slot_features(self, video: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        return infer_latents(self, video, seeds)[1]  # [B, T, K, D] posterior means


def set_beta(model: nn.Module, beta: float) -> None:
    """Sets the NLL weight of every IODINE inside `model` (GECO's multiplier)."""
    for module in model.modules():
        if isinstance(module, Iodine):
            module.beta = float(beta)


def set_training_step(model: nn.Module, step: int) -> float | None:
    """Sets the pixel variance of every IODINE inside `model` (IODINE itself, or the one a video model
    builds on) to its `variance_schedule` value at optimizer step `step`; returns it (None: no IODINE)."""
    value = None
    for module in model.modules():
        if isinstance(module, Iodine):
            value = scheduled_variance(module.cfg.variance_schedule, module.cfg.pixel_variance, step)
            module.likelihood.variance = value
    return value


@dataclass
class Decomposition:
    """A model's per-frame decomposition of videos (evaluation, figures, slot extraction)."""

    masks: torch.Tensor  # [B, T, K, H, W]
    means: torch.Tensor  # [B, T, K, 3, H, W]
    recon: torch.Tensor  # [B, T, 3, H, W]
    z: torch.Tensor  # [B, T, K, D]


def _frame_outputs(model: Iodine, video: torch.Tensor, seeds: torch.Tensor | None, chunk: int) -> list[IodineOutput]:
    """Runs a static model on every frame of video [B, T, 3, H, W], `chunk` frames at a time."""
    frames = video.flatten(0, 1)
    frame_seeds = seeds.flatten() if seeds is not None else None
    return [model(frames[i:i + chunk], None if frame_seeds is None else frame_seeds[i:i + chunk])
            for i in range(0, len(frames), chunk)]


def decompose_frames(model: Iodine, video: torch.Tensor, seeds: torch.Tensor | None = None,
                     chunk: int = 64) -> Decomposition:
    """Runs a static model on every frame of video [B, T, 3, H, W], `chunk` frames at a time;
    seeds [B, T] (optional) fix each frame's latent noise."""
    b, t = video.shape[:2]
    parts = _frame_outputs(model, video, seeds, chunk)

    def cat(name: str) -> torch.Tensor:
        return torch.cat([getattr(p, name) for p in parts]).unflatten(0, (b, t))

    return Decomposition(masks=cat("masks"), means=cat("means"), recon=cat("recon"), z=cat("z"))


def infer_latents(model: Iodine, video: torch.Tensor, seeds: torch.Tensor | None = None,
                  chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame inference of video [B, T, 3, H, W]: the last sampled latents and the posterior
    means of the last refinement, each [B, T, K, D]."""
    b, t = video.shape[:2]
    parts = _frame_outputs(model, video, seeds, chunk)
    z = torch.cat([p.z for p in parts]).unflatten(0, (b, t))
    mu = torch.cat([split_params(p.lam)[0] for p in parts]).unflatten(0, (b, t))
    return z, mu
