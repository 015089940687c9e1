"""Ground-truth states as a feature source, data without pixels, and what the QA stage does with
them: the presence mask, interchangeable caches, exact column trimming, intervals, learning curves."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from qa_data.clevrer.annotations import parse_annotation
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.errors import DataError
from qa_data.slots.slot_cache import CacheMismatch, SlotFrames, SlotSampling, read_attrs
from qa_data.slots.state_cache import STATE_FEATURES, StateExtractConfig, extract_states

REPO = Path(__file__).resolve().parents[2]
SMALL = ["aloe.d_model=32", "aloe.layers=1", "aloe.heads=2", "aloe.ffn=32", "aloe.head_hidden=16", "data.num_frames=4",
         "train.batch_size=8", "train.log_every=1", "train.eval_batch_size=16"]


def hand_annotation(frames: int = 128) -> dict:
    """Two objects; object 5 is outside the view in frames 0-9 and 100+."""
    traj = []
    for t in range(frames):
        traj.append({"frame_id": t, "objects": [
            {"object_id": 2, "location": [0.5 + 0.01 * t, -1.0, 0.25], "orientation": [0, 0, 0],
             "velocity": [0.25, 0.0, 0.0], "angular_velocity": [0, 0, 0], "inside_camera_view": True},
            {"object_id": 5, "location": [-3.0, 2.0 - 0.02 * t, 0.25], "orientation": [0, 0, 0],
             "velocity": [0.0, -0.5, 0.0], "angular_velocity": [0, 0, 0], "inside_camera_view": 10 <= t < 100}]})
    return {"scene_index": 42, "video_filename": "video_00042.mp4",
            "object_property": [{"object_id": 2, "color": "cyan", "material": "metal", "shape": "cube"},
                                {"object_id": 5, "color": "red", "material": "rubber", "shape": "sphere"}],
            "motion_trajectory": traj, "collision": []}


def write_annotations(root: Path, split: str, anns: dict[int, dict]) -> None:
    layout = ClevrerLayout(root)
    for idx, ann in anns.items():
        path = layout.annotation_path(split, idx)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**ann, "scene_index": idx, "video_filename": f"video_{idx:05d}.mp4"}))


def test_state_cache_holds_exactly_the_annotation(tmp_path):
    write_annotations(tmp_path / "data", "train", {42: hand_annotation()})
    result = extract_states(tmp_path / "data", tmp_path / "states", StateExtractConfig(frame_stride=4, max_objects=3),
                            progress=False)
    assert result.written == 1 and not result.skipped
    attrs = read_attrs(result.path)
    assert attrs["producer"] == "annotations" and attrs["model_label"] == "states" and len(attrs["source_sha256"]) == 64
    assert (attrs["d_static"], attrs["d_dyn"], attrs["num_slots"], attrs["frames_per_video"]) == (16, 3, 3, 32)
    slots = SlotFrames(result.path, SlotSampling(num_frames=32))
    feats = slots.read(42)  # [32, 3, 19]
    presence = slots.read(42, what="presence")
    col = {name: i for i, name in enumerate(STATE_FEATURES)}
    for i, t in enumerate(range(0, 128, 4)):
        cube, sphere, empty = feats[i]
        assert cube[col["color=cyan"]] == 1 and cube[col["shape=cube"]] == 1 and cube[col["material=metal"]] == 1
        assert cube[:13].sum() == 3 and sphere[col["color=red"]] == 1 and sphere[col["shape=sphere"]] == 1
        np.testing.assert_array_equal(cube[13:16], np.float32([0.5 + 0.01 * t, -1.0, 0.25]))
        np.testing.assert_array_equal(sphere[13:16], np.float32([-3.0, 2.0 - 0.02 * t, 0.25]))
        np.testing.assert_array_equal(cube[16:], np.float32([0.25, 0, 0]))
        np.testing.assert_array_equal(sphere[16:], np.float32([0, -0.5, 0]))
        assert not empty.any()
        assert presence[i].tolist() == [1, int(10 <= t < 100), 0]
    static = SlotFrames(result.path, SlotSampling(num_frames=8, drop_dynamics=True)).sample(42)
    assert static["slots"].shape == (8, 3, 16) and static["presence"].dtype == torch.bool


def test_state_source_refusals(tmp_path):
    write_annotations(tmp_path / "data", "train", {42: hand_annotation()})
    with pytest.raises(DataError, match="no annotations for split 'test'"):
        extract_states(tmp_path / "data", tmp_path / "states", StateExtractConfig(split="test"), progress=False)
    extract_states(tmp_path / "data", tmp_path / "states", StateExtractConfig(), progress=False)
    # the annotations change: resuming into the cache is refused, naming the hash
    write_annotations(tmp_path / "data", "train", {42: {**hand_annotation(), "collision": [
        {"object_ids": [2, 5], "frame_id": 50, "location": [0, 0, 0]}]}})
    with pytest.raises(CacheMismatch, match="source_sha256"):
        extract_states(tmp_path / "data", tmp_path / "states", StateExtractConfig(), progress=False)
    # too many objects for the slots, and too few frames: counted skips naming the file
    write_annotations(tmp_path / "short", "train", {1: hand_annotation(frames=100), 2: hand_annotation()})
    result = extract_states(tmp_path / "short", tmp_path / "s2", StateExtractConfig(max_objects=1), progress=False)
    assert result.written == 0 and len(result.skipped) == 2
    assert "annotation_00001.json" in result.skipped[0][1] and "more than max_objects=1" in result.skipped[1][1]
    assert SlotFrames(result.path).videos == []
    # frames are read by position: frame ids that are not 0, 1, 2, ... are a counted skip, never a shifted video
    sparse = hand_annotation()
    for i, fr in enumerate(sparse["motion_trajectory"]):
        fr["frame_id"] = 2 * i  # 0, 2, ..., 254
    write_annotations(tmp_path / "sparse", "train", {3: sparse, 4: hand_annotation()})
    result = extract_states(tmp_path / "sparse", tmp_path / "s3", StateExtractConfig(), progress=False)
    assert result.written == 1 and len(result.skipped) == 1
    assert "annotation_00003.json" in result.skipped[0][1] and "(entry 1 is frame 2)" in result.skipped[0][1]


def test_video_states_rejects_unknown_attributes():
    ann = hand_annotation()
    ann["object_property"][0]["color"] = "magenta"
    with pytest.raises(DataError, match="object_property\\[0\\]: 'color' must be one of .* got 'magenta'"):
        parse_annotation(ann)  # refused on reading, before any state is made of it


# -- data without pixels --------------------------------------------------------------------------


def test_no_render_writes_everything_but_pixels(no_render, qa_root):
    layout = ClevrerLayout(no_render)
    assert not (no_render / "videos").exists() and not (no_render / "derender_proposals").exists()
    assert json.loads(layout.manifest_path.read_text())["rendered"] is False
    assert layout.annotation_indices("train") == list(range(6))
    for i in range(8):
        assert layout.tail_events_path(i).is_file() and layout.counterfactual_path(i).is_file()
    assert len(json.loads(layout.questions_path("train").read_text())) == 6
    # the same preset and seed with pixels gives the same annotation (rendering does not touch physics;
    # a video's scene depends on the seed and its index only)
    rendered = ClevrerLayout(qa_root)
    assert layout.annotation_path("train", 0).read_bytes() == rendered.annotation_path("train", 0).read_bytes()
