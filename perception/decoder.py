"""Spatial broadcast decoder (Watters et al. 2019): one slot latent -> pixel means and a mask logit."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def coordinate_grid(height: int, width: int) -> torch.Tensor:
    """Linear coordinates in [-1, 1]: [2, H, W] (row, column)."""
    ys = torch.linspace(-1.0, 1.0, height)
    xs = torch.linspace(-1.0, 1.0, width)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gy, gx])


class BroadcastConv2d(nn.Module):
    """`Conv2d(cat(coords, broadcast(z)))` with 'same' zero padding, computed without broadcasting.

    A latent tiled over the image is constant, so the convolution of its channels reduces to one
    matrix product per kernel tap, times a 0/1 map of where that tap falls inside the image (the
    zero padding makes the border differ). The coordinate channels are the same for every slot
    and are convolved once. The result equals `nn.Conv2d` on the tiled input (tested) at a
    fraction of its cost: this is the decoder's widest layer.
    """

    def __init__(self, latent_dim: int, out_channels: int, kernel: int, size: tuple[int, int]):
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd for 'same' padding, got {kernel}")
        self.conv = nn.Conv2d(2 + latent_dim, out_channels, kernel, padding=kernel // 2)
        self.kernel = kernel
        h, w = size
        self.register_buffer("coords", coordinate_grid(h, w)[None], persistent=False)  # [1, 2, H, W]
        ones = torch.ones(1, 1, h, w)
        taps = torch.eye(kernel * kernel).view(kernel * kernel, 1, kernel, kernel)
        # valid[u, i, j] = 1 where tap u of the kernel centred at (i, j) lies inside the image.
        valid = F.conv2d(ones, taps, padding=kernel // 2)[0]  # [k*k, H, W]
        self.register_buffer("valid", valid.flatten(1), persistent=False)  # [k*k, H*W]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # z: [N, D] -> [N, C, H, W]
        n = z.shape[0]
        weight = self.conv.weight  # [C, 2 + D, k, k]
        c = weight.shape[0]
        h, w = self.coords.shape[-2:]
        coord_part = F.conv2d(self.coords, weight[:, :2], self.conv.bias, padding=self.kernel // 2)  # [1, C, H, W]
        per_tap = torch.einsum("nd,cdu->ncu", z, weight[:, 2:].flatten(2))  # [N, C, k*k]
        latent_part = (per_tap.reshape(n * c, -1) @ self.valid).view(n, c, h, w)  # [N, C, H, W]
        return latent_part + coord_part


class SpatialBroadcastDecoder(nn.Module):
    """z [N, D] -> (means [N, 3, H, W] in (0, 1), mask logits [N, 1, H, W]).

    Layers: broadcast + coordinates, `len(channels)` convs with ELU, then a conv to 4 channels
    (RGB means through a sigmoid as in the PyTorch port; channel 3 is the mask logit).
    """

    def __init__(self, latent_dim: int, size: tuple[int, int], channels: list[int], kernel: int = 3,
                 out_rgb: int = 3):
        super().__init__()
        if not channels:
            raise ValueError("the decoder needs at least one hidden conv layer")
        self.size = tuple(size)
        self.out_rgb = out_rgb
        self.first = BroadcastConv2d(latent_dim, channels[0], kernel, self.size)
        layers: list[nn.Module] = [nn.ELU()]
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(cin, cout, kernel, padding=kernel // 2), nn.ELU()]
        layers.append(nn.Conv2d(channels[-1], out_rgb + 1, kernel, padding=kernel // 2))
        self.rest = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.rest(self.first(z))  # [N, 4, H, W]
        means = torch.sigmoid(out[:, :self.out_rgb])  # [N, 3, H, W]
        mask_logits = out[:, self.out_rgb:]  # [N, 1, H, W]
        return means, mask_logits
