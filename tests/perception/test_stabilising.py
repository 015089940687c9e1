"""The stabilising choices of the perception seed study (issue 31) and the diagnostics every run logs: each does
what its config says, in the model and in the training loop."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from test_perception_train import SMALL as TRAIN_SMALL

import perception.train as train_module
from perception.config import PerceptionConfig
from perception.diagnostics import gradient_norms, latent_spread, mask_diagnostics
from perception.iodine import Iodine, set_training_step
from perception.learning_curves import diagnostic_table, final_table
from perception.likelihood import scheduled_variance
from perception.registry import build_model
from perception.train import train
from qa_data.config import load_config

REPO = Path(__file__).resolve().parents[2]
SMALL = [*TRAIN_SMALL, "train.batch_size=2", "eval.num_videos=1"]  # the training tests' sizes, lighter


def small_cfg(preset: str, *extra: str) -> PerceptionConfig:
    return load_config(PerceptionConfig, REPO / "configs/perception" / preset, SMALL + list(extra))


def test_the_variance_schedule_gives_the_configured_values():
    schedule = [[0, 0.3], [500, 0.3], [2000, 0.03]]
    assert scheduled_variance(schedule, 9.0, 0) == 0.3
    assert scheduled_variance(schedule, 9.0, 500) == 0.3
    assert scheduled_variance(schedule, 9.0, 1250) == pytest.approx(0.165)  # halfway down the ramp
    assert scheduled_variance(schedule, 9.0, 2000) == pytest.approx(0.03)
    assert scheduled_variance(schedule, 9.0, 10**6) == pytest.approx(0.03)
    assert scheduled_variance(schedule, 9.0, None) == pytest.approx(0.03)  # a trained model: the last value
    assert scheduled_variance([], 0.3, 1234) == 0.3  # no schedule: the fixed variance
    with pytest.raises(ValueError, match="increase"):
        scheduled_variance([[100, 0.3], [0, 0.1]], 0.3, 5)
    with pytest.raises(ValueError, match="variance > 0"):
        scheduled_variance([[0, 0.0]], 0.3, 5)
    with pytest.raises(ValueError, match="increase"):  # refused when the config is read, before any training
        small_cfg("iodine_tiny.yaml", "iodine.variance_schedule=[[100,0.3],[0,0.1]]")


def test_every_iodine_inside_a_model_follows_the_schedule_and_a_built_model_scores_with_its_last_value():
    for preset in ("iodine_tiny.yaml", "oddn_tiny.yaml", "provide_tiny.yaml"):
        cfg = small_cfg(preset, "iodine.variance_schedule=[[0,0.5],[10,0.1]]")
        model = build_model(cfg)
        inner = [m for m in model.modules() if isinstance(m, Iodine)]
        assert inner and all(m.likelihood.variance == pytest.approx(0.1) for m in inner), preset
        assert set_training_step(model, 5) == pytest.approx(0.3)
        assert all(m.likelihood.variance == pytest.approx(0.3) for m in inner), preset
    # the variance is what the likelihood uses: the NLL of a fixed decode changes with it as a Gaussian's does
    model = build_model(small_cfg("iodine_tiny.yaml", "iodine.variance_schedule=[[0,0.5],[10,0.1]]"))
    x, means = torch.rand(1, 3, 4, 4), torch.rand(1, 1, 3, 4, 4)
    log_masks = torch.zeros(1, 1, 1, 4, 4)
    nll = {}
    for step, var in ((0, 0.5), (10, 0.1)):
        set_training_step(model, step)
        nll[var] = float(model.likelihood(x, means, log_masks).nll)
        expected = float(0.5 * (((x - means[:, 0]) ** 2) / var + math.log(2 * math.pi * var)).sum())
        assert nll[var] == pytest.approx(expected, rel=1e-5)


def test_training_logs_the_scheduled_variance_and_the_diagnostics_and_uses_the_adam_betas(sim_data, tmp_path,
                                                                                          monkeypatch):
    betas = []
    real_adam = torch.optim.Adam

    def spy(params, **kw):
        betas.append(kw.get("betas"))
        return real_adam(params, **kw)

    monkeypatch.setattr(train_module.torch.optim, "Adam", spy)
    cfg = small_cfg("oddn_tiny.yaml", "train.steps=3", "iodine.variance_schedule=[[0,0.4],[2,0.2]]",
                    "train.adam_betas=[0.95,0.999]", f"frames.cache_dir={tmp_path / 'cache'}")
    train(cfg, sim_data, tmp_path / "run")
    assert betas == [(0.95, 0.999)]
    rows = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    # the variance used at steps 1, 2, 3 (0-based steps 0, 1, 2 of the schedule)
    assert [r["train/pixel_variance"] for r in rows] == pytest.approx([0.4, 0.3, 0.2])
    for r in rows:
        assert 1 <= r["diag/slots_used"] <= 3 and 1 / 3 - 1e-6 <= r["diag/largest_share"] <= 1
        assert 0 <= r["diag/mask_entropy"] <= math.log(3) + 1e-6
        parts = {k for k in r if k.startswith("diag/grad_")}
        assert {"diag/grad_decoder", "diag/grad_refiner", "diag/grad_distiller", "diag/grad_predictor"} <= parts
        # the parts' norms make up the global norm before clipping (clipped to train.grad_clip afterwards)
        assert math.sqrt(sum(r[k] ** 2 for k in parts)) == pytest.approx(r["train/grad_norm"], rel=1e-4)
    table = diagnostic_table({"run": tmp_path / "run"}, window=2)
    assert table.step.tolist() == [2, 4] and table["diag/slots_used"].notna().all()


def test_adam_betas_outside_0_1_are_refused():
    with pytest.raises(ValueError, match="adam_betas"):
        small_cfg("iodine_tiny.yaml", "train.adam_betas=[1.0,0.999]")


def test_mask_diagnostics_on_known_masks():
    masks = torch.zeros(2, 3, 10, 10)
    masks[0, 0] = 1.0  # image 0: slot 0 holds every pixel
    masks[1, :, :5] = torch.tensor([0.5, 0.5, 0.0])[:, None, None]  # image 1: top half split 50/50 over slots 0, 1
    masks[1, 2, 5:] = 1.0  # bottom half: slot 2
    d = mask_diagnostics(masks)
    assert float(d["diag/slots_used"]) == pytest.approx((1 + 3) / 2)
    assert float(d["diag/largest_share"]) == pytest.approx((1.0 + 0.5) / 2)
    assert float(d["diag/mask_entropy"]) == pytest.approx((0 + 0.5 * math.log(2)) / 2)
    same = torch.ones(4, 5, 8)
    assert float(latent_spread(same)) == 0.0  # identical slots
    assert float(latent_spread(torch.randn(4, 5, 8))) > 0.5


def test_gradient_norms_split_the_global_norm_by_part():
    model = build_model(small_cfg("iodine_tiny.yaml"))
    model(torch.rand(2, 3, 16, 24)).loss.backward()
    parts = gradient_norms(model)
    assert set(parts) == {"diag/grad_decoder", "diag/grad_lam0", "diag/grad_refiner"}
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
    assert math.sqrt(sum(v ** 2 for v in parts.values())) == pytest.approx(float(total), rel=1e-5)
    decoder = torch.cat([p.grad.flatten() for p in model.decoder.parameters()]).norm()
    assert parts["diag/grad_decoder"] == pytest.approx(float(decoder), rel=1e-5)


def test_final_table_counts_the_runs_over_the_threshold():
    import pandas as pd

    curves = pd.DataFrame([("a seed 0", 100, 1.0, 0.75, 0.001), ("a seed 1", 100, 1.0, 0.55, 0.002),
                           ("a seed 2", 100, 1.0, 0.71, 0.001)],
                          columns=["model", "step", "train_minutes", "FG-ARI (per frame)", "MSE (per frame)"])
    t = final_table(curves, threshold=0.7).set_index("run")
    assert t.loc["**a: mean [min, max] of 3 run(s)**", ">= 0.7"] == "2 of 3"


def test_the_seed_study_builds_one_command_per_candidate_and_seed(tmp_path):
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_seeds import command, parse_candidates

    c = parse_candidates(["dm=train.adam_betas=[0.95,0.999] train.lr=0.00035", "base="], ["oddn_no_relation"])
    assert c == {"oddn_no_relation": ["oddn.variant=oddn_no_relation"],
                 "dm": ["train.adam_betas=[0.95,0.999]", "train.lr=0.00035"], "base": []}
    with pytest.raises(SystemExit, match="NAME=key=value"):
        parse_candidates(["no equals sign"], None)
    cmd = command(REPO / "configs/perception/iodine_cpu.yaml", c["dm"], 2, 300, tmp_path / "data", None,
                  tmp_path / "dm_s2")
    assert cmd[-4:] == ["train.adam_betas=[0.95,0.999]", "train.lr=0.00035", "train.steps=300", "train.seed=2"]
    assert load_config(PerceptionConfig, cmd[cmd.index("--config") + 1], cmd[-4:]).train.adam_betas == [0.95, 0.999]


def test_slot_kl_is_sorted_and_zero_at_the_prior_and_the_decomposition_state_scores_the_models_masks():
    from perception.diagnostics import decomposition_state, slot_kl
    from perception.metrics import segmentation_scores

    lam = torch.zeros(2, 3, 8)  # mu 0, logvar 0: the prior
    lam[0, 1, :4] = 2.0  # one slot of image 0 far from it
    kl = slot_kl(lam)
    assert kl[0, 0] == pytest.approx(4 * 0.5 * 4.0) and float(kl[0, 1:].abs().max()) == 0.0
    assert float(kl[1].abs().max()) == 0.0
    torch.manual_seed(0)
    model = build_model(small_cfg("oddn_tiny.yaml"))
    frames, true_ids = torch.rand(3, 3, 16, 24), torch.randint(0, 3, (3, 16, 24))
    seeds = torch.arange(3)
    state = decomposition_state(model, frames, true_ids, seeds)
    out = model.iodine(frames, seeds)  # the same seeded inference
    expected = segmentation_scores(true_ids[:, None], out.masks[:, None])["fg_ari_frame"].mean()
    assert state["FG-ARI"] == pytest.approx(float(expected))
    assert [k for k in state if k.startswith("kl_slot")] == ["kl_slot_1", "kl_slot_2", "kl_slot_3"]
    assert state["kl_slot_1"] >= state["kl_slot_2"] >= state["kl_slot_3"] >= 0


def test_geco_raises_beta_while_the_reconstruction_misses_its_target_and_lowers_it_once_met():
    from perception.geco import Geco, GecoConfig

    g = Geco(GecoConfig(target_mse=0.002, rate=0.1, ema=0.5, beta_range=[1.0, 200.0]), beta=100.0)
    assert g.update(0.004) == pytest.approx(100.0 * math.exp(0.1 * 1.0))  # C = +1, the first value is the average
    assert g.c_ema == pytest.approx(1.0)
    g.update(0.001)  # C = -0.5: the average 0.25 still positive, beta still rises
    assert g.c_ema == pytest.approx(0.25) and g.beta > 110.0
    for _ in range(50):
        g.update(0.001)
    assert g.c_ema < 0 and g.beta < 100.0
    for _ in range(2000):
        g.update(0.0)
    assert g.beta == 1.0  # clamped to the range
    state = g.state_dict()
    h = Geco(g.cfg, 5.0)
    h.load_state_dict(state)
    assert h.update(0.003) == g.update(0.003)
    with pytest.raises(ValueError, match="beta_range"):
        GecoConfig(target_mse=0.1, beta_range=[0.0, 1.0])


def test_a_geco_run_moves_beta_in_the_loss_resumes_exactly_and_its_model_keeps_the_final_beta(sim_data, tmp_path):
    from perception.loaded_run import load_run
    from qa_data.runtime.checkpoints import load_model_file

    common = ["train.geco.target_mse=0.0001", "train.geco.rate=0.5", "train.geco.ema=0.0", "train.checkpoint_every=2",
              f"frames.cache_dir={tmp_path / 'cache'}"]
    full = train(small_cfg("iodine_tiny.yaml", "train.steps=4", *common), sim_data, tmp_path / "full")
    part = tmp_path / "part"
    train(small_cfg("iodine_tiny.yaml", "train.steps=2", *common), sim_data, part)
    train(small_cfg("iodine_tiny.yaml", "train.steps=4", *common), sim_data, part)

    def log(run):
        return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]

    a, b = log(tmp_path / "full"), log(part)
    assert [r["train/loss"] for r in a] == [r["train/loss"] for r in b]  # the multiplier resumed exactly
    betas = [r["train/beta"] for r in a]
    assert betas[0] > 100.0 and betas == sorted(betas)  # MSE far above the target: beta rises every step
    final = load_model_file(full.checkpoint)["geco"]["beta"]
    assert final == pytest.approx(betas[-1])
    assert load_run(tmp_path / "full").model.beta == pytest.approx(final)


def test_set_beta_is_the_nll_weight_of_every_iodine_inside_a_model():
    from perception.iodine import set_beta

    for preset in ("iodine_tiny.yaml", "oddn_tiny.yaml", "provide_tiny.yaml"):
        model = build_model(small_cfg(preset))
        set_beta(model, 7.0)
        assert [m.beta for m in model.modules() if isinstance(m, Iodine)] == [7.0], preset
    iodine = build_model(small_cfg("iodine_tiny.yaml"))
    x, z = torch.rand(2, 3, 16, 24), torch.randn(2, 3, 8)
    lam = torch.zeros(2, 3, 16)
    losses = {}
    for beta in (1.0, 3.0):
        set_beta(iodine, beta)
        dec = iodine.score(x, z, lam)
        losses[beta] = float(dec.loss.detach())
    assert losses[3.0] - losses[1.0] == pytest.approx(2.0 * float(dec.terms.nll.detach().mean()), rel=1e-5)


def test_the_seed_study_runs_its_commands_in_parallel_slots_and_reports_a_failure(tmp_path):
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_seeds import run_all

    ok = [([sys.executable, "-c", f"print('run {i}')"], tmp_path / f"logs/{i}.log") for i in range(3)]
    run_all(ok, jobs=2)
    assert [(tmp_path / f"logs/{i}.log").read_text() for i in range(3)] == ["run 0\n", "run 1\n", "run 2\n"]
    bad = [([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "bad.log")]
    with pytest.raises(SystemExit, match="exit 3.*bad.log"):
        run_all(bad + ok[:1], jobs=1)
