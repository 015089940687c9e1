"""Ground-truth states as a feature source, data without pixels, and what the QA stage does with
them: the presence mask, interchangeable caches, exact column trimming, intervals, learning curves."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from qa_data.clevrer.layout import ClevrerLayout
from qa_data.config import load_config
from qa_data.errors import DataError
from qa_data.slots.state_cache import STATE_FEATURES
from reasoning.aloe import Aloe
from reasoning.config import AloeConfig, QAConfig
from reasoning.qa_dataset import collate
from reasoning.train import qa_loss, train_qa

REPO = Path(__file__).resolve().parents[2]
SMALL = ["aloe.d_model=32", "aloe.layers=1", "aloe.heads=2", "aloe.ffn=32", "aloe.head_hidden=16", "data.num_frames=4",
         "train.batch_size=8", "train.log_every=1", "train.eval_batch_size=16"]


def qa_cfg(*overrides: str) -> QAConfig:
    return load_config(QAConfig, REPO / "configs/qa/aloe_tiny.yaml", [*SMALL, *overrides])


def test_state_cache_and_slot_cache_are_interchangeable(no_render, tmp_path):
    """The same QA code trains and evaluates on a state cache, with and without the dynamics dims;
    a learning-curve figure and table come with every run."""
    for name, over in (("states", []), ("static", ["data.drop_dynamics=true"])):
        cfg = qa_cfg("train.steps=3", "train.eval_every=2", "aloe.input_norm=standardize",
                     "aloe.positions=factorised", "data.preload=true", *over)
        result = train_qa(cfg, no_render, no_render / "states", tmp_path / name, progress=False)
        assert result.step == 3 and result.accuracy is not None
        written = pd.read_csv(result.eval_dir / "summary.csv").iloc[0].to_dict()  # the row the run wrote
        assert result.summary == pytest.approx(written, nan_ok=True) and 0 <= result.summary["Descriptive"] <= 100
        curves = pd.read_csv(tmp_path / name / "learning_curves.csv")
        assert (tmp_path / name / "learning_curves.png").is_file()
        assert set(curves.split) == {"train", "validation"} and curves.questions_seen.max() == 3 * 8
    from reasoning.train import load_qa_run

    model, cfg, _, info, _ = load_qa_run(tmp_path / "static")
    assert info["features"] == "states -dyn" and model.slot_dim == 16
    assert info["slot_attrs"]["producer"] == "annotations"
    # standardisation statistics are part of the saved model
    assert not torch.equal(model.feat_std, torch.ones(16))


def test_mixing_producers_is_refused(no_render, imported_slots, tmp_path):
    import shutil

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(no_render / "states" / "train.h5", mixed / "train.h5")
    shutil.copy(imported_slots / "validation.h5", mixed / "validation.h5")
    with pytest.raises(Exception, match="different producers"):
        train_qa(qa_cfg("train.steps=1"), no_render, mixed, tmp_path / "run", progress=False)


@pytest.fixture
def imported_slots(no_render, tmp_path) -> Path:
    """Another producer's caches of the no-render dataset (an import of made-up slots), train and validation."""
    from qa_data.slots.slot_import import ImportConfig, import_slots

    layout = ClevrerLayout(no_render)
    for split in ("train", "validation"):
        npz = tmp_path / f"other_{split}.npz"
        np.savez(npz, **{f"video_{i:05d}": np.random.default_rng(i).normal(size=(16, 6, 19)).astype(np.float32)
                         for i in layout.annotation_indices(split)})
        import_slots(npz, no_render, tmp_path / "imported", ImportConfig(split=split, d_dyn=3, label="other"))
    return tmp_path / "imported"


def presence_batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(6):
        presence = torch.rand(4, 3, generator=g) > 0.4
        presence[:, 2] = False  # slot 2 never holds an object
        item = {"scene_index": i, "question_id": 0, "type": i % 4, "question": torch.randint(1, 82, (20,), generator=g),
                "slots": torch.randn(4, 3, 5, generator=g), "presence": presence}
        if i < 3:
            item.update(choices=torch.zeros(0, 12, dtype=torch.long), choice_ids=[],
                        labels=torch.zeros(0, dtype=torch.long), answer=int(torch.randint(1, 22, (), generator=g)))
        else:
            q = item["question"]
            q[12:] = 0  # padded question tail
            item.update(choices=torch.cat([torch.randint(1, 82, (2, 6), generator=g),
                                           torch.zeros(2, 6, dtype=torch.long)], 1),
                        choice_ids=[0, 1], labels=torch.tensor([1, 0]), answer=-1)
        items.append(item)
    return collate(items)


TOKEN_KINDS = [("joint", "frame_slot", "none"), ("factorised", "frame_slot", "none"),
               ("factorised", "object_track", "none"), ("factorised", "object_track", "track"),
               ("joint", "object_track", "track"), ("factorised", "object_track", "frames"),
               ("factorised", "object_track", "frames+time")]


def relation_kind(relations: str) -> dict:
    """AloeConfig fields of a TOKEN_KINDS relation entry (`frames+time`: frames with aloe.relation_time)."""
    return {"relation_tokens": relations.removesuffix("+time"), "relation_time": relations.endswith("+time")}


@pytest.mark.parametrize("positions,tokens,relations", TOKEN_KINDS)
def test_presence_mask_hides_absent_objects(positions, tokens, relations):
    torch.manual_seed(0)
    model = Aloe(AloeConfig(d_model=32, layers=2, heads=2, ffn=32, positions=positions, input_norm="standardize",
                            visual_tokens=tokens, **relation_kind(relations)), 5, 3, 4, 82, 22, 32).eval()
    passes = presence_batch()
    out = model(passes.slots, passes.text, passes.segment, passes.presence)
    changed = passes.slots.clone()
    changed[~passes.presence] = torch.randn(int((~passes.presence).sum()), 5) * 100  # absent objects only
    again = model(changed, passes.text, passes.segment, passes.presence)
    torch.testing.assert_close(out.answer_logits, again.answer_logits)
    torch.testing.assert_close(out.choice_logits, again.choice_logits)
    # a present object's features do change it
    present = passes.slots.clone()
    present[passes.presence] += 1.0
    assert not torch.allclose(model(present, passes.text, passes.segment, passes.presence).answer_logits,
                              out.answer_logits)
    # without the mask (use_presence=false) the absent objects are seen
    model.cfg.use_presence = False
    assert not torch.allclose(model(changed, passes.text, passes.segment, passes.presence).answer_logits,
                              model(passes.slots, passes.text, passes.segment, passes.presence).answer_logits)


def full_and_trimmed(model: Aloe, passes) -> list[tuple]:
    """(loss, logged parts, gradients by parameter name) of one step on the full sequence, then on the trimmed one."""
    results = []
    for trim in (False, True):
        model.trim = trim
        model.zero_grad()
        loss, parts = qa_loss(model(passes.slots, passes.text, passes.segment, passes.presence), passes, 0.0)
        loss.backward()
        results.append((loss.detach(), {k: v.clone() for k, v in parts.items()},
                        {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    return results


@pytest.mark.parametrize("positions,tokens,relations", TOKEN_KINDS)
def test_trimmed_step_gives_the_full_sequence_losses(positions, tokens, relations):
    """The faster step (columns masked in every pass dropped) computes the losses and gradients of
    the full sequence."""
    torch.manual_seed(0)
    model = Aloe(AloeConfig(d_model=32, layers=2, heads=2, ffn=48, dropout=0.0, positions=positions,
                            visual_tokens=tokens, **relation_kind(relations)), 5, 3, 4, 82, 22, 32)
    passes = presence_batch(seed=1)
    assert (passes.text == 0).all(0).any() and (~passes.presence).all(0).any()  # something to trim
    (l0, p0, g0), (l1, p1, g1) = full_and_trimmed(model, passes)
    torch.testing.assert_close(l0, l1, rtol=1e-5, atol=1e-6)
    for k in p0:
        torch.testing.assert_close(p0[k], p1[k], rtol=1e-5, atol=1e-6)
    assert g0.keys() == g1.keys()
    for n in g0:
        torch.testing.assert_close(g0[n], g1[n], rtol=1e-4, atol=1e-6, msg=n)


@pytest.mark.parametrize("kind", ["track", "frames"])
def test_relation_tokens_hold_each_pair_whatever_its_order(kind):
    """One token per unordered pair of slots, the same whichever of the two comes first; a pair with a slot
    that holds no object is masked."""
    torch.manual_seed(0)
    model = Aloe(AloeConfig(d_model=32, layers=1, heads=2, ffn=32, visual_tokens="object_track",
                            relation_tokens=kind, positions="factorised"), 5, 4, 3, 82, 22, 32).eval()
    slots, presence = torch.randn(2, 3, 4, 5), torch.ones(2, 3, 4, dtype=torch.bool)
    presence[1, :, 3] = False  # video 1: slot 3 empty
    vis, seen, _ = model.visual_tokens(slots, presence)  # [2, 4 + 6, 32]
    assert vis.shape == (2, 10, 32) and model.pair_index.T.tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    swapped = slots[:, :, [2, 1, 0, 3]]  # slots 0 and 2 exchanged
    vis2, _, _ = model.visual_tokens(swapped, presence)
    torch.testing.assert_close(vis2[:, 4 + 1], vis[:, 4 + 1])  # pair (0, 2) in either order
    torch.testing.assert_close(vis2[:, 4 + 3], vis[:, 4 + 0])  # (1, 2) of the swapped video is (1, 0)
    assert seen[1, 0].tolist() == [True] * 3 + [False] + [True, True, False, True, False, False]
    with pytest.raises(ValueError, match="relation_tokens needs aloe.visual_tokens=object_track"):
        AloeConfig(relation_tokens=kind)
    if kind == "frames":  # a pair's token is the most of what its MLP finds at any one frame where both are seen
        only = presence.clone()
        only[0, 1:, 0] = False  # video 0: slot 0 seen at frame 0 only
        vis3, _, _ = model.visual_tokens(slots, only)
        changed = slots.clone()
        changed[0, 1:, 0] += 5.0  # slot 0 at the frames where it is absent
        torch.testing.assert_close(model.visual_tokens(changed, only)[0], vis3)
        assert not torch.allclose(vis3[0, 4], vis[0, 4])  # pair (0, 1) now reads frame 0 only


def test_relation_time_says_when_the_pair_met():
    """Max-pooled pair tokens are the same whatever the order of the frames; with aloe.relation_time they change
    with it, through the frame embeddings of the frames where both objects are seen only, and the token stays the
    same in either order of the pair."""
    torch.manual_seed(0)
    slots, presence = torch.randn(2, 4, 3, 5), torch.ones(2, 4, 3, dtype=torch.bool)
    presence[0, 3, 2] = False  # video 0: slot 2 absent at the last frame
    reversed_ = [3, 2, 1, 0]
    for timed in (False, True):
        model = Aloe(AloeConfig(d_model=16, layers=1, heads=2, ffn=16, visual_tokens="object_track",
                                relation_tokens="frames", relation_time=timed, positions="factorised"),
                     5, 3, 4, 82, 22, 32).eval()
        pairs = model.visual_tokens(slots, presence)[0][:, 3:]  # [2, P=3, 16]
        back = model.visual_tokens(slots[:, reversed_], presence[:, reversed_])[0][:, 3:]
        swapped = model.visual_tokens(slots[:, :, [1, 0, 2]], presence[:, :, [1, 0, 2]])[0][:, 3:]
        torch.testing.assert_close(swapped[:, 0], pairs[:, 0])  # pair (0, 1) in either order
        if not timed:
            torch.testing.assert_close(back, pairs)
            with pytest.raises(ValueError, match="relation_frame_weights needs"):
                model.relation_frame_weights(slots, presence)
            continue
        assert not torch.allclose(back, pairs)  # the order of the frames is seen
        weight = model.relation_frame_weights(slots, presence)  # [2, F=4, P=3]
        torch.testing.assert_close(weight.sum(1), torch.ones(2, 3))
        assert (weight[0, 3, 1:] == 0).all() and (weight > 0).sum().item() == 2 * 4 * 3 - 2
        with torch.no_grad():
            model.relation_frame[3] += 100.0  # the last frame's embedding
        after = model.visual_tokens(slots, presence)[0][:, 3:]
        torch.testing.assert_close(after[0, 1:], pairs[0, 1:])  # pairs with slot 2: not together at frame 3
        assert not torch.allclose(after[0, 0], pairs[0, 0]) and not torch.allclose(after[1], pairs[1])
        with torch.no_grad():
            model.relation_frame.copy_(torch.randn(16).expand(4, 16))  # one embedding for every frame
        torch.testing.assert_close(model.visual_tokens(slots[:, reversed_], presence[:, reversed_])[0][:, 3:],
                                   model.visual_tokens(slots, presence)[0][:, 3:])
    with pytest.raises(ValueError, match="relation_time needs aloe.relation_tokens=frames"):
        AloeConfig(visual_tokens="object_track", relation_tokens="track", relation_time=True)


def test_relation_time_target_is_the_cross_entropy_of_the_weights_and_moves_their_peak():
    """aloe.relation_time_target: the loss is the mean of -log(weight at the target frame) over the pairs with a
    target at a frame where both are seen (others, and -1, are left out); `full` trains the pair MLP under the score
    too, `score` the score alone; training on it alone moves each pair's peak to its target frame."""
    torch.manual_seed(0)
    d, k, f = 5, 3, 6
    model = Aloe(AloeConfig(d_model=16, layers=1, heads=2, ffn=16, head_hidden=16, visual_tokens="object_track",
                            relation_tokens="frames", relation_time=True, mention_weight=1.0,
                            relation_time_target=True), d, k, f, 20, 22, 8)
    slots = torch.randn(4, f, k, d)  # [N, F, K, D]
    presence = torch.ones(4, f, k, dtype=torch.bool)
    presence[:, 0, 2] = False  # pairs (0, 2) and (1, 2) are not seen together at frame 0
    text = torch.randint(1, 20, (4, 8))
    segment = torch.ones(4, 8, dtype=torch.long)
    when = torch.tensor([[3, -1, 0], [5, 0, 2], [-1, -1, -1], [1, 4, 4]])  # [N, P]; pairs (0,1) (0,2) (1,2)
    out = model(slots, text, segment, presence, when=when)
    weight = model.relation_frame_weights(slots, presence)  # [N, F, P]
    picked = [weight[n, t, p] for n in range(4) for p in range(3)
              if (t := int(when[n, p])) >= 0 and not (t == 0 and p > 0)]  # (1, 0) at frame 0 is not seen: left out
    assert len(picked) == 6
    torch.testing.assert_close(out.when_loss, -torch.log(torch.stack(picked)).mean())
    assert model(slots, text, segment, presence).when_loss == 0
    with pytest.raises(ValueError, match="relation_time_target needs aloe.relation_time"):
        AloeConfig(visual_tokens="object_track", relation_tokens="frames", mention_weight=1.0,
                   relation_time_target=True)
    assert model.cfg.relation_time_target == "full"  # `true`: the switch it first was, as runs saved it
    from qa_data.config import load_config
    switch = ["aloe.visual_tokens=object_track", "aloe.relation_tokens=frames", "aloe.relation_time=true",
              "aloe.mention_weight=1.0", "aloe.relation_time_target=true"]
    assert load_config(QAConfig, None, switch).aloe.relation_time_target == "full"
    for word, kind in (("true", "track"), ("false", "none")):  # relation_tokens was a switch too
        assert load_config(QAConfig, None, ["aloe.visual_tokens=object_track",
                                            f"aloe.relation_tokens={word}"]).aloe.relation_tokens == kind
    # full: the loss reaches the pair MLP under the score; score: the score alone
    for target, reaches in (("full", True), ("score", False)):
        model.cfg.relation_time_target = target
        model.zero_grad()
        model(slots, text, segment, presence, when=when).when_loss.backward()
        assert model.relation_when.weight.grad.abs().sum() > 0
        grads = [p.grad for p in model.relation_in.parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads) == reaches
    model.cfg.relation_time_target = "full"
    with pytest.raises(ValueError, match="relation_time_target must be none, full or score"):
        AloeConfig(visual_tokens="object_track", relation_tokens="frames", relation_time=True, mention_weight=1.0,
                   relation_time_target="pair")
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(300):
        opt.zero_grad()
        model(slots, text, segment, presence, when=when).when_loss.backward()
        opt.step()
    peak = model.relation_frame_weights(slots, presence).argmax(1)  # [N, P]
    known = (when >= 0) & ~((when == 0) & (torch.arange(3) > 0))
    assert torch.equal(peak[known], when[known])


def test_pair_head_reads_the_named_pair():
    """The pair head's summary is the pair MLP of the two slots the mention logits name, in either order; the other
    slots do not reach it, and without a named pair every pair counts."""
    torch.manual_seed(0)
    model = Aloe(AloeConfig(d_model=16, layers=1, heads=2, ffn=16, visual_tokens="object_track", pair_head=True,
                            positions="factorised"), 5, 4, 3, 82, 22, 32).eval()
    slots, presence = torch.randn(1, 3, 4, 5), torch.ones(1, 3, 4, dtype=torch.bool)
    named = torch.tensor([[-30.0, 30.0, -30.0, 30.0]])  # slots 1 and 3
    summary = model.named_pair(slots, presence, named)  # [1, 16]
    track = model._tracks(slots, presence)  # [1, 4, 3*6]
    own = model.pair_in(torch.cat([(track[:, 1] - track[:, 3]).abs(), track[:, 1] + track[:, 3]], -1))
    torch.testing.assert_close(summary, own, rtol=1e-4, atol=1e-5)
    swapped = slots[:, :, [0, 3, 2, 1]]  # the named pair in the other order
    torch.testing.assert_close(model.named_pair(swapped, presence, named), summary, rtol=1e-4, atol=1e-5)
    others = slots.clone()
    others[:, :, [0, 2]] += 50.0  # objects nobody named
    torch.testing.assert_close(model.named_pair(others, presence, named), summary, rtol=1e-4, atol=1e-5)
    moved = slots.clone()
    moved[:, -1, 3] += 1.0  # one named object at one frame
    assert not torch.allclose(model.named_pair(moved, presence, named), summary)
    unsure = model.named_pair(slots, presence, torch.zeros(1, 4))  # p = 0.5 everywhere: weight 0.25 per pair
    everything = model.pair_in(torch.cat([(track[:, model.pair_index[0]] - track[:, model.pair_index[1]]).abs(),
                                          track[:, model.pair_index[0]] + track[:, model.pair_index[1]]], -1))
    torch.testing.assert_close(unsure, everything.sum(1) * 0.25 / 1.5, rtol=1e-4, atol=1e-5)  # 6 pairs: 1.5 in all
    with pytest.raises(ValueError, match="pair_head needs aloe.visual_tokens=object_track"):
        AloeConfig(pair_head=True)


def test_pair_head_is_trained_by_the_answer_and_trims_exactly():
    """Without grounding targets, the choice loss alone reaches the mention head through the pair head; the trimmed
    sequence gives the full sequence's losses and gradients."""
    torch.manual_seed(0)
    model = Aloe(AloeConfig(d_model=32, layers=2, heads=2, ffn=48, dropout=0.0, positions="factorised",
                            visual_tokens="object_track", pair_head=True), 5, 3, 4, 82, 22, 32)
    (l0, _, g0), (l1, _, g1) = full_and_trimmed(model, presence_batch(seed=1))
    torch.testing.assert_close(l0, l1, rtol=1e-5, atol=1e-6)
    assert g0.keys() == g1.keys()
    for n in g0:
        torch.testing.assert_close(g0[n], g1[n], rtol=1e-4, atol=1e-6, msg=n)
    assert any(n.startswith("mention_head") and g.abs().sum() > 0 for n, g in g0.items())
    assert any(n.startswith("pair_in") and g.abs().sum() > 0 for n, g in g0.items())


def test_select_head_reads_the_selected_objects_and_their_soft_count():
    """The select head's summary is the track MLP of the slots the mention logits select, averaged, with their
    soft count; the other slots do not reach it; the descriptive answer loss alone trains the mention head
    through it, and the trimmed sequence gives the full sequence's losses and gradients."""
    torch.manual_seed(0)
    model = Aloe(AloeConfig(d_model=16, layers=1, heads=2, ffn=16, visual_tokens="object_track", select_head=True,
                            positions="factorised"), 5, 4, 3, 82, 22, 32).eval()
    slots, presence = torch.randn(1, 3, 4, 5), torch.ones(1, 3, 4, dtype=torch.bool)
    chosen = torch.tensor([[-30.0, 30.0, -30.0, 30.0]])  # slots 1 and 3
    summary = model.selected(slots, presence, chosen)  # [1, 17]
    each = model.select_in(model._tracks(slots, presence))  # [1, 4, 16]
    torch.testing.assert_close(summary[:, :16], (each[:, 1] + each[:, 3]) / 2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(summary[:, 16], torch.tensor([2.0]), rtol=1e-4, atol=1e-5)  # two selected
    others = slots.clone()
    others[:, :, [0, 2]] += 50.0  # objects not selected
    torch.testing.assert_close(model.selected(others, presence, chosen), summary, rtol=1e-4, atol=1e-5)
    one = model.selected(slots, presence, torch.tensor([[-30.0, 30.0, -30.0, -30.0]]))
    torch.testing.assert_close(one[:, :16], each[:, 1], rtol=1e-4, atol=1e-5)  # one object: its own MLP
    gone = presence.clone()
    gone[:, :, 3] = False  # slot 3 holds no object in any frame: never selected
    torch.testing.assert_close(model.selected(slots, gone, chosen)[:, 16], torch.tensor([1.0]), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="select_head needs aloe.visual_tokens=object_track"):
        AloeConfig(select_head=True)

    model = Aloe(AloeConfig(d_model=32, layers=2, heads=2, ffn=48, dropout=0.0, positions="factorised",
                            visual_tokens="object_track", select_head=True), 5, 3, 4, 82, 22, 32)
    (l0, _, g0), (l1, _, g1) = full_and_trimmed(model, presence_batch(seed=1))
    torch.testing.assert_close(l0, l1, rtol=1e-5, atol=1e-6)
    for n in g0:
        torch.testing.assert_close(g0[n], g1[n], rtol=1e-4, atol=1e-6, msg=n)
    assert any(n.startswith("mention_head") and g.abs().sum() > 0 for n, g in g0.items())
    assert any(n.startswith("select_in") and g.abs().sum() > 0 for n, g in g0.items())


def test_collision_head_counts_the_pairs_it_picks():
    """The answer head reads the collision head's probabilities summed over the slot pairs whose objects are both
    seen (a pair with an object seen in no frame never counts); its targets train it through a BCE over the known,
    seen pairs; the descriptive answer loss alone reaches it; the trimmed sequence gives the full sequence's losses
    and gradients; it needs relation tokens."""
    torch.manual_seed(0)
    cfg = AloeConfig(d_model=32, layers=2, heads=2, ffn=48, dropout=0.0, positions="factorised",
                     visual_tokens="object_track", relation_tokens="track", collision_head=True)
    model = Aloe(cfg, 5, 3, 4, 82, 22, 32).eval()
    passes = presence_batch(seed=1)
    assert model.pair_index.t().tolist() == [[0, 1], [0, 2], [1, 2]]
    both = (passes.presence[:, :, 0].any(1) & passes.presence[:, :, 1].any(1)).float()  # [N] pair (0, 1) seen
    assert both[0] == 1 and not passes.presence[:, :, 2].any()  # slot 2 is never present: only (0, 1) can count
    target = torch.full((len(both), 3), float("nan"))  # [N, P]
    target[0] = torch.tensor([1.0, 1.0, 0.0])
    last = model.collision_in[-1]
    last.weight.data.zero_()  # every pair's logit is the bias, whatever its token
    read = {}
    model.answer_head.register_forward_hook(lambda m, i, o: read.update(count=i[0][:, -1]))
    for logit in (0.0, 2.5):
        last.bias.data.fill_(logit)
        out = model(passes.slots, passes.text, passes.segment, passes.presence, collision=target)
        torch.testing.assert_close(read["count"], torch.sigmoid(torch.tensor(logit)) * both)
        # the BCE covers pass 0's seen pair (0, 1) only: its pairs with slot 2 are unseen, the other passes unknown
        torch.testing.assert_close(out.collision_loss,
                                   F.binary_cross_entropy_with_logits(torch.tensor(logit), torch.tensor(1.0)))
    with pytest.raises(ValueError, match="collision_head needs aloe.relation_tokens"):
        AloeConfig(visual_tokens="object_track", collision_head=True)

    model = Aloe(cfg, 5, 3, 4, 82, 22, 32)
    (l0, _, g0), (l1, _, g1) = full_and_trimmed(model, passes)
    torch.testing.assert_close(l0, l1, rtol=1e-5, atol=1e-6)
    assert g0.keys() == g1.keys()
    for n in g0:
        torch.testing.assert_close(g0[n], g1[n], rtol=1e-4, atol=1e-6, msg=n)
    assert any(n.startswith("collision_in") and g.abs().sum() > 0 for n, g in g0.items())


def test_closest_approach_targets_are_the_rules_quantity():
    """Each pair's target is `closest_approach` of the two objects at the window's last frame (the straight-line
    rule's own function), NaN where either is absent there."""
    from qa_data.programs.extrapolation import closest_approach
    from reasoning.approach import pair_closest_approach

    col = {f: STATE_FEATURES.index(f) for f in ("x", "y", "vx", "vy")}
    slots = torch.zeros(1, 2, 3, len(STATE_FEATURES))
    for k, (x, y, vx, vy) in enumerate([(0.0, 0.0, 1.0, 0.0), (3.0, 1.0, -1.0, 0.0), (0.0, 5.0, 0.0, 0.0)]):
        for f, value in zip(("x", "y", "vx", "vy"), (x, y, vx, vy)):
            slots[0, -1, k, col[f]] = value
    presence = torch.ones(1, 2, 3, dtype=torch.bool)
    presence[0, -1, 2] = False  # object 2 has left the view at the last frame
    pairs = torch.triu_indices(3, 3, 1)  # (0, 1), (0, 2), (1, 2)
    got = pair_closest_approach(slots, presence, pairs, [col[f] for f in ("x", "y", "vx", "vy")])
    assert got[0, 0].item() == pytest.approx(1.0)  # head-on along x, 1 apart in y: they pass at distance 1
    assert got[0, 0].item() == pytest.approx(closest_approach([0, 0, 0], [1, 0, 0], [3, 1, 0], [-1, 0, 0], 2.0))
    assert torch.isnan(got[0, 1:]).all()


def test_approach_auxiliary_trains_on_states_only(no_render, tmp_path, imported_slots):
    cfg = qa_cfg("train.steps=2", "aloe.visual_tokens=object_track", "aloe.relation_tokens=frames",
                 "aloe.approach_weight=1.0", "aloe.positions=factorised")
    train_qa(cfg, no_render, no_render / "states", tmp_path / "run", progress=False)
    logged = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert all(r["train/approach"] > 0 for r in logged if "train/loss" in r)
    with pytest.raises(DataError, match="needs a ground-truth state cache"):  # another producer's slots
        train_qa(cfg, no_render, imported_slots, tmp_path / "run2", progress=False)
    # the targets are made from the slots before the model would shuffle them: refused together
    with pytest.raises(ValueError, match="shuffle_objects permutes the slots"):
        qa_cfg("aloe.visual_tokens=object_track", "aloe.mention_weight=1.0", "aloe.shuffle_objects=true")
    with pytest.raises(ValueError, match="would move them again"):
        qa_cfg("data.mention_oracle=true", "aloe.shuffle_objects=true")


def test_encoder_is_torchs_pre_ln_encoder():
    """`reasoning.encoder.Encoder` computes nn.TransformerEncoder's outputs and gradients from the same
    state dict (so the faster step is the old step), with dropout off and a key padding mask."""
    import torch.nn as nn

    from reasoning.encoder import Encoder

    torch.manual_seed(0)
    ours = Encoder(32, 4, 48, 0.0, 2)
    layer = nn.TransformerEncoderLayer(32, 4, 48, 0.0, activation="relu", batch_first=True, norm_first=True)
    theirs = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(5, 11, 32)
    pad = torch.rand(5, 11) > 0.6
    pad[:, 0] = False
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ours, out_theirs = ours(a, src_key_padding_mask=pad), theirs(b, src_key_padding_mask=pad)
    torch.testing.assert_close(out_ours, out_theirs, rtol=1e-5, atol=1e-5)
    out_ours[:, 0].sum().backward()
    out_theirs[:, 0].sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_two_process_training(no_render, tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2 scripts/train_qa.py` trains (DDP over gloo on
    CPU) although some parameters get no gradient in a step (the masked-slot ones, a head whose
    question type the batch lacks)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    done = subprocess.run([*launch, str(REPO / "scripts/train_qa.py"), "--config",
                           str(REPO / "configs/qa/aloe_tiny.yaml"),
                           "--slots", str(no_render / "states"), "--data", str(no_render), "--out",
                           str(tmp_path / "run"),
                           *SMALL, "train.steps=3", "train.batch_size=4"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained QA to step 3" in done.stdout and (tmp_path / "run/checkpoints/step_0000003/model.pt").is_file()


def test_weight_decay_is_decoupled_from_the_gradient():
    """`train.weight_decay` scales every weight by 1 - lr * weight_decay per step whatever its gradient (AdamW), not
    an L2 term that Adam would normalise into a step of about lr; with 0 the steps are plain Adam's."""
    from reasoning.config import QATrainConfig
    from reasoning.train import qa_optimizer

    layer = torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in layer.parameters()]
    optimizer = qa_optimizer(layer, QATrainConfig(lr=0.1, weight_decay=0.5))
    for p in layer.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for p, b in zip(layer.parameters(), before):
        torch.testing.assert_close(p.detach(), b * (1 - 0.1 * 0.5))
    plain, adam = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    adam.load_state_dict(plain.state_dict())
    steps = [qa_optimizer(plain, QATrainConfig(lr=0.1)), torch.optim.Adam(adam.parameters(), lr=0.1)]
    for _ in range(3):
        x = torch.randn(4, 3)
        for model, opt in zip((plain, adam), steps):
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), adam.parameters()))
