"""Linear probes of a QA model's visual tokens on ground-truth states: what the input layer keeps of each
object's motion, and whether the straight-line rule's quantity (closest approach of two objects) can be read
from a pair of tokens.

For each video the model's own evaluation window is read; a token is an object track (`object_track`) or an
object's slot at the window's last frame (`frame_slot`). Targets are taken at the window's last frame:

    object  x, y, vx, vy of each present object
    pair    the closest ground-plane approach of two present objects moving on in straight lines for
            `horizon_s` seconds (`qa_data.programs.extrapolation.closest_approach`), the rule's quantity

Ridge regressions (scikit-learn's RidgeCV) are fitted on the training videos and scored (R²) on the
validation videos, from the trained model's tokens, from the tokens of an untrained model of the same
config (what the architecture keeps before learning), and from the standardised input features of the
last frame (what a linear read of the raw input gets). A pair is read from [a, b, a * b, |a - b|] of its two
tokens, or from its relation token when the model has them (`aloe.relation_tokens`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from qa_data.programs.extrapolation import HORIZON_S, closest_approach
from qa_data.slots.slot_cache import SlotFrames
from reasoning.aloe import Aloe
from reasoning.approach import MOTION as OBJECT_TARGETS
from reasoning.approach import motion_columns


@dataclass
class ProbeData:
    tokens: dict[str, np.ndarray]  # name -> [objects, d]: one row per present object at the last frame
    pair_tokens: dict[str, np.ndarray]  # name -> [pairs, 4d]
    objects: np.ndarray  # [objects, 4] x, y, vx, vy
    pairs: np.ndarray  # [pairs] closest approach


def _pair_features(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.concatenate([a, b, a * b, np.abs(a - b)], -1)


@torch.no_grad()
def probe_data(models: dict[str, Aloe], slots: SlotFrames, videos: list[int], horizon_s: float = HORIZON_S,
               batch: int = 64) -> ProbeData:
    """Tokens of every model and the targets, for the given videos of a state cache."""
    col = motion_columns(slots.attrs, slots.path)  # x, y, vx, vy; a cache other than states is refused
    sources = [*models, "input (last frame)"]
    tokens = {k: [] for k in sources}
    pair_tokens = {k: [] for k in sources}
    objects, pairs = [], []
    for i in range(0, len(videos), batch):
        items = [slots.sample(v) for v in videos[i:i + batch]]
        x = torch.stack([it["slots"] for it in items])  # [B, F, K, D]
        present = torch.stack([it["presence"] for it in items])  # [B, F, K]
        last = present[:, -1]  # [B, K]
        toks, rel = {}, {}
        for name, model in models.items():
            vis, _, _ = model.visual_tokens(x, present)  # [B, K or F*K (+ P), d]
            k = x.shape[2]
            if not model.tracks:
                vis = vis.view(x.shape[0], x.shape[1], k, -1)[:, -1]  # [B, K, d]: the last frame's slots
            elif model.relations:  # a pair is read from its own relation token
                rel[name] = ({(a, b): i for i, (a, b) in enumerate(model.pair_index.T.tolist())},
                             vis[:, k:].float().numpy())  # [B, P, d]
            toks[name] = vis[:, :k].float().numpy()
        raw = x[:, -1].numpy()  # [B, K, D]
        toks["input (last frame)"] = raw
        for b in range(x.shape[0]):
            ks = torch.nonzero(last[b]).flatten().tolist()
            for k in ks:
                objects.append(raw[b, k, col])
                for name in sources:
                    tokens[name].append(toks[name][b, k])
            for j, ka in enumerate(ks):
                for kb in ks[j + 1:]:
                    pa, pb = raw[b, ka, col], raw[b, kb, col]
                    pairs.append(closest_approach(pa[:2], pa[2:], pb[:2], pb[2:], horizon_s))
                    for name in sources:
                        pair_tokens[name].append(rel[name][1][b, rel[name][0][(ka, kb)]] if name in rel
                                                 else _pair_features(toks[name][b, ka], toks[name][b, kb]))
    return ProbeData({k: np.stack(v) for k, v in tokens.items()}, {k: np.stack(v) for k, v in pair_tokens.items()},
                     np.stack(objects), np.asarray(pairs))


def probe_table(train: ProbeData, val: ProbeData) -> pd.DataFrame:
    """R² on validation of ridge probes fitted on train: one row per token source, one column per target."""
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit(x_tr, y_tr, x_va, y_va) -> float:
        probe = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
        probe.fit(x_tr, y_tr)
        return float(r2_score(y_va, probe.predict(x_va)))

    rows = []
    for name in train.tokens:
        row = {"tokens": name}
        for j, t in enumerate(OBJECT_TARGETS):
            row[f"R² {t}"] = fit(train.tokens[name], train.objects[:, j], val.tokens[name], val.objects[:, j])
        row["R² closest approach (pair)"] = fit(train.pair_tokens[name], train.pairs, val.pair_tokens[name],
                                                val.pairs)
        rows.append(row)
    return pd.DataFrame(rows)
