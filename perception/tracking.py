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


def track_objects(true_ids: torch.Tensor, masks: torch.Tensor, order: torch.Tensor, min_share: float = 0.5
                  ) -> torch.Tensor:
    """The annotated object each slot track holds: true_ids [T, H, W] (0 = background, object id + 1), masks
    [T, K, H, W] in the model's slot order, order [T, K] (`track_order`) -> object id per track [K] (long, -1: none).

    In each frame an object is held by the slot with most of its pixels (argmax of the masks, as FG-ARI and
    `track_purity` read it). Tracks and objects are paired one to one by the number of frames the track holds the
    object (Hungarian), and a pair is kept where the track holds the object in at least `min_share` of the frames
    the object is visible in. A slot that holds an object together with some floor still holds it (the per-frame
    IoU of a slot and its object is low at CPU resolution, about 0.2 for the demo checkpoint)."""
    t, k = order.shape
    slot_of_pixel = masks.argmax(1)  # [T, H, W]
    track_of_slot = torch.argsort(order, dim=-1)  # [T, K]
    ids = true_ids.long()
    num_ids = int(ids.max()) + 1
    held = np.zeros((k, num_ids), dtype=np.int64)  # frames track j holds object id c - 1 (column c)
    visible = np.zeros(num_ids, dtype=np.int64)
    for f in range(t):
        # pixels of each (slot, id) pair in this frame; an id's holder is the slot with most of its pixels
        joint = torch.bincount((slot_of_pixel[f] * num_ids + ids[f]).flatten(), minlength=k * num_ids).view(k, num_ids)
        seen = (joint.sum(0) > 0).numpy()
        holder = joint.argmax(0).numpy()  # [num_ids]
        for c in np.flatnonzero(seen[1:]) + 1:
            visible[c] += 1
            held[int(track_of_slot[f, holder[c]]), c] += 1
    out = torch.full((k,), -1, dtype=torch.long)
    present = np.flatnonzero(visible[1:] > 0) + 1
    if len(present):
        tracks, cols = linear_sum_assignment(-held[:, present])
        for j, c in zip(tracks, present[cols]):
            if held[j, c] >= min_share * visible[c]:
                out[j] = int(c) - 1
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
