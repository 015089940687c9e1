"""IODINE's refinement network and the inputs it reads (Greff et al. 2019, Table 3 / Sec. 2.3)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# Channels of the spatial input, in order (16 in all for RGB):
SPATIAL_INPUTS = (
    ("image", 3), ("means", 3), ("masks", 1), ("mask_logits", 1),
    ("d_means", 3), ("d_masks", 1),  # gradients of the step loss, layer-normalised, detached
    ("posterior", 1), ("log_likelihood", 1),  # p(slot | x, z) and log p(x | z) (layer-normalised)
    ("coords", 2),
)
SPATIAL_CHANNELS = sum(c for _, c in SPATIAL_INPUTS)


def _norm(t: torch.Tensor, dims: int) -> torch.Tensor:
    """Layer norm over the last `dims` axes without affine parameters, cut from the graph."""
    return F.layer_norm(t.detach().float(), t.shape[-dims:]).detach()


def refinement_inputs(x: torch.Tensor, means: torch.Tensor, masks: torch.Tensor, mask_logits: torch.Tensor,
                      d_means: torch.Tensor, d_masks: torch.Tensor, posterior: torch.Tensor,
                      log_px: torch.Tensor, lam: torch.Tensor, d_lam: torch.Tensor,
                      coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacks the refinement inputs of every slot.

    Args:
        x: image [B, 3, H, W]; means [B, K, 3, H, W]; masks, mask_logits, d_masks, posterior
            [B, K, 1, H, W]; d_means [B, K, 3, H, W]; log_px [B, 1, H, W]; lam, d_lam [B, K, 2D];
            coords [2, H, W].
    Returns:
        spatial [B*K, 16, H, W] and flat [B*K, 4D]. Gradient-like inputs (d_means, d_masks,
        d_lam, log_px) are layer-normalised per slot and detached; the others stay in the graph
        (they are functions of the latents, as in IODINE).
    """
    b, k = means.shape[:2]
    h, w = x.shape[-2:]
    dtype = means.dtype
    spatial = torch.cat([
        x[:, None].expand(b, k, -1, h, w).to(dtype),
        means, masks.to(dtype), mask_logits.to(dtype),
        _norm(d_means, 3).to(dtype), _norm(d_masks, 3).to(dtype),
        posterior.to(dtype),
        _norm(log_px, 3)[:, None].expand(b, k, 1, h, w).to(dtype),
        coords[None, None].expand(b, k, 2, h, w).to(dtype),
    ], dim=2)  # [B, K, 16, H, W]
    flat = torch.cat([lam, _norm(d_lam, 1).to(lam.dtype)], dim=-1)  # [B, K, 4D]
    return spatial.flatten(0, 1), flat.flatten(0, 1)


class RefinementEncoder(nn.Module):
    """Spatial inputs [N, C, H, W] -> features [N, mlp[-1]]: strided convs, global mean pool, MLP."""

    def __init__(self, in_channels: int, channels: list[int], kernel: int, stride: int, mlp: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for c in channels:
            layers += [nn.Conv2d(cin, c, kernel, stride=stride, padding=kernel // 2), nn.ELU()]
            cin = c
        self.convs = nn.Sequential(*layers)
        dims = [cin] + list(mlp)
        mlp_layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            mlp_layers += [nn.Linear(a, b), nn.ELU()]
        self.mlp = nn.Sequential(*mlp_layers)
        self.out_dim = dims[-1]

    def forward(self, spatial: torch.Tensor) -> torch.Tensor:
        h = self.convs(spatial)  # [N, C', H', W']
        return self.mlp(h.mean(dim=(2, 3)))  # [N, out_dim]


class RefinementNetwork(nn.Module):
    """f_phi: (spatial inputs, flat inputs, recurrent state) -> (delta lambda, new state).

    The update is additive, lambda <- lambda + delta (IODINE eq. 3; ODDN eq. 3). The recurrent
    core is an LSTM cell here; PROVIDE swaps in its 2D-LSTM through `core`.
    """

    def __init__(self, in_channels: int, flat_dim: int, out_dim: int, channels: list[int], kernel: int,
                 stride: int, mlp: list[int], hidden: int, core: nn.Module | None = None):
        super().__init__()
        self.encoder = RefinementEncoder(in_channels, channels, kernel, stride, mlp)
        self.hidden = hidden
        self.core = core if core is not None else nn.LSTMCell(self.encoder.out_dim + flat_dim, hidden)
        self.head = nn.Linear(hidden, out_dim)

    def initial_state(self, n: int, device, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(n, self.hidden, device=device, dtype=dtype)
        return zeros, zeros.clone()

    def forward(self, spatial: torch.Tensor, flat: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        features = torch.cat([self.encoder(spatial), flat], dim=-1)  # [N, mlp[-1] + 4D]
        h, c = self.core(features, state)  # [N, hidden] each
        return self.head(h), (h, c)
