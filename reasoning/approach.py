"""The closest-approach auxiliary target of relation tokens (`aloe.approach_weight`, ground-truth states only).

For each pair of slots of a pass, the smallest ground-plane distance the two objects reach when both move on
in straight lines for `horizon_s` seconds from the window's last frame: the straight-line rule's quantity
(`qa_data.programs.extrapolation.closest_approach`), computed from the state features the model reads.
Regressing it from each relation token asks the model to compute, from its own input, what the rule uses to
answer predictive questions (issue 30's auxiliary probe).
"""
from __future__ import annotations

import torch

from qa_data.errors import DataError
from qa_data.programs.extrapolation import HORIZON_S
from qa_data.slots.slot_cache import SlotLayout
from qa_data.slots.state_cache import STATE_FEATURES

MOTION = ("x", "y", "vx", "vy")


def motion_columns(attrs: dict, path="<slot cache>") -> list[int]:
    """Feature columns of x, y, vx, vy in a ground-truth state cache; other caches are refused."""
    if attrs.get("producer") != "annotations" or SlotLayout.of(attrs).dim != len(STATE_FEATURES):
        raise DataError(path, "reading positions and velocities (aloe.approach_weight, the probes) needs a "
                              "ground-truth state cache (scripts/extract_states.py), not "
                              f"{attrs.get('model_label')!r}")
    return [STATE_FEATURES.index(f) for f in MOTION]


def pair_closest_approach(slots: torch.Tensor, presence: torch.Tensor, pair_index: torch.Tensor, columns: list[int],
                          horizon_s: float = HORIZON_S) -> torch.Tensor:
    """slots [N, F, K, D] (raw states), presence [N, F, K], pair_index [2, P] -> [N, P] closest approach from the
    last frame, NaN where either object is absent at that frame."""
    last = slots[:, -1].float()  # [N, K, D]
    p, v = last[..., columns[:2]], last[..., columns[2:]]  # [N, K, 2] each
    a, b = pair_index
    dp, dv = p[:, a] - p[:, b], v[:, a] - v[:, b]  # [N, P, 2]
    speed2 = (dv * dv).sum(-1)  # [N, P]
    t = torch.where(speed2 > 0, -(dp * dv).sum(-1) / speed2.clamp_min(1e-12), torch.zeros_like(speed2))
    t = t.clamp(0.0, horizon_s)[..., None]  # [N, P, 1]
    dist = (dp + dv * t).norm(dim=-1)  # [N, P]
    seen = presence[:, -1, a] & presence[:, -1, b]  # [N, P]
    return torch.where(seen, dist, torch.full_like(dist, float("nan")))
