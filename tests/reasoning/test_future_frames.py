"""Predicted frames in the slot cache: the simulator's continuation as states (`extract_states --future`), the
observed/predicted marking, and the QA reader's predictive window (issue 30)."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from qa_data.clevrer.annotations import load_annotation
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.errors import DataError
from qa_data.slots.cli import extract_states_main as states_main
from qa_data.slots.slot_cache import SlotFrames, SlotSampling, read_attrs
from qa_data.slots.state_cache import STATE_FEATURES, StateExtractConfig, extract_states, video_states
from reasoning.qa_dataset import TYPE_ID, QuestionSet
from reasoning.tokenizer import QuestionTokenizer, TokenizerConfig

STRIDE, FUTURE = 8, 5  # 16 observed frames (0..120), 5 predicted (128..160)


@pytest.fixture(scope="module")
def data(no_render) -> Path:
    """The shared render-free videos (tests/conftest.py: states every 8th frame in `states/`), with the
    simulator's future added in `future/`."""
    for split in ("train", "validation"):
        extract_states(no_render, no_render / "future", StateExtractConfig(split=split, frame_stride=STRIDE,
                                                                           future=FUTURE), progress=False)
    return no_render


def test_future_frames_are_the_simulators_continuation(data):
    layout = ClevrerLayout(data)
    plain, future = (SlotFrames(data / f"{c}/train.h5", SlotSampling(num_frames=8)) for c in ("states", "future"))
    attrs = read_attrs(future.path)
    assert attrs["observed_frames"] == 16 and attrs["frames_per_video"] == 21
    assert "observed_frames" not in read_attrs(plain.path)
    assert attrs["model_label"] == "states+future" and attrs["producer_id"] != read_attrs(plain.path)["producer_id"]
    assert future.frame_index.tolist() == list(range(0, 128, STRIDE)) + [128, 136, 144, 152, 160]
    assert future.predicted.tolist() == [False] * 16 + [True] * FUTURE
    loc, vel = STATE_FEATURES.index("x"), STATE_FEATURES.index("vx")
    for v in plain.videos:
        ann = load_annotation(layout.annotation_path("train", v))
        np.testing.assert_array_equal(future.read(v)[:16], plain.read(v))  # observed frames unchanged
        tail = json.loads(layout.tail_events_path(v).read_text())["motion_trajectory"]
        by_frame = {f["frame_id"]: f for f in tail}
        for i, frame in enumerate(future.frame_index[16:]):
            for j, o in enumerate(ann.object_property):
                s = next(s for s in by_frame[int(frame)]["objects"] if s["object_id"] == o.object_id)
                np.testing.assert_allclose(future.read(v)[16 + i, j, loc:loc + 3], s["location"], rtol=1e-6)
                np.testing.assert_allclose(future.read(v)[16 + i, j, vel:vel + 3], s["velocity"], rtol=1e-6)
                assert future.read(v, what="presence")[16 + i, j] == s["inside_camera_view"]


def test_future_needs_a_continuation(data, tmp_path):
    # real CLEVRER's layout: annotations without tail files -> one clear error for the run
    real = tmp_path / "real"
    shutil.copytree(data / "annotations", real / "annotations")
    with pytest.raises(DataError, match="tail_events.*only CLEVRER-sim has"):
        extract_states(real, tmp_path / "s", StateExtractConfig(future=2), progress=False)
    with pytest.raises(SystemExit, match="real CLEVRER ends at its last frame"):
        states_main(["--data", str(real), "--out", str(tmp_path / "s"), "--future", "2", "--no-progress"])
    # a tail file of an older generator (no motion_trajectory) and one too short: counted skips naming the file
    shutil.copytree(data / "tail_events", real / "tail_events")
    layout = ClevrerLayout(real)
    first, second = layout.annotation_indices("train")[:2]
    old = json.loads(layout.tail_events_path(first).read_text())
    del old["motion_trajectory"]
    layout.tail_events_path(first).write_text(json.dumps(old))
    result = extract_states(real, tmp_path / "s2", StateExtractConfig(frame_stride=STRIDE, future=7), progress=False)
    reasons = dict(result.skipped)
    assert f"tail_{first:05d}.json" in reasons[first] and "no motion_trajectory" in reasons[first]
    # frame 176 is past the simulated 7 s (175 frames) of every video
    assert f"tail_{second:05d}.json" in reasons[second] and "frame 176 is needed" in reasons[second]
    with pytest.raises(ValueError, match="future at least 0"):
        extract_states(data, tmp_path / "s3", StateExtractConfig(future=-1), progress=False)
    ann = load_annotation(layout.annotation_path("train", second))
    with pytest.raises(DataError, match="frame 130 is needed"):
        video_states(ann, np.array([0, 130]), 6)


def items(data: Path, cache: str, shift: int = -1) -> list[dict]:
    tok = QuestionTokenizer(TokenizerConfig())
    from qa_data.reports.qa_report import load_split_with_answers

    scenes = load_split_with_answers(ClevrerLayout(data), "train")
    slots = SlotFrames(data / cache / "train.h5", SlotSampling(num_frames=8, start=1, future_shift=shift))
    qs = QuestionSet(scenes, tok, slots)
    return [qs[i] for i in range(len(qs))]


def test_only_predictive_questions_look_into_the_future(data):
    plain, future = items(data, "states"), items(data, "future")
    assert {it["type"] for it in future} == set(TYPE_ID.values())  # every type is exercised
    observed = [1 + 2 * i for i in range(8)]  # start 1, stride 16 // 8
    for a, b in zip(plain, future):
        assert a["question_id"] == b["question_id"]
        if b["type"] == TYPE_ID["predictive"]:
            # SlotFormer's shift: by every predicted frame, so the window ends in the last predicted frames
            assert b["frame_index"].tolist() == [STRIDE * (f + FUTURE) for f in observed]
            assert b["predicted"].tolist() == [False] * 5 + [True] * 3
        else:
            # every other type sees exactly what it sees without predicted frames
            assert b["frame_index"].tolist() == [STRIDE * f for f in observed] and not b["predicted"].any()
            assert torch.equal(a["slots"], b["slots"]) and torch.equal(a["presence"], b["presence"])
        # a cache without predicted frames gives every type the same observed window
        assert a["frame_index"].tolist() == [STRIDE * f for f in observed] and not a["predicted"].any()
    shifted = items(data, "future", shift=2)
    pred = next(it for it in shifted if it["type"] == TYPE_ID["predictive"])
    assert pred["frame_index"].tolist() == [STRIDE * (f + 2) for f in observed]
    # a shift past the predicted frames is clipped to them
    assert items(data, "future", shift=99)[0]["frame_index"].max() <= 160


def test_mention_oracle_puts_the_named_objects_first(data):
    """The oracle's slots are the objects a choice names (their colour and shape words are in the choice's
    text), and a choice's pass holds those slots first, the others after in order."""
    from qa_data.reports.qa_report import load_split_with_answers
    from reasoning.mention_oracle import choice_mentions
    from reasoning.qa_dataset import collate

    layout = ClevrerLayout(data)
    scenes = load_split_with_answers(layout, "train")
    mentions = choice_mentions(layout, "train", scenes)
    checked = 0
    for sc in scenes:
        ann = load_annotation(layout.annotation_path("train", sc.scene_index))
        for q in sc.questions:
            for c in q.choices:
                if q.question_type == "predictive":
                    slots = mentions[(sc.scene_index, q.question_id, c.choice_id)]
                    assert len(slots) == 2
                    for k in slots:
                        o = ann.object_property[k]
                        assert o.shape in c.choice or "object" in c.choice, (c.choice, o)
                        checked += 1
    assert checked >= 2
    tok = QuestionTokenizer(TokenizerConfig())
    plain = QuestionSet(scenes, tok, SlotFrames(data / "states/train.h5", SlotSampling(num_frames=8)))
    oracle = QuestionSet(scenes, tok, SlotFrames(data / "states/train.h5", SlotSampling(num_frames=8)),
                         mentions=mentions, mentioned_first=True)
    i = next(i for i, it in enumerate(oracle.items) if it["type"] == TYPE_ID["predictive"])
    a, b = collate([plain[i]]), collate([oracle[i]])
    for j, cid in enumerate(oracle.items[i]["choice_ids"]):
        named = mentions[(oracle.items[i]["scene_index"], oracle.items[i]["question_id"], cid)]
        order = list(named) + [k for k in range(6) if k not in named]
        assert torch.equal(b.slots[j], a.slots[j][:, order]) and torch.equal(b.presence[j], a.presence[j][:, order])
        assert not torch.equal(b.slots[j], a.slots[j]) or list(named) == [0, 1]
        # the grounding targets follow the slots: the named ones, wherever they are
        assert b.mention[j].tolist() == [1.0] * len(named) + [0.0] * (6 - len(named))
    assert a.mention is None  # no mentions asked for
    grounded = collate([QuestionSet(scenes, tok, SlotFrames(data / "states/train.h5", SlotSampling(num_frames=8)),
                                    mentions=mentions)[i]])
    for j, cid in enumerate(oracle.items[i]["choice_ids"]):
        named = mentions[(oracle.items[i]["scene_index"], oracle.items[i]["question_id"], cid)]
        assert torch.equal(grounded.slots[j], a.slots[j])  # not reordered
        assert sorted(torch.nonzero(grounded.mention[j] == 1).flatten().tolist()) == sorted(named)


def test_question_selections_are_what_the_answer_rests_on(data):
    """A descriptive question's selection is the object it queries (whose attribute is the answer), or the objects
    it tests for existence (none when the answer is no) or counts; a descriptive pass's grounding targets are
    those slots, all zero when nothing is selected, NaN when the question was left out."""
    from qa_data.reports.qa_report import load_split_with_answers
    from reasoning.mention_oracle import question_selections
    from reasoning.qa_dataset import collate

    layout = ClevrerLayout(data)
    scenes = load_split_with_answers(layout, "train")
    selected = question_selections(layout, "train", scenes)
    kinds = set()
    for sc in scenes:
        ann = load_annotation(layout.annotation_path("train", sc.scene_index))
        for q in sc.questions:
            if q.is_multiple_choice:
                assert (sc.scene_index, q.question_id) not in selected
                continue
            got = selected[(sc.scene_index, q.question_id)]
            last = q.program[-1]
            if last.startswith("query_"):
                assert len(got) == 1 and getattr(ann.object_property[got[0]], last[len("query_"):]) == q.answer
            elif last == "exist":
                assert bool(got) == (q.answer == "yes")
            elif last == "count" and "events" not in q.program:
                assert len(got) == int(q.answer)
            kinds.add(last)
    assert {"query_color", "exist", "count"} <= kinds
    tok = QuestionTokenizer(TokenizerConfig())
    qs = QuestionSet(scenes, tok, SlotFrames(data / "states/train.h5", SlotSampling(num_frames=8)), selections=selected)
    i = next(i for i, it in enumerate(qs.items) if it["type"] == TYPE_ID["descriptive"] and it["selected"])
    n = next(i for i, it in enumerate(qs.items) if it["type"] == TYPE_ID["descriptive"] and it["selected"] == ())
    unknown = dict(qs.items[i], selected=None)  # a question left out
    batch = collate([qs[i], qs[n], unknown])
    assert sorted(torch.nonzero(batch.mention[0] == 1).flatten().tolist()) == list(qs.items[i]["selected"])
    assert batch.mention[1].tolist() == [0.0] * 6 and batch.mention[2].isnan().all()


def test_collision_pairs_are_the_collisions_the_answer_rests_on(data):
    """A descriptive question about collisions rests on the slot pairs of the collisions it counts or tests: as many
    pairs as the answer counts (fewer only where a pair collides twice), some exactly when it answers yes; questions
    about objects have none; a descriptive pass's targets are 1 at those pairs (slot pairs a < b, row-major), 0
    elsewhere, and unknown for multiple-choice passes."""
    from qa_data.reports.qa_report import load_split_with_answers
    from reasoning.mention_oracle import question_collision_pairs
    from reasoning.qa_dataset import collate

    layout = ClevrerLayout(data)
    scenes = load_split_with_answers(layout, "train")
    pairs = question_collision_pairs(layout, "train", scenes)
    counted = exact = entrances = 0
    for sc in scenes:
        for q in sc.questions:
            if q.is_multiple_choice:
                continue
            got = pairs.get((sc.scene_index, q.question_id))
            if q.program[-1].startswith("query_"):  # about an object
                assert got is None
            elif q.program[:3] == ["events", "objects", "filter_collision"]:  # about a set of collisions
                assert all(0 <= a < b < 6 for a, b in got)
                if q.program[-1] == "count":
                    counted += 1
                    exact += len(got) == int(q.answer)
                    assert len(got) <= int(q.answer)
                elif q.program[-1] == "exist":
                    assert bool(got) == (q.answer == "yes")
            elif q.program[0] == "events" and "filter_collision" not in q.program:  # entrances or exits
                entrances += 1
                assert got == ()
    assert counted > 0 and exact >= 0.9 * counted and entrances > 0
    tok = QuestionTokenizer(TokenizerConfig())
    qs = QuestionSet(scenes, tok, SlotFrames(data / "states/train.h5", SlotSampling(num_frames=8)),
                     collision_pairs=pairs)
    i = next(i for i, it in enumerate(qs.items) if it.get("collision_pairs"))
    m = next(i for i, it in enumerate(qs.items) if it["type"] != TYPE_ID["descriptive"])
    batch = collate([qs[i], qs[m]])
    index = {tuple(ab): j for j, ab in enumerate(torch.triu_indices(6, 6, 1).t().tolist())}
    expected = torch.zeros(15)
    expected[[index[ab] for ab in qs.items[i]["collision_pairs"]]] = 1.0
    assert torch.equal(batch.collision[0], expected) and batch.collision[1:].isnan().all()


def test_grounding_loss_trains_on_states(data, tmp_path):
    import json as _json

    from qa_data.config import load_config
    from reasoning.config import QAConfig
    from reasoning.train import train_qa

    repo = Path(__file__).resolve().parents[2]
    # the grounded preset as it is (grounding loss and pair head); data, steps and batch fit the test
    cfg = load_config(QAConfig, repo / "configs/qa/aloe_cpu_grounded.yaml", [
        "data.num_frames=4", "train.steps=2", "train.batch_size=8", "train.log_every=1", "train.eval_batch_size=64"])
    assert cfg.aloe.mention_weight > 0 and cfg.aloe.pair_head
    result = train_qa(cfg, data, data / "states", tmp_path / "run", progress=False)
    logged = [_json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["train/mention"] > 0 for r in logged if "train/loss" in r] == [True, True]
    assert "train/collision" not in logged[0]
    assert len(result.accuracy) and (result.eval_dir / "accuracy.md").is_file()  # evaluated after training
    # with the collision head, its targets train it beside the grounding loss
    cfg = load_config(QAConfig, repo / "configs/qa/aloe_cpu_grounded.yaml", [
        "data.num_frames=4", "train.steps=2", "train.batch_size=32", "train.log_every=1", "train.eval_batch_size=64",
        "aloe.relation_tokens=track", "aloe.collision_head=true"])
    train_qa(cfg, data, data / "states", tmp_path / "collisions", progress=False)
    logged = [_json.loads(line) for line in (tmp_path / "collisions" / "train_log.jsonl").read_text().splitlines()]
    assert [r["train/collision"] > 0 for r in logged if "train/loss" in r] == [True, True]
    assert "train/when" not in logged[0]
    # with relation_time_target, the annotated collision frames train the frame score too
    cfg = load_config(QAConfig, repo / "configs/qa/aloe_cpu_grounded.yaml", [
        "data.num_frames=4", "train.steps=2", "train.batch_size=32", "train.log_every=1", "train.eval_batch_size=64",
        "aloe.relation_tokens=frames", "aloe.relation_time=true", "aloe.relation_time_target=score"])
    train_qa(cfg, data, data / "states", tmp_path / "when", progress=False)
    logged_when = [_json.loads(line) for line in (tmp_path / "when" / "train_log.jsonl").read_text().splitlines()]
    assert [r["train/when"] > 0 for r in logged_when if "train/loss" in r] == [True, True]
    # benchmarks/bench_collision_reference.py reads that head on the counting question: its answers are the
    # evaluation's
    from qa_data.reports.qa_report import load_split_with_answers

    sys.path.insert(0, str(repo / "benchmarks"))
    from bench_collision_reference import head_counts

    scenes = load_split_with_answers(ClevrerLayout(data), "validation")
    questions = [q for s in scenes for q in s.questions]
    texts = {q.question for q in questions if q.question_type == "descriptive" and q.program[0] == "events"
             and q.program[-1] == "count"}  # counts of events: collisions, or entrances and exits (none)
    question = max(sorted(texts), key=[q.question for q in questions].count)  # the commonest such wording
    got = head_counts(tmp_path / "collisions", data, data / "states", question)
    per_question = pd.read_csv(tmp_path / "collisions" / "eval" / "validation_step_2" / "per_question.csv")
    wording = {(s.scene_index, q.question_id): q.question for s in scenes for q in s.questions}
    asked = per_question[[wording[key] == question for key in zip(per_question.scene_index, per_question.question_id)]]
    assert got["questions"] == len(asked) > 0
    assert got["answered right"] == pytest.approx(asked.correct.mean())
    assert 0 <= got["soft count rounds right"] <= 1


def test_ablation_rows_take_their_own_preset(data, tmp_path):
    """`--preset LABEL=YAML [overrides]`: the state row trains the grounded preset with its own overrides, the
    blind row under that preset drops the heads that read objects, and bad specs are refused by name."""
    from qa_data.config import ConfigError
    from reasoning.cli import ablate_main
    from reasoning.train import load_qa_run

    repo = Path(__file__).resolve().parents[2]
    small = ["data.num_frames=4", "train.batch_size=8", "train.eval_batch_size=64", "train.steps=1"]
    ablate_main(["--config", str(repo / "configs/qa/aloe_cpu.yaml"), "--data", str(data), "--out", str(tmp_path),
                 "--source", f"states={data / 'states'}", "--source", f"states -dyn={data / 'states'}:static",
                 "--preset", f"states={repo / 'configs/qa/aloe_cpu_grounded.yaml'} train.steps=2",
                 "--seeds", "0", *small])
    _, states, *_ = load_qa_run(tmp_path / "states" / "seed_0")
    _, static, *_ = load_qa_run(tmp_path / "states_-dyn" / "seed_0")
    assert states.aloe.pair_head and states.aloe.mention_weight == 1.0 and states.train.steps == 2
    assert not static.aloe.pair_head and static.aloe.mention_weight == 0 and static.train.steps == 1
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert runs.preset.tolist() == ["aloe_cpu_grounded.yaml train.steps=2", "aloe_cpu.yaml", "aloe_cpu.yaml"]
    # blind under the grounded preset: no object tokens, so neither the pair head nor the grounding loss
    ablate_main(["--config", str(repo / "configs/qa/aloe_cpu_grounded.yaml"), "--data", str(data),
                 "--out", str(tmp_path / "grounded"), "--source", f"states={data / 'states'}", "--seeds", "0", *small])
    _, blind, *_ = load_qa_run(tmp_path / "grounded" / "blind" / "seed_0")
    assert blind.aloe.blind and blind.aloe.mention_weight == 0
    assert not blind.aloe.pair_head and not blind.aloe.select_head
    for spec, problem in ((f"ODDN={repo / 'configs/qa/aloe_cpu.yaml'}", "no --source row is labelled 'ODDN'"),
                          ("states=configs/qa/nope.yaml", "no such file"),
                          (f"states={repo / 'configs/qa/aloe_cpu.yaml'} train.steps", "must be key=value"),
                          ("states=", "expected LABEL=PRESET.yaml")):
        with pytest.raises(ConfigError, match=problem):
            ablate_main(["--config", str(repo / "configs/qa/aloe_cpu.yaml"), "--data", str(data), "--out",
                         str(tmp_path / "bad"), "--source", f"states={data / 'states'}", "--preset", spec, *small])


def test_collision_reference_reads_the_sampled_frames_and_the_annotated_collisions(data):
    """benchmarks/bench_collision_reference.py: each pair's distance is the smallest centre distance over the frames
    the QA model samples where both objects are in view, and its label is whether the annotation has it collide."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_collision_reference import pair_distances

    pairs = pair_distances(data, data / "states", "train", 8)  # 8 of the 16 cached frames: source frames 0, 16, ...
    layout = ClevrerLayout(data)
    assert pairs.collided.any() and not pairs.collided.all()
    for video, rows in pairs.groupby("video"):
        ann = load_annotation(layout.annotation_path("train", video))
        ids = [p.object_id for p in ann.object_property]
        annotated = {tuple(sorted((ids.index(a), ids.index(b)))) for a, b in (c.object_ids for c in ann.collision)}
        assert [(a, b) in annotated for a, b in zip(rows.a, rows.b)] == rows.collided.tolist()
        for a, b, gap in zip(rows.a, rows.b, rows.min_distance):
            seen = [{o.object_id: np.array(o.location[:2]) for o in f.objects if o.inside_camera_view}
                    for f in ann.motion_trajectory[0:128:16]]
            both = [np.linalg.norm(s[ids[a]] - s[ids[b]]) for s in seen if ids[a] in s and ids[b] in s]
            assert gap == pytest.approx(min(both), abs=1e-4)


def test_when_scores_count_the_collisions_seen_and_measure_from_their_frame(data):
    """bench_collision_reference.when_scores: every annotated collision whose objects are seen together in a sampled
    frame is counted once; with weights spread evenly (a zero score) the mean frame's distance from the collision is
    the even reference, and the peak (the first of equal weights) is the first frame together."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_collision_reference import when_scores

    from qa_data.slots.slot_cache import SlotFrames, SlotSampling, split_file
    from reasoning.aloe import Aloe
    from reasoning.config import AloeConfig

    cache = SlotFrames(split_file(data / "states", "validation"), SlotSampling(num_frames=8))
    k, d = cache.sample(cache.videos[0])["slots"].shape[1:]
    model = Aloe(AloeConfig(d_model=16, layers=1, heads=2, ffn=16, visual_tokens="object_track",
                            relation_tokens="frames", relation_time=True), d, k, 8, 82, 22, 32).eval()
    torch.nn.init.zeros_(model.relation_when.weight)
    torch.nn.init.zeros_(model.relation_when.bias)
    got = when_scores(model, data, data / "states", 8)
    layout = ClevrerLayout(data)
    at_first, distance = [], []  # per counted collision: is its nearest sampled frame the first one together; how far
    for video in cache.videos:
        item = cache.sample(video)
        ann = load_annotation(layout.annotation_path("validation", video))
        ids = [o.object_id for o in ann.object_property]
        for c in ann.collision:
            a, b = (ids.index(o) for o in c.object_ids)
            together = np.flatnonzero((item["presence"][:, a] & item["presence"][:, b]).numpy())
            if len(together):
                nearest = int(np.abs(item["frame_index"].numpy() - c.frame_id).argmin())
                at_first.append(nearest == together[0])
                distance.append(abs(together.mean() - nearest))
    assert got["collisions"] == len(at_first) > 0
    assert got["peak at first frame together"] == 1.0
    assert got["peak at the collision"] == pytest.approx(np.mean(at_first))
    assert got["mean frame - collision (frames)"] == pytest.approx(np.mean(distance))
    assert got["same, weights spread evenly"] == pytest.approx(np.mean(distance))


def test_collision_frames_are_the_annotated_collisions_in_the_window(data):
    """video_collision_frames: every annotated collision of a video, as (slot a < slot b, frame); the reader's target
    for a descriptive pass is, per colliding pair, the window frame nearest the collision (within the window's
    spacing, both objects seen), -1 for every other pair and every multiple-choice pass."""
    from qa_data.reports.qa_report import load_split_with_answers
    from reasoning.mention_oracle import video_collision_frames
    from reasoning.qa_dataset import collate

    layout = ClevrerLayout(data)
    scenes = load_split_with_answers(layout, "train")
    frames = video_collision_frames(layout, "train", scenes)
    assert set(frames) == {s.scene_index for s in scenes}
    for sc in scenes:
        ann = load_annotation(layout.annotation_path("train", sc.scene_index))
        ids = [o.object_id for o in ann.object_property]
        expected = sorted((*sorted(ids.index(o) for o in c.object_ids), c.frame_id) for c in ann.collision)
        assert sorted(frames[sc.scene_index]) == expected
    tok = QuestionTokenizer(TokenizerConfig())
    qs = QuestionSet(scenes, tok, SlotFrames(data / "states/train.h5", SlotSampling(num_frames=8)),
                     collision_frames=frames)
    assert all(("collision_frames" in it) == (it["type"] == TYPE_ID["descriptive"]) for it in qs.items)
    index = {tuple(ab): j for j, ab in enumerate(torch.triu_indices(6, 6, 1).t().tolist())}
    targets = 0
    for i in [i for i, it in enumerate(qs.items) if it["type"] == TYPE_ID["descriptive"]][:40]:
        item = qs[i]
        m = next(j for j, it in enumerate(qs.items) if it["type"] != TYPE_ID["descriptive"])
        batch = collate([item, qs[m]])
        expected = torch.full((15,), -1)
        window = item["frame_index"].numpy()  # every 16th video frame (states every 8th, 8 of them sampled)
        for a, b, f in frames[item["scene_index"]]:
            t = int(np.abs(window - f).argmin())
            if abs(window[t] - f) <= 16 and item["presence"][t, a] and item["presence"][t, b]:
                expected[index[(a, b)]] = t
        assert torch.equal(batch.when[0], expected)
        assert (batch.when[1:] == -1).all()
        targets += int((expected >= 0).sum())
    assert targets > 0
