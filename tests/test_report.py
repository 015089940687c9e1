"""The main job's outputs: statistics table and contact sheet."""
import json

import numpy as np
from PIL import Image

from qa_data.contact_sheet import contact_sheet
from qa_data.layout import ClevrerLayout
from qa_data.sim.generate import split_ranges
from qa_data.stats import summary_table, video_table


def test_statistics_match_the_files(sim_data, tiny_cfg):
    layout = ClevrerLayout(sim_data)
    videos = video_table(layout)
    assert len(videos) == 6 and list(videos.split.unique()) == ["train", "validation", "test"]
    for row in videos.itertuples():
        raw = json.loads(layout.annotation_path(row.split, row.video_index).read_text())
        assert row.objects == len(raw["object_property"])
        assert row.collisions == len(raw["collision"])
        tail = json.loads(layout.tail_events_path(row.video_index).read_text())
        assert row.tail_collisions == len(tail["collision"])
        # enters counted independently from inside_camera_view transitions
        vis = np.array([[o["inside_camera_view"] for o in sorted(f["objects"], key=lambda o: o["object_id"])]
                        for f in raw["motion_trajectory"]])
        assert row.enters == int((vis[1:] & ~vis[:-1]).sum())
    table = summary_table(videos)
    assert table.videos.tolist() == [4, 1, 1, 6]
    mean = videos.collisions.mean()
    assert table.iloc[-1]["collisions"].startswith(f"{mean:.2f} [")


def test_contact_sheet_is_written(tmp_path, sim_data, tiny_cfg):
    a = split_ranges(tiny_cfg)["train"][0]
    b = a + 1
    out = contact_sheet(sim_data, "train", [a, b], tmp_path / "sheet.png", frames=(0, 127))
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[0] > 100 and img.shape[1] > 300 and img.std() > 10  # two rows of real pictures
