"""Contact sheet: frames of a few videos with instance-mask overlays and object labels."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from qa_data.clevrer.annotations import load_annotation  # noqa: E402
from qa_data.clevrer.layout import ClevrerLayout  # noqa: E402
from qa_data.clevrer.masks import load_masks  # noqa: E402
from qa_data.clevrer.video_io import read_video  # noqa: E402

_PALETTE = plt.get_cmap("tab10")


def contact_sheet(root, split: str, indices: list[int], out: str | Path,
                  frames: tuple[int, ...] = (0, 48, 96, 127), scale: int = 3) -> Path:
    """Rows = videos; for each chosen frame the RGB frame and the frame with mask overlay + labels."""
    layout = ClevrerLayout(root)
    ncols = 2 * len(frames)
    fig, axes = plt.subplots(len(indices), ncols, figsize=(ncols * 1.9, len(indices) * 1.45), squeeze=False)
    for r, idx in enumerate(indices):
        video = read_video(layout.video_source(split, idx))
        ann = load_annotation(layout.annotation_path(split, idx))
        masks = load_masks(layout.proposal_path(idx), ann.object_property)
        names = {o.object_id + 1: f"{o.color[:3]} {o.material[:3]} {o.shape[:3]}" for o in ann.object_property}
        for c, t in enumerate(frames):
            t = min(t, len(video) - 1)
            rgb = video[t].astype(np.float32) / 255
            ax_img, ax_ov = axes[r, 2 * c], axes[r, 2 * c + 1]
            ax_img.imshow(rgb, interpolation="nearest")
            overlay = rgb.copy()
            for oid in np.unique(masks[t]):
                if oid == 0:
                    continue
                m = masks[t] == oid
                overlay[m] = 0.45 * overlay[m] + 0.55 * np.array(_PALETTE((oid - 1) % 10)[:3])
                ys, xs = np.nonzero(m)
                ax_ov.text(xs.mean(), ys.min() - 1, names.get(int(oid), str(oid)), fontsize=4.5,
                           ha="center", va="bottom", color="white",
                           bbox=dict(facecolor="black", alpha=0.5, pad=0.5, linewidth=0))
            ax_ov.imshow(overlay, interpolation="nearest")
            ax_img.set_title(f"video {idx} frame {t}", fontsize=5)
            ax_ov.set_title("masks", fontsize=5)
            for ax in (ax_img, ax_ov):
                ax.set_xticks([])
                ax.set_yticks([])
    fig.tight_layout(pad=0.3)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100 * scale // 2)
    plt.close(fig)
    return out
