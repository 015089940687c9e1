"""ODDN's Fig. 10: what each dynamics dim of one object does to the predicted frame, and the attention maps."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from perception.config import PerceptionConfig  # noqa: E402
from perception.figures import save_figure  # noqa: E402


def _object_slot(masks: torch.Tensor, true_ids: torch.Tensor) -> int:
    """The slot whose segment best overlaps (IoU) a ground-truth object; masks [K, H, W], ids [H, W]."""
    seg = masks.argmax(0)
    best, best_iou = 0, -1.0
    for k in range(masks.shape[0]):
        mine = seg == k
        for obj in true_ids.unique().tolist():
            if obj == 0:
                continue
            other = true_ids == obj
            union = (mine | other).sum().item()
            iou = (mine & other).sum().item() / union if union else 0.0
            if iou > best_iou:
                best, best_iou = k, iou
    return best


@torch.no_grad()
def dynamics_figures(model: torch.nn.Module, cfg: PerceptionConfig, item: dict, out_dir: Path,
                     values: tuple[float, ...] = (-2.0, -1.0, 0.0, 1.0, 2.0)) -> list[Path]:
    """ODDN Fig. 10: `dynamics_sweep.png` (each dynamics dim of one object set to -2..2, predicted
    next frame) and `attention.png` (distillation attention over a clip, relation attention)."""
    model.eval()
    device = next(model.parameters()).device
    video = item["frames"][None].to(device)  # [1, T, 3, H, W]
    gap = cfg.frames.frame_stride
    seeds = torch.tensor([[item["video_index"] * 1000 + item["start"] + f * gap for f in range(video.shape[1])]])
    z, _ = model.infer(video, seeds)  # [1, T, K, D]
    dyn, attn = model.distiller(z, need_weights=True)
    paths = []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    # Sweep: frame 2's dynamics (after the relation update) of one object, each dim set in turn.
    cur = z[:, 1]  # [1, K, D]
    dyn_upd, rel_att = model.update(dyn[:, 1], cur)  # [1, K, l]
    _, means, log_masks = model.decode_frames(cur)
    slot = _object_slot(log_masks[0, :, 0].exp(), item["masks"][1].to(device))
    l_dim = dyn_upd.shape[-1]
    sweeps = []
    for d in range(l_dim):
        row = []
        for v in values:
            changed = dyn_upd.clone()
            changed[0, slot, d] = v
            recon, _, _ = model.decode_frames(model.predictor(changed, cur))
            row.append(recon[0].float().cpu())
        sweeps.append(row)
    h, w = video.shape[-2:]
    fig, axes = plt.subplots(l_dim, len(values) + 1, figsize=((len(values) + 1) * 1.3 * w / h, l_dim * 1.35 + 0.5),
                             squeeze=False)
    seg_img = log_masks[0, slot, 0].exp().cpu()
    for d in range(l_dim):
        for j in range(len(values) + 1):
            ax = axes[d, j]
            if j == 0:
                ax.imshow(seg_img.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_title("object (mask)" if d == 0 else "", fontsize=7)
            else:
                ax.imshow(sweeps[d][j - 1].clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
                if d == 0:
                    ax.set_title(f"{values[j - 1]:+g}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(f"dyn {d}", fontsize=7)
    fig.suptitle(f"{type(model).label(cfg)}: predicted frame 3 with one dynamics dim of slot {slot} swept "
                 f"(video {item['video_index']})", fontsize=8)
    paths.append(save_figure(fig, out_dir / "dynamics_sweep.png"))

    # Attention maps: the distiller over the whole clip, and the relation module at frame 2.
    k = z.shape[2]
    t = z.shape[1]
    panels = 2 if rel_att is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    ax.imshow(attn[0].float().cpu().numpy(), cmap="viridis", interpolation="nearest")
    for b in range(1, t):
        ax.axhline(b * k - 0.5, color="w", lw=0.4)
        ax.axvline(b * k - 0.5, color="w", lw=0.4)
    ax.set_title("distillation attention (rows: query frame x slot)", fontsize=8)
    ax.set_xlabel("key token (frame-major)", fontsize=7)
    ax.set_ylabel("query token", fontsize=7)
    if rel_att is not None:
        ax = axes[0, 1]
        im = ax.imshow(rel_att[0].float().cpu().numpy(), cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title("relation attention att(i, j), frame 2", fontsize=8)
        ax.set_xlabel("slot j (acts on i)", fontsize=7)
        ax.set_ylabel("slot i", fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046)
    paths.append(save_figure(fig, out_dir / "attention.png"))
    return paths
