"""Slot tracks (perception.tracking, `extract_slots.py --track`) and the QA stage's refusal of object-track tokens
over slots that change object from frame to frame."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_extract import make_run

from perception.extract import ExtractConfig, extract, video_seeds
from perception.loaded_run import load_run
from perception.registry import feature_dims, slot_features
from perception.tracking import apply_order, track_objects, track_order, track_purity, tracked
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.preprocess import preprocess_frames
from qa_data.clevrer.video_io import read_video
from qa_data.config import ConfigError
from qa_data.slots.slot_cache import SlotFrames, SlotSampling, read_attrs


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


def test_track_objects_pairs_each_track_with_the_object_it_holds_most():
    t, k, h, w = 3, 3, 4, 6
    true_ids = torch.zeros(t, h, w, dtype=torch.long)
    true_ids[:, :, 0:2] = 1 + 4  # object id 4 on the left
    true_ids[:, :, 2:4] = 1 + 7  # object id 7 in the middle; the right is background
    order = torch.tensor([[0, 1, 2], [2, 0, 1], [1, 2, 0]])  # the slot holding track j at frame t

    def masks_for(holders):  # holders[f] = (track of the left, track of the middle, track of the right)
        masks = torch.zeros(t, k, h, w)
        for f, tracks in enumerate(holders):
            for region, j in zip((slice(0, 2), slice(2, 4), slice(4, 6)), tracks):
                masks[f, order[f, j], :, region] = 1
        return masks

    # track 0 holds object 7, track 1 the background (with some floor under object 4), track 2 object 4
    assert track_objects(true_ids, masks_for([(2, 0, 1)] * 3), order).tolist() == [7, -1, 4]
    # object 4 is held by track 2 at frame 0, then by the background's track 1: track 1 holds it most (2 of 3 frames)
    moved = masks_for([(2, 0, 1), (1, 0, 1), (1, 0, 1)])
    assert track_objects(true_ids, moved, order).tolist() == [7, 4, -1]
    assert track_objects(true_ids, moved, order, min_share=0.7).tolist() == [7, -1, -1]  # 2/3 < 0.7


def test_grounded_extraction_records_each_tracks_object(qa_root, tmp_path):
    from perception.registry import decompose
    from qa_data.clevrer.masks import load_masks
    from qa_data.clevrer.preprocess import preprocess_masks

    run = make_run(tmp_path / "run", "oddn_tiny")
    ecfg = dict(batch_size=5, frame_stride=32, dtype="float32", precision="no")
    with pytest.raises(ConfigError, match="add --track"):
        extract(load_run(run), qa_root, tmp_path / "no", ExtractConfig(ground=True, **ecfg), progress=False)
    extract(load_run(run), qa_root, tmp_path / "g", ExtractConfig(track=True, ground=True, **ecfg), progress=False)
    cache = SlotFrames(tmp_path / "g" / "train.h5", SlotSampling(num_frames=4))
    assert json.loads(cache.attrs["grounding"])["min_share"] == 0.5
    objects = cache.slot_objects()
    assert set(objects) == set(cache.videos) and all(o.shape == (cache.attrs["num_slots"],) for o in objects.values())
    fresh = load_run(run)
    layout = ClevrerLayout(qa_root)
    for v in cache.videos[:2]:  # the stored pairs are track_objects of the model's masks against the annotation's
        clip = preprocess_frames(read_video(layout.video_source("train", v))[::32], fresh.cfg.frames.preprocess)[None]
        true_ids = preprocess_masks(load_masks(layout.proposal_path(v))[::32], fresh.cfg.frames.preprocess)
        seeds = video_seeds(torch.tensor([v]), torch.arange(0, 128, 32), 128)
        feats = slot_features(fresh.model, fresh.cfg, clip, seeds)
        order = track_order(feats[..., :feature_dims(fresh.model, fresh.cfg)[0]])[0]
        masks = decompose(fresh.model, fresh.cfg, clip, seeds).masks[0]
        assert objects[v].tolist() == track_objects(torch.as_tensor(true_ids), masks, order).tolist()


def test_grounding_targets_on_slots_name_the_slot_paired_with_the_object(qa_root, tmp_path):
    """With a grounded perception cache, a choice's mention target is the slot the cache pairs with each object it
    names; an ungrounded perception cache is refused by name."""
    import h5py

    from qa_data.clevrer.layout import ClevrerLayout as Layout
    from qa_data.config import load_config
    from qa_data.reports.qa_report import load_split_with_answers
    from reasoning.config import QAConfig
    from reasoning.mention_oracle import choice_mentions
    from reasoning.tokenizer import QuestionTokenizer, TokenizerConfig
    from reasoning.train import question_set

    run = make_run(tmp_path / "run", "oddn_tiny")
    ecfg = dict(batch_size=5, frame_stride=32, dtype="float32", precision="no")
    extract(load_run(run), qa_root, tmp_path / "plain", ExtractConfig(track=True, **ecfg), progress=False)
    extract(load_run(run), qa_root, tmp_path / "g", ExtractConfig(track=True, ground=True, **ecfg), progress=False)
    cfg = load_config(QAConfig, None, ["aloe.visual_tokens=object_track", "aloe.mention_weight=1",
                                       "aloe.pair_head=true", "data.num_frames=4"])
    tok = QuestionTokenizer(TokenizerConfig())
    with pytest.raises(ConfigError, match="train.h5: .*--track --ground"):
        question_set(cfg, qa_root, tmp_path / "plain", "train", tok, training=True)
    # pair every object with a known slot: object id o in slot (o + 2) mod K, the rest unpaired
    k = read_attrs(tmp_path / "g" / "train.h5")["num_slots"]
    with h5py.File(tmp_path / "g" / "train.h5", "r+") as f:
        table = np.full(f["slot_objects"].shape, -1, dtype=np.int16)
        for o in range(k):
            table[:, (o + 2) % k] = o
        f["slot_objects"][:] = table
    qs = question_set(cfg, qa_root, tmp_path / "g", "train", tok, training=True)
    scenes = load_split_with_answers(Layout(qa_root), "train")
    truth = choice_mentions(Layout(qa_root), "train", scenes, {s.scene_index: {o: o for o in range(k)} for s in scenes})
    named = [it for it in qs.items if any(it.get("mentions", []))]
    assert named
    for it in named:
        for c, slots in zip(it["choice_ids"], it["mentions"]):
            key = (it["scene_index"], it["question_id"], c)
            if key in truth:
                assert slots == tuple((o + 2) % k for o in truth[key])
