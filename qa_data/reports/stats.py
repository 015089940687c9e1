"""Statistics of a CLEVRER(-sim) dataset, read back from its files (works for real CLEVRER too)."""
from __future__ import annotations

import json

import pandas as pd

from qa_data.clevrer.annotations import load_annotation
from qa_data.clevrer.layout import SPLITS, ClevrerLayout


def video_table(layout: ClevrerLayout) -> pd.DataFrame:
    """One row per annotated video: objects, collisions, enters, exits, and our tail events."""
    rows = []
    for split in SPLITS:
        try:
            indices = layout.video_indices(split) if layout.rendered else layout.annotation_indices(split)
        except FileNotFoundError:
            continue
        for idx in indices:
            path = layout.annotation_path(split, idx)
            if not path.is_file():
                continue
            ann = load_annotation(path)
            ev = ann.view_events()
            row = {"split": split, "video_index": idx, "objects": len(ann.object_property),
                   "collisions": len(ann.collision), "enters": sum(e.kind == "in" for e in ev),
                   "exits": sum(e.kind == "out" for e in ev),
                   "objects_in_view_at_start": int(ann.inside_view()[0].sum())}
            tail = layout.tail_events_path(idx)
            if tail.is_file():
                with open(tail) as f:
                    row["tail_collisions"] = len(json.load(f)["collision"])
            rows.append(row)
    return pd.DataFrame(rows)


def summary_table(videos: pd.DataFrame) -> pd.DataFrame:
    """Per split: video count and mean / min / max of each per-video statistic."""
    cols = [c for c in ("objects", "collisions", "enters", "exits", "tail_collisions") if c in videos]
    out = []
    for split, g in list(videos.groupby("split", sort=False)) + [("all", videos)]:
        row = {"split": split, "videos": len(g)}
        for c in cols:
            row[c] = f"{g[c].mean():.2f} [{g[c].min()}-{g[c].max()}]"
        if "tail_collisions" in g:
            row["videos_with_tail_collision"] = f"{(g['tail_collisions'] > 0).mean():.0%}"
        out.append(row)
    return pd.DataFrame(out)
