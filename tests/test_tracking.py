"""Slot tracks (perception.tracking, `extract_slots.py --track`) and the QA stage's refusal of object-track tokens
over slots that change object from frame to frame."""
from __future__ import annotations

import json

import pytest
import torch

from perception.checkpoint import load_run
from perception.extract import ExtractConfig, extract, video_seeds
from perception.registry import feature_dims, slot_features
from perception.tracking import apply_order, track_order, track_purity, tracked
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.preprocess import preprocess_frames
from qa_data.clevrer.video_io import read_video
from qa_data.config import ConfigError
from qa_data.slots.slot_cache import SlotFrames, SlotSampling
from tests.test_extract import make_run


def shuffled_tracks(b=2, t=6, k=5, d=8, seed=0):
    """Objects that drift slowly, each frame's slots in a random order: (features [B, T, K, D], the order that
    puts object j in slot j: order[b, t, j] = the slot holding object j)."""
    g = torch.Generator().manual_seed(seed)
    objects = torch.randn(b, 1, k, d, generator=g) * 3 + 0.05 * torch.randn(b, t, k, d, generator=g).cumsum(1)
    order = torch.stack([torch.stack([torch.randperm(k, generator=g) for _ in range(t)]) for _ in range(b)])
    order[:, 0] = torch.arange(k)  # frame 0 defines the track numbers
    features = torch.empty_like(objects)
    features.scatter_(2, order[..., None].expand(-1, -1, -1, d), objects)  # slot order[b,t,j] holds object j
    return features, objects, order


def test_tracks_follow_objects_whose_slots_are_shuffled_every_frame():
    features, objects, order = shuffled_tracks()
    found = track_order(features)
    assert torch.equal(found, order)
    torch.testing.assert_close(apply_order(features, found), objects)
    # the raw slot index is not a track: slot 0 holds different objects over the frames
    assert not torch.equal(features, objects)


def test_rollout_frames_keep_the_last_observed_frames_order():
    features, objects, order = shuffled_tracks(t=6)
    # frames 4, 5 are predictions: slot k continues slot k of frame 3 (whatever object that is)
    rolled = torch.cat([features[:, :4], features[:, 3:4].expand(-1, 2, -1, -1) + 0.01], 1)
    out = tracked(rolled, static_dims=8, observed=4)
    torch.testing.assert_close(out[:, :4], objects[:, :4])
    torch.testing.assert_close(out[:, 4:], objects[:, 3:4].expand(-1, 2, -1, -1) + 0.01)


def test_track_purity_is_one_for_tracks_and_low_for_shuffled_slots():
    b, t, k, h, w = 1, 4, 3, 4, 6
    true_ids = torch.zeros(b, t, h, w, dtype=torch.long)
    true_ids[..., :, 0:2] = 1  # object 0 on the left, object 1 in the middle, background on the right
    true_ids[..., :, 2:4] = 2
    order = torch.tensor([[[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 2, 1]]])  # slot holding track j at frame t
    masks = torch.zeros(b, t, k, h, w)
    for f in range(t):  # track 0 = object 0, track 1 = object 1, track 2 = background
        masks[0, f, order[0, f, 0], :, 0:2] = 1
        masks[0, f, order[0, f, 1], :, 2:4] = 1
        masks[0, f, order[0, f, 2], :, 4:6] = 1
    assert track_purity(true_ids, masks, order) == 1.0
    identity = torch.arange(k).expand(b, t, k)
    # object 0 sits in slots 0, 1, 2, 0 and object 1 in slots 1, 2, 0, 2: each keeps its slot in 2 of 4 frames
    assert track_purity(true_ids, masks, identity) == pytest.approx(0.5)


def test_extraction_with_track_stores_the_models_features_in_track_order(sim_data, tmp_path):
    run = make_run(tmp_path / "run", "oddn_tiny")
    ecfg = dict(batch_size=2, frame_stride=32, num_videos=2, dtype="float32", precision="no")
    extract(load_run(run), sim_data, tmp_path / "plain", ExtractConfig(**ecfg), progress=False)
    extract(load_run(run), sim_data, tmp_path / "tracks", ExtractConfig(track=True, **ecfg), progress=False)
    plain = SlotFrames(tmp_path / "plain" / "train.h5", SlotSampling(num_frames=4))
    cache = SlotFrames(tmp_path / "tracks" / "train.h5", SlotSampling(num_frames=4))
    assert plain.attrs["slot_tracks"] == "none" and cache.attrs["slot_tracks"] == "matched"
    assert json.loads(cache.attrs["extraction"])["track"] is True
    assert cache.attrs["producer_id"] != plain.attrs["producer_id"]
    fresh = load_run(run)
    videos = cache.videos
    clips = torch.stack([preprocess_frames(read_video(ClevrerLayout(sim_data).video_source("train", v))[::32],
                                           fresh.cfg.frames.preprocess) for v in videos])  # [2, 4, 3, 32, 48]
    direct = slot_features(fresh.model, fresh.cfg, clips, video_seeds(torch.tensor(videos), torch.arange(0, 128, 32),
                                                                       128))  # [2, 4, K, D]
    expected = tracked(direct, feature_dims(fresh.model, fresh.cfg)[0])
    stored = torch.stack([torch.from_numpy(cache.read(v)) for v in videos])
    torch.testing.assert_close(stored, expected, atol=1e-5, rtol=1e-5)
    # the same slots per frame, reordered
    raw = torch.stack([torch.from_numpy(plain.read(v)) for v in videos])
    torch.testing.assert_close(stored.sort(2).values, raw.sort(2).values, atol=1e-5, rtol=1e-5)


def test_track_is_refused_for_a_model_whose_slots_are_tracks(sim_data, tmp_path):
    loaded = load_run(make_run(tmp_path / "run", "provide_tiny"))
    with pytest.raises(ConfigError, match="tracks already"):
        extract(loaded, sim_data, tmp_path / "slots", ExtractConfig(track=True, frame_stride=32, num_videos=2),
                progress=False)
    assert not (tmp_path / "slots" / "train.h5").exists()


def test_object_track_tokens_are_refused_slots_that_change_object(qa_root, tmp_path):
    """The QA stage's object-track tokens read slot k as one object; a frame-by-frame model's untracked cache is
    refused by name, its tracked cache accepted."""
    from qa_data.config import load_config
    from reasoning.config import QAConfig
    from reasoning.tokenizer import QuestionTokenizer, TokenizerConfig
    from reasoning.train import question_set

    run = make_run(tmp_path / "run", "oddn_tiny")
    ecfg = dict(batch_size=5, frame_stride=32, dtype="float32", precision="no")
    extract(load_run(run), qa_root, tmp_path / "plain", ExtractConfig(**ecfg), progress=False)
    extract(load_run(run), qa_root, tmp_path / "tracks", ExtractConfig(track=True, **ecfg), progress=False)
    cfg = load_config(QAConfig, None, ["aloe.visual_tokens=object_track", "data.num_frames=4", "data.preload=false"])
    tok = QuestionTokenizer(TokenizerConfig())
    with pytest.raises(ConfigError, match="train.h5: aloe.visual_tokens=object_track.*--track"):
        question_set(cfg, qa_root, tmp_path / "plain", "train", tok, training=True)
    questions = question_set(cfg, qa_root, tmp_path / "tracks", "train", tok, training=True)
    assert len(questions) > 0
    frame_slots = load_config(QAConfig, None, ["aloe.visual_tokens=frame_slot", "data.num_frames=4"])
    assert len(question_set(frame_slots, qa_root, tmp_path / "plain", "train", tok, training=True)) > 0
