"""PROVIDE's parts and behaviour, SEQ-IODINE, the length evaluation, and the Bouncing Balls data."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from accelerate import Accelerator

from perception.config import IodineConfig, ProvideConfig
from perception.iodine import Iodine
from perception.metrics import segmentation_scores
from perception.provide import LSTM2dCell, Provide, mask_entropy
from perception.seq_iodine import seq_iodine
from perception.video_eval import SEQ_IODINE, Entry, entries_for, evaluate_lengths, table1, write_lengths
from qa_data.balls.bouncing_balls import BallsClips, BallsConfig, physics_step, render, simulate
from qa_data.clevrer.datasets import ClipConfig
from qa_data.clevrer.preprocess import PreprocessConfig, preprocess_masks

SIZE = (12, 16)


def iodine_cfg(**kw) -> IodineConfig:
    base = dict(num_slots=3, latent_dim=8, num_iters=4, decoder_channels=[8, 8], refine_channels=[8, 8],
                refine_mlp=[16], refine_hidden=16, beta=100.0)
    base.update(kw)
    return IodineConfig(**base)


def provide(**kw) -> Provide:
    torch.manual_seed(0)
    return Provide(iodine_cfg(), ProvideConfig(**kw), SIZE)


def video(b: int = 2, t: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, t, 3, *SIZE, generator=torch.Generator().manual_seed(seed))


def seeds(b: int = 2, t: int = 6) -> torch.Tensor:
    return torch.arange(b * t).view(b, t)


# -- 2D-LSTM ------------------------------------------------------------------------------------

def test_2d_lstm_matches_its_equations_and_reads_both_states():
    torch.manual_seed(0)
    cell = LSTM2dCell(5, 4)
    x = torch.randn(3, 5)
    ref, temp = (torch.randn(3, 4), torch.randn(3, 4)), (torch.randn(3, 4), torch.randn(3, 4))
    h, c = cell(x, (ref, temp))
    assert h.shape == c.shape == (3, 4)
    gates = cell.w_x(x) + cell.w_hor(temp[0]) + cell.w_ver(ref[0])
    i, f, o, mix, cand = gates.chunk(5, -1)
    mix = torch.sigmoid(mix)
    c_expected = torch.sigmoid(f) * (mix * temp[1] + (1 - mix) * ref[1]) + torch.sigmoid(i) * torch.tanh(cand)
    assert torch.allclose(c, c_expected, atol=1e-6)
    assert torch.allclose(h, torch.sigmoid(o) * torch.tanh(c_expected), atol=1e-6)
    for changed in [((ref[0] + 1, ref[1]), temp), ((ref[0], ref[1] + 1), temp),
                    (ref, (temp[0] + 1, temp[1])), (ref, (temp[0], temp[1] + 1))]:
        h2, _ = cell(x, changed)
        assert not torch.allclose(h2, h), "every state (h and c, vertical and temporal) must reach the output"


# -- the grid -------------------------------------------------------------------------------------

def _count_calls(model: Provide, monkeypatch) -> dict[str, list[int]]:
    counts = {"score": [], "refine": []}
    frame = {"t": -1}
    orig_frame, orig_score, orig_refine = model.frame, model.iodine.score, model.iodine.refine

    def frame_(*a, **k):
        frame["t"] += 1
        counts["score"].append(0)
        counts["refine"].append(0)
        return orig_frame(*a, **k)

    def score_(*a, **k):
        counts["score"][frame["t"]] += 1
        return orig_score(*a, **k)

    def refine_(*a, **k):
        counts["refine"][frame["t"]] += 1
        return orig_refine(*a, **k)

    monkeypatch.setattr(model, "frame", frame_)
    monkeypatch.setattr(model.iodine, "score", score_)
    monkeypatch.setattr(model.iodine, "refine", refine_)
    return counts


@pytest.mark.parametrize("grid_min, decodes, refines", [
    (2, [4, 3, 2, 2, 2, 2], [3, 3, 2, 2, 2, 2]),  # official code: max(R - t, 2)
    (3, [4, 3, 3, 3, 3, 3], [3, 3, 3, 3, 3, 3]),
])
def test_the_triangular_grid_runs_the_expected_decodes_and_refinements(grid_min, decodes, refines, monkeypatch):
    model = provide(grid_min=grid_min)
    counts = _count_calls(model, monkeypatch)
    out = model(video())
    assert counts["score"] == decodes and counts["refine"] == refines
    assert [model.decodes(t) for t in range(6)] == decodes
    assert out.scalars["train/decodes_per_frame"].item() == pytest.approx(sum(decodes) / 6)


def test_one_decode_per_frame_is_refused():
    with pytest.raises(ValueError, match="grid_min must be >= 2"):
        provide(grid_min=1)


def test_every_frame_is_reported_from_a_posterior_that_read_it():
    """Perturbing frame t changes frame t's masks, reconstruction, features and step loss, at
    every t (also where R_hat is at its minimum), and leaves earlier frames alone."""
    model = provide()
    x = video(1, 6)
    with torch.no_grad():
        base_frames, _ = model.run(x, seeds(1, 6))
    base = model.decompose(x, seeds(1, 6))
    for t in range(6):
        changed = x.clone()
        changed[:, t] = 1.0 - changed[:, t]
        with torch.no_grad():
            frames, _ = model.run(changed, seeds(1, 6))
        out = model.decompose(changed, seeds(1, 6))
        assert not torch.allclose(out.masks[:, t], base.masks[:, t]), t
        assert not torch.allclose(out.recon[:, t], base.recon[:, t]), t
        assert not torch.allclose(out.z[:, t], base.z[:, t]), t
        assert not torch.allclose(frames[t].last.terms.nll, base_frames[t].last.terms.nll), t
        assert torch.equal(out.masks[:, :t], base.masks[:, :t]) and torch.equal(out.z[:, :t], base.z[:, :t])


def test_the_prior_depends_only_on_the_previous_frames(monkeypatch):
    model = provide()
    priors = []
    orig = model.prior.forward
    monkeypatch.setattr(model.prior, "forward", lambda h: priors.append(orig(h)) or priors[-1])
    x = video()
    with torch.no_grad():
        model.run(x, seeds())
        base = [p[0].clone() for p in priors]
        priors.clear()
        changed = x.clone()
        changed[:, 2] = torch.rand_like(changed[:, 2])
        model.run(changed, seeds())
    assert len(base) == 6, "one prior per frame, shared by its refinements"
    same = [torch.allclose(a, p[0]) for a, p in zip(base, priors)]
    assert same == [True, True, True, False, False, False]


def test_the_mask_entropy_term_is_minimised_with_weight_gamma():
    k, h, w = 4, 5, 6
    uniform = torch.full((1, k, 1, h, w), 1 / k)
    assert mask_entropy(uniform).item() == pytest.approx(h * w * np.log(k), rel=1e-5)
    onehot = torch.zeros(1, k, 1, h, w)
    onehot[:, 0] = 1
    assert mask_entropy(onehot).item() == pytest.approx(0.0, abs=1e-6)
    # the loss adds +gamma * entropy: a descent step on it makes the masks more decided
    logits = torch.randn(2, k, 1, h, w, requires_grad=True)
    before = mask_entropy(torch.softmax(logits, 1)).mean()
    before.backward()
    with torch.no_grad():
        after = mask_entropy(torch.softmax(logits - 0.5 * logits.grad, 1)).mean()
    assert after < before
    # and Provide's step loss carries it with weight gamma
    x = video(1, 1)[:, 0]
    losses = {}
    for gamma in (0.0, 0.5):
        model = provide(gamma=gamma)
        z = torch.randn(1, 3, 8)
        h = torch.zeros(1, 3, 16)
        lam = model.iodine.initial_params(1)
        dec, entropy = model.score(x, z, h, lam, model.prior(h))
        losses[gamma] = (dec.loss.item(), entropy.mean().item())
    assert losses[0.5][0] - losses[0.0][0] == pytest.approx(0.5 * losses[0.0][1], rel=1e-4)


def test_prediction_feeds_the_reconstruction_back_with_zero_gradient_inputs(monkeypatch):
    model = provide()
    calls = []
    orig = model.iodine.refine

    def refine_(x, dec, lam, state, keep_graph, grads=None, delta_clamp=None):
        calls.append((x.clone(), grads, (dec.terms.masks * dec.means.float()).sum(1)))
        return orig(x, dec, lam, state, keep_graph, grads=grads, delta_clamp=delta_clamp)

    monkeypatch.setattr(model.iodine, "refine", refine_)
    ctx = video(2, 3)
    out = model.rollout(ctx, 2, seeds(2, 3))
    assert out.frames.shape == (2, 2, 3, *SIZE) and out.context_recon.shape == (2, 3, 3, *SIZE)
    observed = 3 + 3 + 2  # R = 4: R_hat - 1 refinements at frame 0, then R_hat = 3, 2
    assert len(calls) == observed + 2, "one refinement per predicted frame"
    for x, grads, recon in calls[:observed]:
        assert grads is None
    for s, (x, grads, recon) in enumerate(calls[observed:]):
        assert all(torch.count_nonzero(g) == 0 for g in grads)
        assert torch.allclose(x, recon, atol=1e-6), "the input image is the model's own reconstruction"
        assert torch.allclose(out.frames[:, s], recon, atol=1e-6)
    # the rollout's context part is the plain decomposition
    assert torch.allclose(out.context_recon, model.decompose(ctx, seeds(2, 3)).recon, atol=1e-6)


def test_features_are_deterministic_posterior_means_of_every_frame():
    model = provide()
    x = video()
    f1, f2 = model.features(x, seeds()), model.features(x, seeds())
    assert f1.shape == (2, 6, 3, 8) and torch.equal(f1, f2)
    assert torch.equal(model.decompose(x, seeds()).z, f1)
    assert not torch.allclose(f1[:, 4], f1[:, 5]), "frames at the grid minimum read their image"
    from perception.config import PerceptionConfig
    from perception.registry import feature_dims, slot_features
    cfg = PerceptionConfig(model="provide", iodine=iodine_cfg())
    assert feature_dims(model, cfg) == (8, 0)
    assert torch.equal(slot_features(model, cfg, x, seeds()), f1)


@pytest.mark.parametrize("conditional", [True, False])
def test_one_training_step_reaches_every_parameter(conditional):
    model = provide(conditional=conditional)
    out = model(video(2, 5))
    out.loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, missing
    assert (model.prior is None) != conditional
    assert out.z.shape == (2, 5, 3, 8) and out.recon.shape == (10, 3, *SIZE)


def test_without_conditioning_the_kl_is_against_the_standard_normal():
    model = provide(conditional=False)
    x = video(1, 1)[:, 0]
    lam = model.iodine.initial_params(1)
    z = torch.randn(1, 3, 8)
    dec, _ = model.score(x, z, torch.zeros(1, 3, 16), lam, None)
    ref = model.iodine.score(x, z, lam)
    assert torch.allclose(dec.kl, ref.kl) and torch.allclose(dec.terms.nll, ref.terms.nll)


# -- SEQ-IODINE -----------------------------------------------------------------------------------

def test_seq_iodine_refines_once_per_new_frame_within_the_clamp(monkeypatch):
    torch.manual_seed(0)
    model = Iodine(iodine_cfg(), SIZE)
    deltas = []
    orig = model.refine

    def refine_(x, dec, lam, state, keep_graph, grads=None, delta_clamp=None):
        new, st = orig(x, dec, lam, state, keep_graph, grads=grads, delta_clamp=delta_clamp)
        deltas.append(((new - lam).abs().max().item(), max(g.abs().max().item() for g in grads)))
        return new, st

    monkeypatch.setattr(model, "refine", refine_)
    x = video(2, 5)
    dec = seq_iodine(model, x, seeds(2, 5), clamp=1e-3)
    assert len(deltas) == (4 - 1) + (5 - 1)
    assert all(d <= 1e-3 + 1e-7 and g <= 1e-3 + 1e-7 for d, g in deltas)
    assert dec.masks.shape == (2, 5, 3, *SIZE) and dec.z.shape == (2, 5, 3, 8)
    # frame 0 is the trained inference: the same as IODINE on that frame with the same noise
    monkeypatch.undo()
    free = seq_iodine(model, x, seeds(2, 5), clamp=None)
    with torch.no_grad():
        first = model(x[:, 0], seeds(2, 5)[:, 0])
    assert torch.allclose(free.recon[:, 0], first.recon, atol=1e-5)


# -- length evaluation ----------------------------------------------------------------------------

class _Items(torch.utils.data.Dataset):
    def __init__(self, frames, masks):
        self.frames, self.masks = frames, masks

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        return {"frames": self.frames[i], "masks": self.masks[i], "video_index": i, "start": 0}


def test_length_table_scores_every_model_at_every_length(tmp_path):
    from perception.config import PerceptionConfig
    cfg_p = PerceptionConfig(model="provide", iodine=iodine_cfg())
    cfg_i = PerceptionConfig(model="iodine", iodine=iodine_cfg())
    torch.manual_seed(0)
    entries = [*entries_for(Iodine(iodine_cfg(), SIZE), cfg_i), *entries_for(provide(), cfg_p)]
    assert [e.label for e in entries] == ["IODINE", SEQ_IODINE, "PROVIDE"]
    frames = video(3, 6)
    masks = torch.randint(0, 3, (3, 6, *SIZE))
    result = evaluate_lengths(entries, _Items(frames, masks), [3, 6], Accelerator(cpu=True), batch_size=2)
    assert len(result.rows) == 3 * 3 * 2
    # a PROVIDE row is the pooled ARI of its own decomposition over the first L frames
    dec = entries[2].model.decompose(frames, torch.arange(3)[:, None] * 1000 + torch.arange(6))
    expected = segmentation_scores(masks[:, :3], dec.masks[:, :3].float())["ari_video"]
    got = result.rows.query("model == 'PROVIDE' and length == 3").sort_values("video_index").ari.to_numpy()
    assert np.allclose(got, expected.numpy(), atol=1e-6)
    t1 = table1(result)
    assert np.isnan(t1.loc["IODINE", ("ARI", 3)]) and not np.isnan(t1.loc["IODINE", ("ARI", 6)])
    assert not t1.loc["PROVIDE"].isna().any()
    write_lengths(result, tmp_path, "test", "test")
    for name in ("table1.md", "table1.csv", "per_frame.md", "rows.csv", "video_decomposition.png"):
        assert (tmp_path / name).is_file(), name
    assert isinstance(entries[1], Entry) and entries[1].sequential_iodine


# -- Bouncing Balls -------------------------------------------------------------------------------

def test_ball_collisions_conserve_momentum_and_energy_and_walls_reflect():
    pos = np.array([[20.0, 20.0], [20.0, 28.5]])  # 8.5 apart, radii sum 9
    vel = np.array([[0.0, 1.0], [0.0, -0.5]])
    radii = np.array([5.0, 4.0])
    mass = radii ** 2
    new_pos, new_vel = physics_step(pos, vel, radii, 64, 0.1)
    assert not np.allclose(new_vel, vel), "the balls overlap and approach: they must collide"
    assert np.allclose((mass[:, None] * new_vel).sum(0), (mass[:, None] * vel).sum(0))
    assert np.isclose((mass * (new_vel ** 2).sum(1)).sum(), (mass * (vel ** 2).sum(1)).sum())
    # a lone ball at the wall, moving out, turns back with the same speed
    p, v = physics_step(np.array([[2.0, 30.0]]), np.array([[-1.0, 0.5]]), np.array([4.0]), 64, 0.1)
    assert np.allclose(v, [[1.0, 0.5]])
    # a whole simulation keeps every centre inside the frame
    centres, r = simulate(np.random.default_rng(0), BallsConfig(frames=30, balls=[4, 4]), 4)
    assert centres.shape == (30, 4, 2) and ((centres >= 0) & (centres <= 64)).all()


def test_rendered_masks_are_the_discs_of_the_balls(tmp_path):
    from qa_data.balls.bouncing_balls import generate_split
    path = generate_split(tmp_path, "train", BallsConfig(videos=3, frames=6, balls=[2, 3], colour=True), False)
    with h5py.File(path, "r") as f:
        videos, masks, positions, radii = f["videos"][:], f["masks"][:], f["positions"][:], f["radii"][:]
    yy, xx = np.mgrid[0:64, 0:64] + 0.5
    for v in range(3):
        n = int(np.isfinite(radii[v]).sum())
        assert set(np.unique(masks[v])) <= set(range(n + 1))
        assert (videos[v][masks[v] == 0] == 0).all(), "background pixels are black"
        for t in range(6):
            for b in range(n):
                disc = (yy - positions[v, t, b, 0]) ** 2 + (xx - positions[v, t, b, 1]) ** 2 < radii[v, b] ** 2
                later = np.isin(masks[v, t], np.arange(b + 2, n + 1))  # later balls are drawn on top
                assert np.array_equal(masks[v, t] == b + 1, disc & ~later)
                colours = videos[v, t][masks[v, t] == b + 1]
                if len(colours):
                    assert (colours == colours[0]).all() and colours[0].any(), "one visible colour per ball"
    binary, ids = render(positions[0, :, :2], radii[0, :2], np.full((2, 3), 255, np.uint8), 64)
    assert set(np.unique(binary)) <= {0, 255} and np.array_equal(binary[..., 0] > 0, ids > 0)


def test_ball_clips_serve_frames_and_masks_like_clevrer_clips(tmp_path):
    from qa_data.balls.bouncing_balls import generate_split
    generate_split(tmp_path, "test_6to8", BallsConfig(videos=2, frames=10, balls=[6, 8]), False)
    ds = BallsClips(tmp_path, "test_6to8", ClipConfig(clip_len=3, stride=2, random_start=False, start_frame=1,
                                                       with_masks=True, expected_frames=10,
                                                       preprocess=PreprocessConfig(mode="resize", size=[32, 32])))
    item = ds[1]
    assert item["frames"].shape == (3, 3, 32, 32) and item["masks"].shape == (3, 32, 32)
    assert item["video_index"] == 1 and item["start"] == 1
    with h5py.File(tmp_path / "test_6to8.h5", "r") as f:
        raw = f["masks"][1, [1, 3, 5]]
    assert torch.equal(item["masks"], preprocess_masks(raw, PreprocessConfig(mode="resize", size=[32, 32])))
    assert 6 <= len(np.unique(raw)) - 1 <= 8
    with pytest.raises(Exception, match="expected 50"):
        BallsClips(tmp_path, "test_6to8", ClipConfig(clip_len=3, expected_frames=50))
    with pytest.raises(FileNotFoundError, match="no Bouncing Balls split"):
        BallsClips(tmp_path, "train", ClipConfig(clip_len=3, expected_frames=10))
