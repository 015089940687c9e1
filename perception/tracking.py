"""Slot tracks for models that decompose each frame on its own (IODINE, ODDN).

Such a model starts every frame from the same lambda_0, so which slot holds an object changes from frame to
frame: slot k of frame t and slot k of frame t + 1 are in general different objects. Readers that treat a slot
index as one object over the video (the QA stage's `object_track` tokens, its pair and mention heads) need the
slots reordered into tracks. Here each frame's slots are matched to the previous frame's tracks by the distance of
their static latents (position, colour and shape are all in the latent), one-to-one with the Hungarian algorithm.
PROVIDE carries each slot's 2D-LSTM state from frame to frame, so its slots are tracks already.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def track_order(static: torch.Tensor) -> torch.Tensor:
    """Track order of per-frame slots: static latents [B, T, K, D] -> order [B, T, K] (long), where order[b, t, j]
    is the slot of frame t that continues track j. Frame 0 keeps its slot order."""
    b, t, k, _ = static.shape
    z = static.detach().float().cpu()
    order = np.empty((b, t, k), dtype=np.int64)
    order[:, 0] = np.arange(k)
    for i in range(b):
        for f in range(1, t):
            prev = z[i, f - 1, order[i, f - 1]]  # [K, D] the tracks' latents at the previous frame
            cost = torch.cdist(prev[None], z[i, f][None])[0].numpy()  # [K tracks, K slots]
            tracks, slots = linear_sum_assignment(cost)
            order[i, f, tracks] = slots
    return torch.from_numpy(order).to(static.device)


def apply_order(features: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """features [B, T, K, F] reordered into tracks: out[b, t, j] = features[b, t, order[b, t, j]]."""
    index = order[..., None].expand(*order.shape, features.shape[-1])  # [B, T, K, F]
    return torch.gather(features, 2, index)


def rollout_order(features: torch.Tensor, static_dims: int, observed: int | None = None) -> torch.Tensor:
    """Track order [B, T, K] of features [B, T, K, F] (the first `static_dims` of F the static latent). Frames after
    the first `observed` (a rollout) are predictions that continue the last observed frame's slots one by one, so
    they take that frame's order."""
    observed = features.shape[1] if observed is None else observed
    order = track_order(features[:, :observed, :, :static_dims])  # [B, T_obs, K]
    if observed < features.shape[1]:
        rest = order[:, -1:].expand(-1, features.shape[1] - observed, -1)
        order = torch.cat([order, rest], 1)  # [B, T, K]
    return order


def tracked(features: torch.Tensor, static_dims: int, observed: int | None = None) -> torch.Tensor:
    """Features [B, T, K, F] with the slots of each frame in track order (`rollout_order`)."""
    return apply_order(features, rollout_order(features, static_dims, observed))


def track_objects(true_ids: torch.Tensor, masks: torch.Tensor, order: torch.Tensor, min_iou: float = 0.2
                  ) -> torch.Tensor:
    """The annotated object each slot track holds: true_ids [T, H, W] (0 = background, object id + 1), masks
    [T, K, H, W] in the model's slot order, order [T, K] (`track_order`) -> object id per track [K] (long, -1: none).

    A track's pixels are those where its slot has the largest mask, pooled over the frames; tracks and objects are
    paired one to one by the largest total IoU (Hungarian), and a pair below `min_iou` is left unpaired (the
    background's tracks, an object split between tracks)."""
    t, k = order.shape
    slot_of_pixel = masks.argmax(1)  # [T, H, W]
    track_of_slot = torch.argsort(order, dim=-1)  # [T, K]
    track_of_pixel = torch.gather(track_of_slot, 1, slot_of_pixel.flatten(1)).view_as(slot_of_pixel)  # [T, H, W]
    ids = true_ids.long()
    num_ids = int(ids.max()) + 1
    joint = torch.bincount((track_of_pixel * num_ids + ids).flatten(), minlength=k * num_ids).view(k, num_ids)
    inter = joint[:, 1:].double()  # [K tracks, objects] pixels in common (column j: object id j)
    union = joint.sum(1, keepdim=True) + joint.sum(0, keepdim=True)[:, 1:] - inter
    iou = (inter / union.clamp_min(1)).numpy()
    out = torch.full((k,), -1, dtype=torch.long)
    present = np.flatnonzero(joint[:, 1:].sum(0).numpy() > 0)  # objects visible in some frame
    if len(present):
        tracks, cols = linear_sum_assignment(-iou[:, present])
        for j, c in zip(tracks, present[cols]):
            if iou[j, c] >= min_iou:
                out[j] = int(c)
    return out


def track_purity(true_ids: torch.Tensor, masks: torch.Tensor, order: torch.Tensor) -> float:
    """How well slot tracks follow objects: for each annotated object, the share of the frames it is visible in where
    it falls in its most frequent track (1.0: every object stays in one track).

    true_ids [B, T, H, W] (0 = background, object id + 1), masks [B, T, K, H, W], order [B, T, K] (`track_order`;
    the identity order scores the raw slot indices). An object's slot in a frame is the slot holding most of its
    pixels (argmax of the masks)."""
    b, t, k = order.shape
    slot_of_pixel = masks.argmax(2)  # [B, T, H, W]
    track_of_slot = torch.argsort(order, dim=-1)  # [B, T, K]: the track each slot of the frame continues
    kept = seen = 0
    for i in range(b):
        for obj in torch.unique(true_ids[i]).tolist():
            if obj == 0:
                continue
            tracks = []
            for f in range(t):
                pixels = true_ids[i, f] == obj
                if pixels.any():
                    slot = int(torch.mode(slot_of_pixel[i, f][pixels]).values)
                    tracks.append(int(track_of_slot[i, f, slot]))
            if len(tracks) > 1:
                kept += int(np.bincount(tracks).max())
                seen += len(tracks)
    return kept / seen if seen else float("nan")
