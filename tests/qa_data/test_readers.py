"""Real-layout readers: conformance with real CLEVRER files, round trips, and bad input."""
import json
import shutil

import numpy as np
import pytest
import torch

from qa_data.clevrer.annotations import ViewEvent, load_annotation, view_events_from_mask
from qa_data.clevrer.datasets import ClevrerClips, ClipConfig
from qa_data.clevrer.layout import CLEVRER_SPLIT_RANGES, ClevrerLayout, canonical_split
from qa_data.clevrer.masks import decode_proposals, load_masks, proposals_json
from qa_data.clevrer.preprocess import PreprocessConfig, preprocess_frames, preprocess_masks
from qa_data.clevrer.questions import check_videos, load_questions
from qa_data.clevrer.video_io import read_video, write_video
from qa_data.errors import DataError, SkipReport
from qa_data.sim.generate import split_ranges


# ---------------------------------------------------------------- real CLEVRER samples
@pytest.mark.real_samples
def test_real_question_samples_parse(samples_dir):
    for name in ("train-orig-small.json", "valid-orig-small.json"):
        scenes = load_questions(samples_dir / name)
        assert len(scenes) == 564
        qs = [q for s in scenes for q in s.questions]
        assert all(q.question_type == "explanatory" and len(q.choices) == 4 for q in qs)
        assert all(c.answer in ("correct", "wrong") and c.program for q in qs for c in q.choices)
    train = load_questions(samples_dir / "train-orig-small.json")
    assert sum(c.answer == "correct" for s in train for q in s.questions for c in q.choices) == 1132
    # re-serialised and parsed again: nothing lost
    again = load_questions_roundtrip(train)
    assert again == train


def load_questions_roundtrip(scenes):
    from qa_data.clevrer.questions import parse_questions
    return parse_questions(json.loads(json.dumps([s.to_json() for s in scenes])))


@pytest.mark.real_samples
def test_layout_paths_match_slotformer_index(samples_dir):
    index = json.loads((samples_dir / "CLEVRER_video_fn2video_path.json").read_text())
    layout = ClevrerLayout("/data/CLEVRER")
    for split, entries in index.items():
        lo, hi = CLEVRER_SPLIT_RANGES[canonical_split(split)]
        assert len(entries) == hi - lo
        for fn, path in entries.items():
            idx = int(fn[6:11])
            assert lo <= idx < hi
            ours = str(layout.video_path(split, idx)).replace(f"/videos/{canonical_split(split)}/", f"/videos/{split}/")
            assert path.endswith(ours.split("/data/CLEVRER/")[1]), (path, ours)


def test_val_alias_is_found(tmp_path, sim_data, tiny_cfg):
    idx = split_ranges(tiny_cfg)["validation"][0]
    root = tmp_path / "aliased"
    shutil.copytree(sim_data / "videos" / "validation", root / "videos" / "val")
    (root / "questions").mkdir()
    (root / "questions" / "val.json").write_text("[]")
    layout = ClevrerLayout(root)
    assert layout.video_indices("validation") == [idx]
    assert layout.video_path("val", idx).is_file()
    assert layout.questions_path("validation").name == "val.json"
    with pytest.raises(ValueError, match="unknown split"):
        canonical_split("dev")


# ---------------------------------------------------------------- generated data round trips
def test_video_reader_and_png_folders(tmp_path, sim_data, tiny_cfg):
    layout = ClevrerLayout(sim_data)
    idx = split_ranges(tiny_cfg)["train"][0]
    video = read_video(layout.video_path("train", idx))
    assert video.shape == (128, 64, 96, 3) and video.dtype == np.uint8
    folder = tmp_path / "video_00000"
    folder.mkdir()
    from PIL import Image
    for t in range(5):
        Image.fromarray(video[t]).save(folder / f"{t:06d}.png")
    assert np.array_equal(read_video(folder), video[:5])


def test_proposals_roundtrip_and_attribute_matching(sim_data, tiny_cfg):
    layout = ClevrerLayout(sim_data)
    idx = split_ranges(tiny_cfg)["train"][0]
    ann = load_annotation(layout.annotation_path("train", idx))
    masks = load_masks(layout.proposal_path(idx), ann.object_property)  # [T, H, W]
    assert masks.shape == (128, 64, 96)
    again = decode_proposals(proposals_json(masks, ann.object_property, idx), "x", ann.object_property)
    assert np.array_equal(again, masks)
    # without the annotation (test split), ids follow first appearance but partition pixels the same way
    blind = load_masks(layout.proposal_path(idx))
    for oid in np.unique(masks):
        assert len(np.unique(blind[masks == oid])) == 1


def test_view_events_from_visibility():
    inside = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0]], bool)
    events = view_events_from_mask(inside, [3, 7])
    assert events == [ViewEvent("out", 3, 2), ViewEvent("in", 7, 2), ViewEvent("in", 3, 4), ViewEvent("out", 7, 4)]


def test_preprocessing_modes():
    frames = np.zeros((2, 320, 480, 3), np.uint8)
    frames[:, :, 80:400] = 255  # the centre square is white, the sides black
    masks = np.zeros((2, 320, 480), np.int16)
    masks[:, 100:200, 200:300] = 3
    x = preprocess_frames(frames, PreprocessConfig("provide", [64, 64]))
    assert x.shape == (2, 3, 64, 64) and x.dtype == torch.float32
    assert torch.allclose(x, torch.ones_like(x), atol=1e-3)  # crop removed the black sides
    m = preprocess_masks(masks, PreprocessConfig("provide", [64, 64]))
    assert m.shape == (2, 64, 64) and set(m.unique().tolist()) == {0, 3}
    rows, cols = torch.nonzero(m[0] == 3, as_tuple=True)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (20, 39, 24, 43)  # 100/5, 200/5-1, (200-80)/5
    y = preprocess_frames(frames, PreprocessConfig("oddn", [64, 96]))
    assert y.shape == (2, 3, 64, 96) and y[..., :10].max() < 0.1  # no crop: black sides stay


def test_clip_dataset(sim_data):
    cfg = ClipConfig(clip_len=4, stride=3, random_start=True, with_masks=True,
                     preprocess=PreprocessConfig("resize", [32, 48]))
    ds = ClevrerClips(sim_data, "train", cfg)
    assert len(ds) == 4
    torch.manual_seed(0)
    item = ds[1]
    assert item["frames"].shape == (4, 3, 32, 48) and item["masks"].shape == (4, 32, 48)
    torch.manual_seed(0)
    assert ds[1]["start"] == item["start"]  # random start follows torch's seed
    full = read_video(ds.layout.video_path("train", item["video_index"]))
    ref = preprocess_frames(full[item["start"]:item["start"] + 10:3], cfg.preprocess)
    assert torch.equal(item["frames"], ref)
    fixed = ClevrerClips(sim_data, "train", ClipConfig(clip_len=2, random_start=False, start_frame=7))
    assert fixed[0]["start"] == 7 and "masks" not in fixed[0]


# ---------------------------------------------------------------- bad input
@pytest.fixture()
def broken_copy(tmp_path, sim_data, tiny_cfg):
    root = tmp_path / "broken"
    shutil.copytree(sim_data, root)
    return root, ClevrerLayout(root), list(range(*split_ranges(tiny_cfg)["train"]))


def test_corrupt_and_truncated_videos(broken_copy):
    root, layout, (a, b, c, d) = broken_copy
    layout.video_path("train", a).write_bytes(b"\x00\x00\x00 this is not an mp4" * 10)
    short = read_video(layout.video_path("train", b))[:100]
    write_video(layout.video_path("train", b), short, pix_fmt="yuv444p")
    with pytest.raises(DataError, match=f"video_{a:05d}.mp4"):
        read_video(layout.video_path("train", a))
    with pytest.raises(DataError, match="cannot"):
        ClevrerClips(root, "train", ClipConfig())
    ds = ClevrerClips(root, "train", ClipConfig(skip_bad=True))
    assert ds.indices == [c, d] and len(ds.skipped) == 2
    problems = dict(ds.skipped.skipped)
    assert "100 frames, expected 128" in problems[str(layout.video_path("train", b))]
    with pytest.raises(DataError, match="100 frames"):
        ClevrerClips(root, "train", ClipConfig(), indices=[b])


def test_malformed_and_missing_annotations(broken_copy):
    root, layout, (a, b, *_) = broken_copy
    layout.annotation_path("train", a).write_text('{"scene_index": 1, "object_property": [')
    with pytest.raises(DataError, match="malformed JSON"):
        load_annotation(layout.annotation_path("train", a))
    layout.annotation_path("train", b).unlink()
    with pytest.raises(DataError, match="file not found"):
        load_annotation(layout.annotation_path("train", b))
    bad = json.loads(layout.annotation_path("train", a + 2).read_text())
    del bad["motion_trajectory"][3]["objects"][0]["velocity"]
    layout.annotation_path("train", a + 2).write_text(json.dumps(bad))
    with pytest.raises(DataError, match=r"motion_trajectory\[3\].objects\[0\]: missing key 'velocity'"):
        load_annotation(layout.annotation_path("train", a + 2))


def test_question_referring_to_missing_video(broken_copy):
    root, layout, (a, *_) = broken_copy
    qfile = layout.questions_path("train")
    qfile.parent.mkdir(exist_ok=True)
    q = {"question_id": 0, "question": "How many objects are moving?", "question_type": "descriptive",
         "question_subtype": "count", "program": ["objects", "count"], "answer": "2"}
    qfile.write_text(json.dumps([{"scene_index": a, "video_filename": f"video_{a:05d}.mp4", "questions": [q]},
                                 {"scene_index": 999, "video_filename": "video_00999.mp4", "questions": [q]}]))
    scenes = load_questions(qfile)
    with pytest.raises(DataError, match="scene 999 refers to video_00999.mp4"):
        check_videos(scenes, layout, "train")
    report = SkipReport()
    kept = check_videos(scenes, layout, "train", skip_bad=True, report=report)
    assert [s.scene_index for s in kept] == [a] and len(report) == 1
    qfile.write_text(json.dumps([{"scene_index": a, "questions": [dict(q, question_type="rhetorical")]}]))
    with pytest.raises(DataError, match="unknown question_type 'rhetorical'"):
        load_questions(qfile)
