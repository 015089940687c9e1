"""Decomposition metrics: ARI, foreground-ARI (per frame and per video) and reconstruction MSE.

Protocol (also in docs/perception.md):
- Predicted segmentation = argmax of the slot masks; ground truth = instance ids, 0 = background.
- ARI compares all pixels; FG-ARI only pixels whose true id is not 0 (predictions are not sliced).
- Per frame: one score per frame. Per video: one score over all scored frames of a video
  together, so a slot must keep its object across frames (CLEVRER objects enter mid-video;
  a per-frame score cannot see identity switches, a per-video score can).
- Counts are exact integers, the ratio is float64.
- Degenerate cases follow scikit-learn's `adjusted_rand_score`: when both partitions are a single
  cluster, or both put every point in its own cluster (this covers 0 and 1 points), the score
  is 1.0. Hence an object alone in a frame scores 1.0 when one slot holds it and 0.0 when it is
  split. Frames with no foreground pixel have no FG-ARI: `has_points` is False for them and the
  evaluation leaves them out of FG-ARI means and reports how many there were.
"""
from __future__ import annotations

import torch


def adjusted_rand_index(true_ids: torch.Tensor, pred_ids: torch.Tensor,
                        valid: torch.Tensor | None = None) -> torch.Tensor:
    """ARI of each row: true_ids, pred_ids [B, N] non-negative ints; valid [B, N] bool or None.

    Returns float64 [B]. Points with valid False are ignored.
    """
    if true_ids.shape != pred_ids.shape or true_ids.dim() != 2:
        raise ValueError(f"expected matching [B, N] id tensors, got {list(true_ids.shape)} and {list(pred_ids.shape)}")
    if valid is not None and valid.shape != true_ids.shape:
        raise ValueError(f"valid mask {list(valid.shape)} does not match ids {list(true_ids.shape)}")
    true_ids, pred_ids = true_ids.long(), pred_ids.long()
    if (true_ids < 0).any() or (pred_ids < 0).any():
        raise ValueError("ids must be non-negative")
    b = true_ids.shape[0]
    nt = int(true_ids.max()) + 1 if true_ids.numel() else 1
    npred = int(pred_ids.max()) + 1 if pred_ids.numel() else 1
    weight = torch.ones_like(true_ids) if valid is None else valid.long()
    # Contingency table n_ij per row, as exact integer counts: [B, nt * npred].
    table = torch.zeros(b, nt * npred, dtype=torch.long, device=true_ids.device)
    table.scatter_add_(1, true_ids * npred + pred_ids, weight)
    table = table.view(b, nt, npred).double()
    n = table.sum((1, 2))
    a = table.sum(2)  # [B, nt] true cluster sizes
    c = table.sum(1)  # [B, npred] predicted cluster sizes
    index = (table * (table - 1)).sum((1, 2))
    a_index = (a * (a - 1)).sum(1)
    c_index = (c * (c - 1)).sum(1)
    pairs = n * (n - 1)
    expected = torch.where(pairs > 0, a_index * c_index / pairs.clamp_min(1), torch.zeros_like(pairs))
    max_index = (a_index + c_index) / 2
    denom = max_index - expected
    # denom == 0 exactly when both partitions are one cluster or both all singletons (incl. n <= 1).
    return torch.where(denom != 0, (index - expected) / torch.where(denom != 0, denom, torch.ones_like(denom)),
                       torch.ones_like(denom))


def segmentation_scores(true_ids: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-frame and per-video ARI / FG-ARI.

    Args:
        true_ids: [B, T, H, W] instance ids, 0 = background.
        masks: [B, T, K, H, W] slot masks (or logits); the argmax over K is the prediction.
    Returns:
        dict of float64 tensors: ari_frame, fg_ari_frame [B, T]; ari_video, fg_ari_video [B];
        fg_frame_has_points [B, T] and fg_video_has_points [B] (bool).
    """
    if true_ids.dim() != 4 or masks.dim() != 5 or masks.shape[:2] != true_ids.shape[:2] \
            or masks.shape[-2:] != true_ids.shape[-2:]:
        raise ValueError(f"expected true ids [B, T, H, W] and masks [B, T, K, H, W], got "
                         f"{list(true_ids.shape)} and {list(masks.shape)}")
    b, t = true_ids.shape[:2]
    pred = masks.argmax(2)  # [B, T, H, W]
    fg = true_ids > 0
    frame_true, frame_pred, frame_fg = (x.flatten(0, 1).flatten(1) for x in (true_ids, pred, fg))
    video_true, video_pred, video_fg = true_ids.flatten(1), pred.flatten(1), fg.flatten(1)
    return {
        "ari_frame": adjusted_rand_index(frame_true, frame_pred).view(b, t),
        "fg_ari_frame": adjusted_rand_index(frame_true, frame_pred, frame_fg).view(b, t),
        "fg_frame_has_points": frame_fg.any(1).view(b, t),
        "ari_video": adjusted_rand_index(video_true, video_pred),
        "fg_ari_video": adjusted_rand_index(video_true, video_pred, video_fg),
        "fg_video_has_points": video_fg.any(1),
    }


def reconstruction_mse(images: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image over pixels and channels: [..., C, H, W] -> [...] float64."""
    if images.shape != recon.shape:
        raise ValueError(f"images {list(images.shape)} and reconstructions {list(recon.shape)} differ")
    return ((images.double() - recon.double()) ** 2).mean((-3, -2, -1))
