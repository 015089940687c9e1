"""How well the frames a QA model samples from a ground-truth state cache tell which objects collided (issue 30's
descriptive diagnosis: collision counting stays near 46-56 % per question while the rest of the type is at 80-95 %).

    python benchmarks/bench_collision_reference.py --data DATA --states STATES [--frames 16] [--out table.csv]
        [--run QA_RUN ...] [--when QA_RUN ...]

For each video, the frames ALOE's evaluation window sees (`--frames` of the cache, strided as `SlotSampling`
strides them) and each pair of objects seen together in one of them: the smallest ground-plane distance between
their centres over those frames. A pair is labelled by the annotation's collisions (the pair collides at least
once in the video). Printed per split:
- how well that one number separates colliding pairs from the others (ROC AUC, the Mann-Whitney statistic);
- the rule "a pair collided if its smallest distance is under a threshold", with the threshold that labels most
  training pairs right: its pair accuracy, and the share of videos whose collision count it gets exactly (what
  "How many collisions happen?" asks).
It reads ground-truth positions, so it is a reference for what the input holds, not a model. With `--run`, a
second table gives each QA run with a collision head (`aloe.collision_head`) on "How many collisions happen?" of
the validation split: how often its soft count, rounded, is the number of collisions, and how often it answers right.
With `--when`, a third table gives each QA run with `aloe.relation_time` where its pair tokens' weights over the frames
fall for the pairs that collide (validation): at the sampled frame nearest the collision, or at the first frame where
both objects are seen, and how far their mean frame is from the collision's (against weights spread evenly over the
frames where both are seen).
"""
from __future__ import annotations

import argparse
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from summary import show_table  # benchmarks/summary.py: sets the allocator, records the CPU

from qa_data.clevrer.annotations import load_annotation
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.reports.qa_report import load_split_with_answers
from qa_data.slots.slot_cache import SlotFrames, SlotSampling, split_file
from reasoning.aloe import Aloe
from reasoning.approach import motion_columns
from reasoning.mention_oracle import question_collision_pairs
from reasoning.qa_dataset import collate
from reasoning.train import load_qa_run, question_set

COUNT_QUESTION = "How many collisions happen?"


def pair_distances(data: Path, states: Path, split: str, frames: int) -> pd.DataFrame:
    """One row per video and pair of objects seen together in a sampled frame: video, slots a < b, their
    smallest centre distance over the sampled frames, whether the annotation has them collide, and the video's
    number of collisions."""
    layout = ClevrerLayout(data)
    cache = SlotFrames(split_file(states, split), SlotSampling(num_frames=frames))
    x, y = motion_columns(cache.attrs, cache.path)[:2]
    rows = []
    for video in cache.videos:
        item = cache.sample(video)
        xy = item["slots"][..., [x, y]].numpy()  # [F, K, 2]
        seen = item["presence"].numpy()  # [F, K]
        ann = load_annotation(layout.annotation_path(split, video))
        slot = {p.object_id: k for k, p in enumerate(ann.object_property)}
        collided = {tuple(sorted((slot[a], slot[b]))) for a, b in (c.object_ids for c in ann.collision)}
        for a, b in combinations(range(xy.shape[1]), 2):
            both = seen[:, a] & seen[:, b]  # [F]
            if both.any():
                gap = float(np.linalg.norm(xy[both, a] - xy[both, b], axis=-1).min())
                rows.append((video, a, b, gap, (a, b) in collided, len(ann.collision)))
    return pd.DataFrame(rows, columns=["video", "a", "b", "min_distance", "collided", "collisions"])


def separation_auc(distance: np.ndarray, collided: np.ndarray) -> float:
    """Probability that a colliding pair's distance is below a non-colliding pair's, ties counting half (the
    Mann-Whitney U of the non-colliding pairs' ranks)."""
    ranks = pd.Series(distance).rank(method="average").to_numpy()
    n_pos, n_neg = int(collided.sum()), int((~collided).sum())
    return float((ranks[~collided].sum() - n_neg * (n_neg + 1) / 2) / (n_pos * n_neg))


def best_threshold(pairs: pd.DataFrame) -> float:
    """The distance threshold that labels the most pairs right: a midpoint between two consecutive distinct sorted
    distances, or below or above them all."""
    order = pairs.sort_values("min_distance")
    d, hit = order.min_distance.to_numpy(), order.collided.to_numpy()
    # the rule with the i smallest distances detected: right = colliding among them + non-colliding after them
    right = np.concatenate([[0], np.cumsum(hit)]) + np.concatenate([[(~hit).sum()], (~hit).sum() - np.cumsum(~hit)])
    cut = np.concatenate([[True], d[1:] > d[:-1], [True]])  # a threshold can fall only between distinct distances
    i = int(np.argmax(np.where(cut, right, -1)))
    if i == 0:
        return float(d[0] - 1.0)
    if i == len(d):
        return float(d[-1] + 1.0)
    return float((d[i - 1] + d[i]) / 2)


def rule_scores(pairs: pd.DataFrame, threshold: float) -> dict:
    """Pair accuracy of the threshold rule and the share of videos whose collision count it gets exactly."""
    detected = pairs.min_distance < threshold
    counts = pairs.assign(detected=detected).groupby("video").agg(detected=("detected", "sum"),
                                                                  collisions=("collisions", "first"))
    return {"pair accuracy": float((detected == pairs.collided).mean()),
            "videos counted exactly": float((counts.detected == counts.collisions).mean())}


def head_counts(run: Path, data: Path, slots: Path, question: str = COUNT_QUESTION) -> dict:
    """A QA run's collision head on the validation questions worded `question`: the share whose soft count (the
    number the answer head reads) rounds to the number of collisions, its mean absolute error, and the share
    answered right."""
    model, cfg, tokenizer, _, step = load_qa_run(run)
    if model.collision_in is None:
        raise SystemExit(f"{run}: the model has no collision head (aloe.collision_head)")
    layout = ClevrerLayout(data)
    scenes = load_split_with_answers(layout, "validation")
    wanted = {(s.scene_index, q.question_id) for s in scenes for q in s.questions if q.question == question}
    collisions = question_collision_pairs(layout, "validation", scenes)
    qs = question_set(cfg, data, slots, "validation", tokenizer, training=False)
    items = [qs[i] for i, it in enumerate(qs.items) if (it["scene_index"], it["question_id"]) in wanted]
    if not items:
        raise SystemExit(f"{data}: no validation question is worded {question!r}")
    read = {}
    hook = model.answer_head.register_forward_hook(lambda m, i, o: read.update(count=i[0][:, -1]))
    error, rounded, right = [], [], []
    with torch.no_grad():
        for start in range(0, len(items), 256):
            chunk = items[start:start + 256]
            batch = collate(chunk)
            answers = model(batch.slots, batch.text, batch.segment, batch.presence).answer_logits.argmax(-1)
            truth = torch.tensor([len(collisions[(it["scene_index"], it["question_id"])]) for it in chunk])
            error.append((read["count"] - truth).abs())
            rounded.append(read["count"].round() == truth)
            right.append(answers == batch.answer)
    hook.remove()
    return {"run": str(run), "step": step, "questions": len(items),
            "soft count rounds right": float(torch.cat(rounded).float().mean()),
            "soft count mean abs. error": float(torch.cat(error).mean()),
            "answered right": float(torch.cat(right).float().mean())}


def when_scores(model: Aloe, data: Path, states: Path, frames: int, split: str = "validation") -> dict:
    """Where a relation_time model's weights over the frames (`Aloe.relation_frame_weights`) fall for each annotated
    collision whose two objects are seen together in a sampled frame, in sampled-frame units."""
    layout = ClevrerLayout(data)
    cache = SlotFrames(split_file(states, split), SlotSampling(num_frames=frames))
    at_collision, at_first, error, even = [], [], [], []
    pair_of = {(int(a), int(b)): p for p, (a, b) in enumerate(model.pair_index.T.tolist())}
    frame = torch.arange(frames, dtype=torch.float32)  # [F] sampled-frame positions
    with torch.no_grad():
        for video in cache.videos:
            item = cache.sample(video)
            weight = model.relation_frame_weights(item["slots"][None], item["presence"][None])[0]  # [F, P]
            together = item["presence"][:, model.pair_index[0]] & item["presence"][:, model.pair_index[1]]  # [F, P]
            ann = load_annotation(layout.annotation_path(split, video))
            slot = {o.object_id: k for k, o in enumerate(ann.object_property)}
            for c in ann.collision:
                p = pair_of[tuple(sorted(slot[o] for o in c.object_ids))]
                seen = torch.nonzero(together[:, p]).flatten()  # [S] sampled frames where both are seen
                if len(seen) == 0:
                    continue
                when = int((item["frame_index"] - c.frame_id).abs().argmin())  # the sampled frame nearest it
                at_collision.append(int(weight[:, p].argmax()) == when)
                at_first.append(int(weight[:, p].argmax()) == int(seen[0]))
                error.append(float(((weight[:, p] * frame).sum() - when).abs()))
                even.append(float((seen.to(weight.dtype).mean() - when).abs()))
    n = len(error)
    return {"collisions": n, "peak at the collision": sum(at_collision) / n, "peak at first frame together":
            sum(at_first) / n, "mean frame - collision (frames)": sum(error) / n,
            "same, weights spread evenly": sum(even) / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--states", type=Path, required=True, help="ground-truth state cache (extract_states.py)")
    ap.add_argument("--frames", type=int, default=16, help="frames ALOE samples (data.num_frames)")
    ap.add_argument("--out", type=Path, help="CSV of the table")
    ap.add_argument("--run", type=Path, nargs="*", default=[], help="QA runs with a collision head, on --states")
    ap.add_argument("--when", type=Path, nargs="*", default=[], help="QA runs with aloe.relation_time, on --states")
    args = ap.parse_args()
    train = pair_distances(args.data, args.states, "train", args.frames)
    threshold = best_threshold(train)
    rows = []
    for split, pairs in (("train", train), ("validation", pair_distances(args.data, args.states, "validation",
                                                                         args.frames))):
        rows.append({"split": split, "videos": pairs.video.nunique(), "pairs": len(pairs),
                     "colliding pairs": int(pairs.collided.sum()),
                     "AUC": separation_auc(pairs.min_distance.to_numpy(), pairs.collided.to_numpy()),
                     "threshold": threshold, **rule_scores(pairs, threshold)})
    show_table(f"collisions from the smallest centre distance over {args.frames} sampled frames",
               pd.DataFrame(rows), args.out, floatfmt=".3f")
    if args.run:
        show_table(f"the collision head's soft count on {COUNT_QUESTION!r} (validation)",
                   pd.DataFrame([head_counts(run, args.data, args.states) for run in args.run]),
                   args.out.with_name(args.out.stem + "_heads.csv") if args.out else None, floatfmt=".3f")
    if args.when:
        rows = []
        for run in args.when:
            model, cfg, _, _, step = load_qa_run(run)
            rows.append({"run": str(run), "step": step,
                         **when_scores(model, args.data, args.states, cfg.data.num_frames)})
        show_table("where relation_time's weights over the frames fall for colliding pairs (validation)",
                   pd.DataFrame(rows), args.out.with_name(args.out.stem + "_when.csv") if args.out else None,
                   floatfmt=".3f")


if __name__ == "__main__":
    main()
