"""ODDN: object dynamics distillation, relation module and latent prediction (Tang et al. 2022).

Paper-only, unverified against code: the authors' repository holds only a README. Every part
cites its equation in `papers/oddn.txt`; where the paper is silent, the choice is ours and says so
(see also `docs/perception.md`).

A clip x_1..x_N is decomposed frame by frame by IODINE (the inference model is unchanged and
shared). From the static latents z [B, N, K, D] (posterior means of each frame's last decode, in
training, prediction and export alike):
- `DynamicsDistiller` (eqs. 7-9): one attention layer over the N*K latents, masked so that
  frame n attends only to frames n-1 and n, then FFN(Norm(z' + z)) -> dynamics [B, N, K, l];
- `RelationModule` (eqs. 10-13): effects of every ordered slot pair (i != j) with sigmoid
  attention, summed and added to each slot's dynamics;
- `LatentPredictor` (eq. 4, Sec. 3.3): z_hat_{n+1} = W_pred([dyn'_n; z_n]).
The loss is L_r (IODINE's, every frame) + L_p = -log p(x_{n+1} | z_hat_{n+1}) for n+1 = 3..N
(eqs. 5-6), from one-step predictions and, with student forcing, from a rollout of the first two
frames that feeds its own predictions back.

Variants (`oddn.variant`): `oddn`; `oddn_no_relation` (dyn' = dyn); `iodine_linear`, the paper's
baseline: an FFN of the concatenated current and previous latents of the same slot index predicts
the next latent (no matching, no dynamics).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from perception.config import IodineConfig, OddnConfig
from perception.interface import PerceptionModel, Rollout, curriculum_length
from perception.iodine import Decomposition, Iodine, IodineOutput, decompose_frames, infer_latents
from perception.latent import split_params

VARIANTS = ("oddn", "oddn_no_relation", "iodine_linear")


def frame_attention_mask(num_frames: int, num_slots: int, device=None) -> torch.Tensor:
    """Allowed attention of eq. 8 over frame-major tokens (n, k): bool [N*K, N*K], True where
    the query's frame n may attend to the key's frame, i.e. the key is in frame n - 1 or n."""
    frame = torch.arange(num_frames, device=device).repeat_interleave(num_slots)  # [N*K]
    gap = frame[:, None] - frame[None, :]
    return (gap == 0) | (gap == 1)


class DynamicsDistiller(nn.Module):
    """Eqs. 7-9: z' = Attention(z_nk, {z_{n-1}, z_n}); dyn = FFN(Norm(z' + z)).

    The paper does not say how the attention tells the previous frame's slots from the current
    frame's; without a cue a slot's query matches its own key best. Ours adds a learned per-head
    bias to the scores by relation (same frame / previous frame), a relative position that keeps
    the layer the same function of (z_{n-1}, z_n) at every n.
    """

    def __init__(self, latent_dim: int, dyn_dim: int, heads: int, ffn_hidden: int):
        super().__init__()
        if latent_dim % heads:
            raise ValueError(f"latent_dim {latent_dim} is not divisible by distill_heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(latent_dim, 3 * latent_dim)  # W_q, W_k, W_v
        self.out = nn.Linear(latent_dim, latent_dim)
        self.relation_bias = nn.Parameter(torch.zeros(heads, 2))  # [h, (same frame, previous frame)]
        self.norm = nn.LayerNorm(latent_dim)
        self.ffn = nn.Sequential(nn.Linear(latent_dim, ffn_hidden), nn.ReLU(), nn.Linear(ffn_hidden, dyn_dim))

    def forward(self, z: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """z [B, N, K, D] -> dynamics [B, N, K, l] and, if asked, attention [B, N*K, N*K] (mean
        over heads; rows are queries). Frame 1 attends only to itself; its dynamics are not
        used in training (see `Oddn.features` for what is exported there)."""
        b, n, k, d = z.shape
        tokens = z.flatten(1, 2)  # [B, NK, D]
        q, key, v = self.qkv(tokens).view(b, n * k, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ key.transpose(-1, -2) / math.sqrt(d // self.heads)  # [B, h, NK, NK]
        allowed = frame_attention_mask(n, k, z.device)
        frame = torch.arange(n, device=z.device).repeat_interleave(k)
        previous = (frame[:, None] - frame[None, :] == 1).long()  # [NK, NK] 0: same frame, 1: previous
        bias = self.relation_bias[:, previous]  # [h, NK, NK]
        scores = (scores + bias.to(scores.dtype)).masked_fill(~allowed, float("-inf"))
        attn = scores.softmax(-1)  # [B, h, NK, NK]
        mixed = (attn @ v).transpose(1, 2).reshape(b, n * k, d)  # [B, NK, D]
        z_att = self.out(mixed)  # z' of eq. 8
        dyn = self.ffn(self.norm(z_att + tokens))  # eq. 9, [B, NK, l]
        return dyn.view(b, n, k, -1), attn.mean(1) if need_weights else None


class RelationModule(nn.Module):
    """Eqs. 10-13 over all ordered slot pairs (i, j), i != j:
    emb = W_emb([dyn_i; sta_i; dyn_j; sta_j]); att = sigmoid(W_attn(emb)); eff = W_eff(emb);
    E_i = sum_{j != i} att_ij * eff_ij; dyn'_i = dyn_i + W_dyn(E_i).

    Ours where the paper is silent: W_emb is followed by a ReLU (an embedding layer, as NPE and
    R-NEM), and W_dyn has no bias, so a slot without others keeps its dynamics.
    """

    def __init__(self, latent_dim: int, dyn_dim: int, hidden: int):
        super().__init__()
        self.emb = nn.Sequential(nn.Linear(2 * (latent_dim + dyn_dim), hidden), nn.ReLU())
        self.attn = nn.Linear(hidden, 1)
        self.eff = nn.Linear(hidden, hidden)
        self.dyn = nn.Linear(hidden, dyn_dim, bias=False)  # no bias: without other objects, no update

    def forward(self, dyn: torch.Tensor, sta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """dyn [M, K, l], sta [M, K, D] -> (updated dyn [M, K, l], attention [M, K, K], zero on the diagonal)."""
        m, k = dyn.shape[:2]
        obj = torch.cat([dyn, sta], -1)  # [M, K, l + D]
        pairs = torch.cat([obj[:, :, None].expand(-1, -1, k, -1), obj[:, None].expand(-1, k, -1, -1)], -1)
        emb = self.emb(pairs)  # [M, K(i), K(j), hidden]
        off_diagonal = 1.0 - torch.eye(k, device=dyn.device, dtype=emb.dtype)
        att = torch.sigmoid(self.attn(emb)).squeeze(-1) * off_diagonal  # [M, K, K]
        effects = (att[..., None] * self.eff(emb)).sum(2)  # [M, K, hidden]
        return dyn + self.dyn(effects), att


class LatentPredictor(nn.Module):
    """W_pred in R^{(D+l) x D}: z_hat_{n+1} = W_pred([dyn'_n; z_n]) (eq. 4, Sec. 3.3).

    Ours where the paper is silent: a bias, and an initial W_pred = [0 | I], i.e. training starts
    from "the next latent is the current one".
    """

    def __init__(self, latent_dim: int, dyn_dim: int):
        super().__init__()
        self.dyn_dim = dyn_dim
        self.linear = nn.Linear(dyn_dim + latent_dim, latent_dim)
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.weight[:, dyn_dim:] = torch.eye(latent_dim)
            self.linear.bias.zero_()

    def forward(self, dyn: torch.Tensor, sta: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.cat([dyn, sta], -1))  # [..., D]


class LinearBaselinePredictor(nn.Module):
    """IODINE-linear (ODDN Fig. 3): an FFN of [z_n; z_{n-1}] of the same slot index predicts z_{n+1}.

    Ours where the paper is silent: residual form z_n + FFN(...), the last layer zero at the
    start, so it starts where ODDN's predictor starts.
    """

    def __init__(self, latent_dim: int, hidden: int):
        super().__init__()
        self.ffn = nn.Sequential(nn.Linear(2 * latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))
        nn.init.zeros_(self.ffn[-1].weight)
        nn.init.zeros_(self.ffn[-1].bias)

    def forward(self, prev: torch.Tensor, cur: torch.Tensor) -> torch.Tensor:
        return cur + self.ffn(torch.cat([cur, prev], -1))


@dataclass
class OddnOutput:
    """Training output; the IODINE fields cover the B*N frames of the clips, frame-major per clip."""

    loss: torch.Tensor  # scalar: L_r + pred_weight * L_p, per frame
    nll: torch.Tensor  # [B*N] reconstruction NLL of the last decode
    kl: torch.Tensor  # [B*N]
    means: torch.Tensor  # [B*N, K, 3, H, W]
    masks: torch.Tensor  # [B*N, K, H, W]
    recon: torch.Tensor  # [B*N, 3, H, W]
    z: torch.Tensor  # [B, N, K, D] static latents: posterior means of each frame's last decode
    pred_recon: torch.Tensor  # [B, N-2, 3, H, W] one-step predictions of frames 3..N
    scalars: dict[str, torch.Tensor] = field(default_factory=dict)  # extra training scalars (logged)


class Oddn(PerceptionModel):
    """ODDN (Tang et al. 2022): IODINE's frames plus distilled dynamics and relations; a video model."""

    name = "oddn"
    is_video = True
    config_sections = ("oddn",)
    table_label = "ODDN"

    def __init__(self, iodine_cfg: IodineConfig, cfg: OddnConfig, image_size: tuple[int, int]):
        super().__init__()
        if cfg.variant not in VARIANTS:
            raise ValueError(f"oddn.variant must be one of {VARIANTS}, got {cfg.variant!r}")
        self.cfg = cfg
        self.variant = cfg.variant
        self.iodine = Iodine(iodine_cfg, image_size)
        d = iodine_cfg.latent_dim
        if self.variant == "iodine_linear":
            self.linear_predictor = LinearBaselinePredictor(d, cfg.linear_hidden)
        else:
            self.distiller = DynamicsDistiller(d, cfg.dyn_dim, cfg.distill_heads, cfg.distill_ffn)
            self.relation = RelationModule(d, cfg.dyn_dim, cfg.relation_hidden) \
                if self.variant == "oddn" else None
            self.predictor = LatentPredictor(d, cfg.dyn_dim)

    @property
    def dyn_dim(self) -> int:
        """Dynamics dims in the exported features (0 for iodine_linear, which has none)."""
        return 0 if self.variant == "iodine_linear" else self.cfg.dyn_dim

    # -- dynamics and prediction in latent space ------------------------------------------------

    def dynamics(self, z: torch.Tensor) -> torch.Tensor:
        """Distilled dynamics (eq. 9) of every frame of z [B, N, K, D]: [B, N, K, l]."""
        return self.distiller(z)[0]

    def update(self, dyn: torch.Tensor, sta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Relation module (eq. 13), or identity without one: dyn' [..., K, l] and attention."""
        if self.relation is None:
            return dyn, None
        lead = dyn.shape[:-2]
        new, att = self.relation(dyn.flatten(0, -3), sta.flatten(0, -3))
        return new.view(*lead, *new.shape[-2:]), att.view(*lead, *att.shape[-2:])

    def predict_next(self, prev: torch.Tensor, cur: torch.Tensor, dyn: torch.Tensor | None = None) -> torch.Tensor:
        """z_hat_{n+1} [..., K, D] from z_{n-1}, z_n [..., K, D]; `dyn` (eq. 9 of frame n) if already computed."""
        if self.variant == "iodine_linear":
            return self.linear_predictor(prev, cur)
        if dyn is None:
            lead = cur.shape[:-2]
            pair = torch.stack([prev.flatten(0, -3), cur.flatten(0, -3)], 1)  # [M, 2, K, D]
            dyn = self.dynamics(pair)[:, 1].view(*lead, *cur.shape[-2:-1], -1)
        dyn, _ = self.update(dyn, cur)
        return self.predictor(dyn, cur)

    def rollout_latents(self, z: torch.Tensor, steps: int) -> torch.Tensor:
        """Feeds predictions back: from z [B, C>=2, K, D], the next `steps` latents [B, S, K, D]."""
        prev, cur = z[:, -2], z[:, -1]
        out = []
        for _ in range(steps):
            prev, cur = cur, self.predict_next(prev, cur)
            out.append(cur)
        return torch.stack(out, 1)

    def decode_frames(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z [M, K, D] -> (reconstruction [M, 3, H, W], means [M, K, 3, H, W], log masks [M, K, 1, H, W])."""
        means, logits = self.iodine.decode(z)
        log_masks = F.log_softmax(logits.float(), dim=1)
        return (log_masks.exp() * means.float()).sum(1), means, log_masks

    # -- training ---------------------------------------------------------------------------------

    def forward(self, clips: torch.Tensor, seeds: torch.Tensor | None = None) -> OddnOutput:
        """clips [B, N, 3, H, W] in [0, 1], N >= 3; seeds [B, N] (optional) fix the inference noise."""
        b, n = clips.shape[:2]
        if n < 3:
            raise ValueError(f"ODDN trains on clips of at least 3 frames (2 to infer dynamics, 1 to predict), got {n}")
        frames = clips.flatten(0, 1)  # [B*N, 3, H, W]
        static: IodineOutput = self.iodine(frames, None if seeds is None else seeds.flatten())
        # The dynamics read the posterior means of the last decode, as `features` exports them.
        mu = split_params(static.lam)[0]  # [B*N, K, D]
        z = mu.view(b, n, *mu.shape[1:])  # [B, N, K, D]

        # One-step (teacher-forced) predictions of frames 3..N from the inferred latents.
        if self.variant == "iodine_linear":
            teacher = self.linear_predictor(z[:, :-2], z[:, 1:-1])  # [B, N-2, K, D]
        else:
            dyn = self.dynamics(z)  # [B, N, K, l]; frame n's depends on frames n-1, n only
            teacher = self.predict_next(z[:, :-2], z[:, 1:-1], dyn[:, 1:-1])
        preds, targets = [teacher], [clips[:, 2:]]
        if self.cfg.student_forcing and n > 3:
            # Rollout of the first two frames, predictions fed back; its first step is teacher's.
            rolled = self.rollout_latents(torch.stack([z[:, 1], teacher[:, 0]], 1), n - 3)  # [B, N-3, K, D]
            preds.append(rolled)
            targets.append(clips[:, 3:])
        pred_z = torch.cat(preds, 1)  # [B, P, K, D]
        target = torch.cat(targets, 1)  # [B, P, 3, H, W]
        p = pred_z.shape[1]
        means, logits = self.iodine.decode(pred_z.flatten(0, 1))
        terms = self.iodine.likelihood(target.flatten(0, 1), means, F.log_softmax(logits.float(), dim=1))
        pred_nll = terms.nll.view(b, p)  # [B, P]
        beta = self.iodine.beta
        loss_p = beta * pred_nll.sum() / (b * n)  # eq. 6 summed per clip, per frame like L_r
        loss = static.loss + self.cfg.pred_weight * loss_p
        pred_recon = (terms.masks * means.float()).sum(1).view(b, p, *clips.shape[2:])[:, :n - 2]
        with torch.no_grad():
            pred_mse = ((pred_recon - clips[:, 2:].float()) ** 2).mean()
            repeat_mse = ((clips[:, 1:-1].float() - clips[:, 2:].float()) ** 2).mean()
        scalars = {"train/recon_loss": static.loss.detach(), "train/pred_loss": loss_p.detach(),
                   "train/pred_mse_1step": pred_mse, "train/repeat_last_mse": repeat_mse,
                   "train/pred_nll": pred_nll.detach().mean()}
        return OddnOutput(loss=loss, nll=static.nll, kl=static.kl, means=static.means, masks=static.masks,
                          recon=static.recon, z=z, pred_recon=pred_recon, scalars=scalars)

    # -- evaluation and export --------------------------------------------------------------------

    def infer(self, video: torch.Tensor, seeds: torch.Tensor | None = None, chunk: int = 64
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame inference of video [B, T, 3, H, W]: sampled z and posterior means [B, T, K, D]."""
        return infer_latents(self.iodine, video, seeds, chunk)

    @torch.no_grad()
    def rollout(self, context: torch.Tensor, steps: int, seeds: torch.Tensor | None = None) -> Rollout:
        """From context frames [B, C>=2, 3, H, W], predicts the next `steps` frames."""
        if context.shape[1] < 2:
            raise ValueError("prediction needs at least 2 context frames (dynamics come from frame pairs)")
        _, z = self.infer(context, seeds)  # posterior means, as in training
        future = self.rollout_latents(z, steps)  # [B, S, K, D]
        all_z = torch.cat([z, future], 1)
        recon, _, _ = self.decode_frames(all_z.flatten(0, 1))
        recon = recon.unflatten(0, all_z.shape[:2])
        c = context.shape[1]
        return Rollout(context_recon=recon[:, :c], frames=recon[:, c:], z=all_z)

    @torch.no_grad()
    def features(self, video: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        """Slot features for reasoning: [B, T, K, D + l] = [static; dynamics] per frame.

        Static: the posterior mean of the last refinement (deterministic given the seeds).
        Dynamics: the distilled dynamics of eq. 9 (before the relation update) of those means.
        Frame 1 has no previous frame; its dynamics are defined as frame 2's (the forward
        difference), so every frame carries the displacement estimate nearest to it. A one-frame
        video gets zero dynamics. iodine_linear has no dynamics: [B, T, K, D].
        """
        _, mu = self.infer(video, seeds)
        if self.variant == "iodine_linear":
            return mu
        if mu.shape[1] == 1:
            return torch.cat([mu, mu.new_zeros(*mu.shape[:-1], self.cfg.dyn_dim)], -1)
        dyn = self.dynamics(mu)
        dyn = torch.cat([dyn[:, 1:2], dyn[:, 1:]], 1)
        return torch.cat([mu, dyn], -1)

    # -- the perception-model interface (perception/interface.py) ------------------------------------------

    @classmethod
    def build(cls, cfg) -> "Oddn":
        return cls(cfg.iodine, cfg.oddn, tuple(cfg.frames.preprocess.size))

    @classmethod
    def label(cls, cfg) -> str:
        return cls.name if cfg.oddn.variant == "oddn" else f"oddn/{cfg.oddn.variant}"

    @classmethod
    def clip_len(cls, cfg, step: int | None = None) -> int:
        return curriculum_length(cfg.oddn.curriculum, step)

    def decompose(self, video: torch.Tensor, seeds: torch.Tensor | None = None) -> Decomposition:
        with torch.no_grad():
            return decompose_frames(self.iodine, video, seeds)  # its frames are IODINE's

    def feature_dims(self) -> tuple[int, int]:
        return self.iodine.cfg.latent_dim, self.dyn_dim

    def slot_features(self, video: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        return self.features(video, seeds)

    def predict(self, context: torch.Tensor, steps: int, seeds: torch.Tensor | None = None) -> Rollout:
        return self.rollout(context, steps, seeds)

    @torch.no_grad()
    def rollout_features(self, video: torch.Tensor, steps: int, seeds: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T + steps, K, D + l]: `features` of the observed frames, then of the latents `rollout` predicts
        from them. A frame's dynamics read that frame and the one before, so the observed frames' features
        are those of `features`, and a predicted frame's dynamics are those of the predicted latents."""
        if video.shape[1] < 2:
            raise ValueError("a rollout needs at least 2 observed frames (dynamics come from frame pairs)")
        _, mu = self.infer(video, seeds)  # [B, T, K, D]
        z = torch.cat([mu, self.rollout_latents(mu, steps)], 1)  # [B, T + S, K, D]
        if self.variant == "iodine_linear":
            return z
        dyn = self.dynamics(z)  # [B, T + S, K, l]
        return torch.cat([z, torch.cat([dyn[:, 1:2], dyn[:, 1:]], 1)], -1)

    def interpretability_figures(self, cfg, item: dict, out_dir: Path) -> list[Path]:
        if self.variant == "iodine_linear":  # no dynamics to show
            return []
        from perception.dynamics_figures import dynamics_figures  # figures import plotting; keep the model light

        return dynamics_figures(self, cfg, item, out_dir)
