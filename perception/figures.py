"""Decomposition figures: input, reconstruction, segmentation and every slot's masked means."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

_PALETTE = plt.get_cmap("tab10")


def save_figure(fig, path: Path) -> Path:
    """Lays out, writes (creating the folder) and closes a matplotlib figure."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def segmentation_image(masks: torch.Tensor) -> np.ndarray:
    """masks [K, H, W] -> RGB [H, W, 3] colouring each pixel by its argmax slot."""
    colours = np.asarray([_PALETTE(k % 10)[:3] for k in range(masks.shape[0])])
    return colours[masks.argmax(0).cpu().numpy()]


def _rgb(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def decomposition_figure(images: torch.Tensor, recon: torch.Tensor, masks: torch.Tensor, means: torch.Tensor,
                         path: Path, title: str = "", true_ids: torch.Tensor | None = None) -> Path:
    """One row per image. images, recon [N, 3, H, W]; masks [N, K, H, W]; means [N, K, 3, H, W];
    true_ids [N, H, W] (optional ground-truth instance ids, drawn after the input)."""
    n, k = masks.shape[:2]
    cols = ["input"] + (["truth"] if true_ids is not None else []) + ["reconstruction", "segmentation"] \
        + [f"slot {j}" for j in range(k)]
    h, w = images.shape[-2:]
    scale = 1.3
    fig, axes = plt.subplots(n, len(cols), figsize=(len(cols) * scale * w / h, n * scale + 0.4), squeeze=False)
    for i in range(n):
        panels = [_rgb(images[i])]
        if true_ids is not None:
            ids = true_ids[i].cpu().numpy()
            panels.append(np.asarray([(0, 0, 0)] + [_PALETTE(j % 10)[:3] for j in range(int(ids.max()))])[ids])
        panels += [_rgb(recon[i]), segmentation_image(masks[i])]
        panels += [_rgb(masks[i, j, None] * means[i, j] + (1 - masks[i, j, None])) for j in range(k)]
        for j, panel in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(cols[j], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    return save_figure(fig, path)


def curve_figure(steps: list[int], series: dict[str, list[float]], path: Path, title: str = "") -> Path:
    """Line plot of evaluation metrics against training steps."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, values in series.items():
        ax.plot(steps, values, marker="o", label=name)
    ax.set_xlabel("training step")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
