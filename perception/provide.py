"""PROVIDE: spatio-temporal iterative amortized inference (Zablotskaia et al. 2021, Sec. 3.2).

IODINE's refinement runs on a 2D grid, time x refinement. The refinement network's LSTM becomes a
2D-LSTM that reads the refinement state h_{t,r-1} (vertical) and the temporal state h_{t-1,R_hat}
(horizontal, the previous frame's last refinement state). Frame t has R_hat = max(R - t, grid_min)
decodes: the triangular grid (eq. 3, Fig. 2a). The prior of frame t is predicted from the temporal
state (eq. 5) and the decoder reads it too (eq. 6). The objective is eq. 3 with the refinement
weights r / R_hat, beta on the NLL, psi on the KL and gamma on the mask entropy (eq. 7).

Where the paper is silent we follow the official code (BorealisAI/PROVIDE); docs/perception.md
lists every choice:
- Each frame starts again from lambda_0, and its first decode uses one z_first, sampled once per
  video from lambda_0; time flows only through the temporal state, the prior and the decoder.
- Frame 0 refines between its R decodes (R - 1 refinements). Every later frame also refines after
  its last decode: that refinement's state becomes the temporal state.
- R_hat >= 2 (`provide.grid_min` >= 2, the official code's minimum): a frame's first decode is of
  z_first and reads nothing of the frame, so only with a second decode does the frame's last
  decode come after a refinement that read it (the paper's Fig. 2a ends every column with such a
  decode). With R_hat = 1 the frame's loss would be a prediction loss and its reported masks
  predictions; that setting is refused.
- A frame's reported decomposition, its last step loss and its slot features all come from the
  same posterior: the one of its last decode, which has read the frame.

The IODINE parts (lambda_0, decoder, likelihood, refinement trunk) are `perception.iodine.Iodine`'s.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from perception.config import IodineConfig, ProvideConfig
from perception.interface import PerceptionModel, Rollout, curriculum_length
from perception.iodine import Decode, Decomposition, Iodine, step_weights
from perception.latent import sample_latent, seeded_noise, split_params

Z_FIRST_STEP = 1_000  # noise stream of z_first in `seeded_noise` (refinement steps use 0..R-1)

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each [B*K, hidden]


class LSTM2dCell(nn.Module):
    """2D-LSTM cell (Fig. 2b): input x [N, I], refinement state (h_ref, c_ref) and temporal state
    (h_temp, c_temp), each [N, H] -> new (h, c) [N, H].

        i, f, o, l = sigmoid(.), c~ = tanh(.) of W_x x + W_hor h_temp + W_ver h_ref
        c = f * (l * c_temp + (1 - l) * c_ref) + i * c~;   h = o * tanh(c)

    The gate l mixes the two cell states (official code's chunk order i, f, o, l, c~).
    """

    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.w_x = nn.Linear(input_size, 5 * hidden)
        self.w_hor = nn.Linear(hidden, 5 * hidden)
        self.w_ver = nn.Linear(hidden, 5 * hidden)

    def forward(self, x: torch.Tensor, state: tuple[State, State]) -> State:
        (h_ref, c_ref), (h_temp, c_temp) = state
        gates = self.w_x(x) + self.w_hor(h_temp) + self.w_ver(h_ref)  # [N, 5H]
        i, f, o, mix, cand = gates.chunk(5, dim=-1)
        i, f, o, mix = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o), torch.sigmoid(mix)
        c = f * (mix * c_temp + (1 - mix) * c_ref) + i * torch.tanh(cand)
        return o * torch.tanh(c), c


class ConditionalPrior(nn.Module):
    """xi (eq. 5): temporal state h [..., H] -> prior (mean, log variance), each [..., D].

    A Linear + ReLU trunk and two linear heads; the second predicts log sigma (footnote 4), so
    the log variance is twice it.
    """

    def __init__(self, hidden: int, width: int, latent_dim: int):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(hidden, width), nn.ReLU())
        self.mean = nn.Linear(width, latent_dim)
        self.log_sigma = nn.Linear(width, latent_dim)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.trunk(h)
        return self.mean(a), 2.0 * self.log_sigma(a)


class DecoderConditioning(nn.Module):
    """The MLP of g(z, h) (eq. 6) before the shared spatial broadcast decoder: (z [..., D],
    h [..., H]) -> [..., D]: Linear(D + H, D) + ELU, Linear(D, D) + ELU (official code)."""

    def __init__(self, latent_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim + hidden, latent_dim), nn.ELU(),
                                 nn.Linear(latent_dim, latent_dim), nn.ELU())

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, h.to(z.dtype)], dim=-1))


def mask_entropy(masks: torch.Tensor) -> torch.Tensor:
    """-sum_i sum_k m log m of masks [B, K, 1, H, W] (softmax over K): [B] (eq. 7)."""
    m = masks.float()
    return -(m * torch.log(m.clamp_min(1e-12))).flatten(1).sum(1)


@dataclass
class ProvideOutput:
    """Training output; the per-frame fields cover the B*N frames of the clips, frame-major per clip."""

    loss: torch.Tensor  # scalar: eq. 3 with r / R_hat weights, beta, psi and gamma; mean over frames
    nll: torch.Tensor  # [B*N] NLL of each frame's last decode
    kl: torch.Tensor  # [B*N] KL of each frame's last decode against its prior
    means: torch.Tensor  # [B*N, K, 3, H, W]
    masks: torch.Tensor  # [B*N, K, H, W]
    recon: torch.Tensor  # [B*N, 3, H, W]
    z: torch.Tensor  # [B, N, K, D] posterior means of each frame's last decode
    scalars: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class FrameResult:
    """One column of the grid."""

    loss: torch.Tensor  # scalar, sum_r (r / R_hat) * step loss
    last: Decode  # the frame's last decode
    decoded_lam: torch.Tensor  # [B, K, 2D] the posterior of the last decode (the frame's features)
    first_recon: torch.Tensor  # [B, 3, H, W] reconstruction of the first decode (a predicted frame)
    lam: torch.Tensor  # [B, K, 2D] after the frame's last refinement (a predicted frame's latent)
    temporal: State  # h_{t, R_hat}: the next frame's temporal state
    entropy: torch.Tensor  # [B] mask entropy of the last decode
    decodes: int
    refinements: int


class Provide(PerceptionModel):
    """PROVIDE (Zablotskaia et al. 2021): IODINE's refinement on a 2D-LSTM grid over a video's frames."""

    name = "provide"
    is_video = True
    tracks_slots = True  # each slot keeps its own 2D-LSTM temporal state, prior and decoder condition over frames
    config_sections = ("provide",)
    table_label = "PROVIDE"

    def __init__(self, iodine_cfg: IodineConfig, cfg: ProvideConfig, image_size: tuple[int, int]):
        super().__init__()
        if iodine_cfg.num_iters < 2:
            raise ValueError("PROVIDE needs iodine.num_iters (R) >= 2")
        if cfg.grid_min < 2:
            raise ValueError(
                f"provide.grid_min must be >= 2, got {cfg.grid_min}: with one decode per frame the frame's only "
                "decode is of z_first, before any refinement has read the frame (its loss, masks and features "
                "would be predictions)")
        self.cfg = cfg
        d, hidden = iodine_cfg.latent_dim, iodine_cfg.refine_hidden
        mlp_out = iodine_cfg.refine_mlp[-1] if iodine_cfg.refine_mlp else iodine_cfg.refine_channels[-1]
        self.iodine = Iodine(iodine_cfg, image_size, refine_core=LSTM2dCell(mlp_out + 4 * d, hidden))
        self.hidden = hidden
        if cfg.conditional:
            self.prior = ConditionalPrior(hidden, cfg.prior_hidden, d)
            self.conditioning = DecoderConditioning(d, hidden)
        else:
            self.prior, self.conditioning = None, None

    # -- the grid -------------------------------------------------------------------------------

    def decodes(self, t: int) -> int:
        """R_hat: decodes at frame t (0-based)."""
        return max(self.iodine.cfg.num_iters - t, self.cfg.grid_min)

    @staticmethod
    def refinements(t: int, decodes: int) -> int:
        """Refinements at frame t: between the decodes, and for t > 0 one more after the last."""
        return decodes - 1 if t == 0 else decodes

    def _latent_input(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The decoder's input: g's MLP of (z, h), or z itself without conditioning."""
        return z if self.conditioning is None else self.conditioning(z, h)

    def score(self, x: torch.Tensor, z: torch.Tensor, h: torch.Tensor, lam: torch.Tensor,
              prior: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[Decode, torch.Tensor]:
        """Decodes z [B, K, D] given the temporal state h [B, K, H]; the step loss is
        beta * NLL + psi * KL(q || prior) + gamma * mask entropy (batch means). Returns it with the entropy [B]."""
        dec = self.iodine.score(x, self._latent_input(z, h), lam, prior)
        entropy = mask_entropy(dec.terms.masks)
        dec.loss = self.iodine.beta * dec.terms.nll.mean() + self.cfg.psi * dec.kl.mean() \
            + self.cfg.gamma * entropy.mean()
        return dec, entropy

    def frame(self, x: torch.Tensor | None, t: int, temporal: State, z_first: torch.Tensor,
              seeds: torch.Tensor | None, training_graph: bool) -> FrameResult:
        """Inference at frame t of image x [B, 3, H, W], from the temporal state [B*K, H] each.

        x None: a predicted frame (Sec. 3.2.3): one decode from z_first and the temporal state,
        whose reconstruction stands in for the image, then one refinement with zero gradient inputs.
        seeds [B] (optional) fix this frame's latent noise.
        """
        b, k = z_first.shape[:2]
        predicted = x is None
        h = temporal[0].view(b, k, -1)  # [B, K, H]
        prior = self.prior(h) if self.prior is not None else None  # changes with t only (eq. 5)
        n_dec = 1 if predicted else self.decodes(t)
        n_ref = 1 if predicted else self.refinements(t, n_dec)
        weights = step_weights(self.iodine.cfg.step_weights, n_dec)  # r / R_hat for "increasing"
        lam = self.iodine.initial_params(b, k)
        vertical = self.iodine.refiner.initial_state(b * k, z_first.device)
        loss = z_first.new_zeros((), dtype=torch.float32)
        first_recon = None
        for r in range(n_dec):
            with torch.enable_grad():
                if not training_graph:
                    lam = lam.detach().requires_grad_(True)
                decoded_lam = lam
                if r == 0:  # outside training a leaf, so the decode is differentiable with frozen weights
                    z = z_first if training_graph else z_first.detach().requires_grad_(True)
                else:
                    mu, logvar = split_params(lam)
                    eps = None if seeds is None else seeded_noise(seeds, r, mu.shape[1:], mu.device, mu.dtype)
                    z = sample_latent(mu, logvar, eps)
                if predicted:
                    means, logits = self.iodine.decode(self._latent_input(z, h))
                    x = (F.softmax(logits.float(), dim=1) * means.float()).sum(1).detach()  # [B, 3, H, W]
                dec, entropy = self.score(x, z, h, lam, prior)
            if r == 0:
                first_recon = (dec.terms.masks * dec.means.float()).sum(1)
            loss = loss + weights[r].to(loss.device) * dec.loss
            if r < n_ref:
                grads = None
                if predicted:
                    grads = (torch.zeros_like(dec.means), torch.zeros_like(dec.mask_ref), torch.zeros_like(lam))
                lam, vertical = self.iodine.refine(x, dec, lam, (vertical, temporal), keep_graph=training_graph,
                                                   grads=grads)
        return FrameResult(loss, dec, decoded_lam, first_recon, lam, vertical, entropy, n_dec, n_ref)

    def _start(self, b: int, device, seeds: torch.Tensor | None) -> tuple[State, torch.Tensor]:
        """Zero temporal state [B*K, H] x 2 and z_first [B, K, D], drawn once from lambda_0."""
        k = self.iodine.cfg.num_slots
        zeros = torch.zeros(b * k, self.hidden, device=device)
        mu, logvar = split_params(self.iodine.initial_params(b, k))
        eps = None if seeds is None else seeded_noise(seeds, Z_FIRST_STEP, mu.shape[1:], mu.device, mu.dtype)
        return (zeros, zeros.clone()), sample_latent(mu, logvar, eps)

    def run(self, video: torch.Tensor, seeds: torch.Tensor | None = None, predict_steps: int = 0
            ) -> tuple[list[FrameResult], list[FrameResult]]:
        """Walks the grid over video [B, T, 3, H, W] (seeds [B, T] optional), then predicts
        `predict_steps` frames; returns the observed and the predicted frames' results."""
        if video.dim() != 5 or video.shape[2] != 3 or tuple(video.shape[-2:]) != self.iodine.image_size:
            raise ValueError(f"expected video [B, T, 3, {self.iodine.image_size[0]}, {self.iodine.image_size[1]}], "
                             f"got {list(video.shape)}")
        b, n = video.shape[:2]
        if seeds is not None and seeds.shape != (b, n):
            raise ValueError(f"expected seeds [B, T] = {[b, n]}, got {list(seeds.shape)}")
        training_graph = torch.is_grad_enabled()
        temporal, z_first = self._start(b, video.device, None if seeds is None else seeds[:, 0])
        if not training_graph:
            z_first = z_first.detach()
        observed, predicted = [], []
        for t in range(n + predict_steps):
            x = video[:, t] if t < n else None
            fr = self.frame(x, t, temporal, z_first, None if seeds is None or t >= n else seeds[:, t], training_graph)
            temporal = fr.temporal
            (observed if t < n else predicted).append(fr)
        return observed, predicted

    # -- training ---------------------------------------------------------------------------------

    def forward(self, clips: torch.Tensor, seeds: torch.Tensor | None = None) -> ProvideOutput:
        """clips [B, N, 3, H, W] in [0, 1]; seeds [B, N] (optional) fix the latent noise."""
        b, n = clips.shape[:2]
        frames, _ = self.run(clips, seeds)
        loss = torch.stack([f.loss for f in frames]).mean()

        def per_frame(get) -> torch.Tensor:  # [B, N, ...] -> [B*N, ...], frame-major per clip
            return torch.stack([get(f) for f in frames], 1).flatten(0, 1)

        out = ProvideOutput(
            loss=loss, nll=per_frame(lambda f: f.last.terms.nll), kl=per_frame(lambda f: f.last.kl),
            means=per_frame(lambda f: f.last.means), masks=per_frame(lambda f: f.last.terms.masks[:, :, 0]),
            recon=per_frame(lambda f: (f.last.terms.masks * f.last.means.float()).sum(1)),
            z=torch.stack([split_params(f.decoded_lam)[0] for f in frames], 1),
            scalars={"train/entropy": per_frame(lambda f: f.entropy).mean().detach(),
                     "train/decodes_per_frame": torch.tensor(sum(f.decodes for f in frames) / n,
                                                           device=loss.device)})
        if not torch.is_grad_enabled():
            out.loss = out.loss.detach()
        return out

    # -- evaluation, features and prediction ----------------------------------------------------

    def decompose(self, video: torch.Tensor, seeds: torch.Tensor | None = None) -> Decomposition:
        """Masks, means and reconstructions of each frame's last decode, and its features (no grad)."""
        with torch.no_grad():
            frames, _ = self.run(video, seeds)
        return Decomposition(
            masks=torch.stack([f.last.terms.masks[:, :, 0].detach() for f in frames], 1),
            means=torch.stack([f.last.means.detach() for f in frames], 1),
            recon=torch.stack([(f.last.terms.masks * f.last.means.float()).sum(1).detach() for f in frames], 1),
            z=torch.stack([split_params(f.decoded_lam)[0].detach() for f in frames], 1))

    def features(self, video: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        """Slot features [B, T, K, D]: the posterior means of each frame's last decode (which read the frame)."""
        with torch.no_grad():
            frames, _ = self.run(video, seeds)
        return torch.stack([split_params(f.decoded_lam)[0].detach() for f in frames], 1)

    def rollout(self, context: torch.Tensor, steps: int, seeds: torch.Tensor | None = None) -> Rollout:
        """From context [B, C, 3, H, W] (seeds [B, C]), `steps` predicted frames (no grad)."""
        with torch.no_grad():
            observed, predicted = self.run(context, seeds, predict_steps=steps)
        recon = torch.stack([(f.last.terms.masks * f.last.means.float()).sum(1).detach() for f in observed], 1)
        frames = torch.stack([f.first_recon.detach() for f in predicted], 1) if predicted else recon[:, :0]
        z = torch.stack([split_params(f.decoded_lam)[0].detach() for f in observed]
                        + [split_params(f.lam)[0].detach() for f in predicted], 1)
        return Rollout(context_recon=recon, frames=frames, z=z)

    # -- the perception-model interface (perception/interface.py) ------------------------------------------

    @classmethod
    def build(cls, cfg) -> "Provide":
        return cls(cfg.iodine, cfg.provide, tuple(cfg.frames.preprocess.size))

    @classmethod
    def clip_len(cls, cfg, step: int | None = None) -> int:
        return curriculum_length(cfg.provide.curriculum, step)

    def feature_dims(self) -> tuple[int, int]:
        return self.iodine.cfg.latent_dim, 0

    def slot_features(self, video: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        return self.features(video, seeds)

    def predict(self, context: torch.Tensor, steps: int, seeds: torch.Tensor | None = None) -> Rollout:
        return self.rollout(context, steps, seeds)

    def rollout_features(self, video: torch.Tensor, steps: int, seeds: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T + steps, K, D]: each observed frame's last posterior mean (as `features`), then the prior mean of
        each predicted frame (as `rollout`'s latents)."""
        with torch.no_grad():
            observed, predicted = self.run(video, seeds, predict_steps=steps)
        return torch.stack([split_params(f.decoded_lam)[0] for f in observed]
                           + [split_params(f.lam)[0] for f in predicted], 1)
