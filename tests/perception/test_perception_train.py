"""The perception training/evaluation pipeline: frame store, resume, non-finite stop, 2 processes, presets."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import perception.train as train_module
from perception.config import FramesConfig, PerceptionConfig
from perception.frames import StepBatchSampler, StoreFrames, build_frame_store
from perception.train import train
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.preprocess import PreprocessConfig
from qa_data.config import ConfigError, load_config
from qa_data.runtime.checkpoints import list_checkpoints, load_model_file
from qa_data.runtime.guards import NonFiniteLoss

REPO = Path(__file__).resolve().parents[2]
# Sizes only: the same model and loop as the presets.
SMALL = ["iodine.num_slots=3", "iodine.latent_dim=8", "iodine.num_iters=2", "iodine.decoder_channels=[8,8]",
         "iodine.refine_channels=[8,8]", "iodine.refine_mlp=[16]", "iodine.refine_hidden=16",
         "frames.preprocess.size=[16,24]", "frames.frame_stride=8", "train.batch_size=4", "train.log_every=1",
         "train.figure_every=0", "eval.num_videos=2", "eval.frames_per_video=2", "eval.frame_gap=32",
         "eval.batch_size=1", "eval.split=train"]


def small_cfg(*extra: str) -> PerceptionConfig:
    return load_config(PerceptionConfig, REPO / "configs/perception/iodine_tiny.yaml", SMALL + list(extra))


def logged_losses(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    return {r["step"]: r["train/loss"] for r in rows}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("frame_cache")


def test_frame_store_holds_the_preprocessed_frames(sim_data, tmp_path):
    cfg = FramesConfig(preprocess=PreprocessConfig(mode="resize", size=[16, 24]), frame_stride=8)
    path = build_frame_store(sim_data, "train", cfg, tmp_path, show_progress=False)
    layout = ClevrerLayout(sim_data)
    with h5py.File(path, "r") as f:
        assert f["frames"].shape == (4, 16, 16, 24, 3) and f["frames"].dtype == np.uint8
        assert f["video_index"][:].tolist() == layout.video_indices("train")
    mtime = path.stat().st_mtime_ns
    assert build_frame_store(sim_data, "train", cfg, tmp_path, show_progress=False) == path
    assert path.stat().st_mtime_ns == mtime  # up to date: kept
    clip = StoreFrames(path, clip_len=2)[(1, 3)]
    assert clip.shape == (2, 3, 16, 24) and 0 <= clip.min() and clip.max() <= 1


def test_batches_depend_only_on_seed_and_step_and_shard_over_processes():
    one = StepBatchSampler(10, 32, 1, 8, seed=3, start_step=0, total_steps=5)
    resumed = StepBatchSampler(10, 32, 1, 8, seed=3, start_step=2, total_steps=5)
    assert list(one)[2:] == list(resumed)
    halves = [StepBatchSampler(10, 32, 1, 8, 3, 0, 5, rank=r, world=2) for r in range(2)]
    for step in range(5):
        shards = [h.batch(step) for h in halves]
        assert sorted(shards[0] + shards[1]) == sorted(one.batch(step))
    assert StepBatchSampler(10, 32, 1, 8, seed=4, start_step=0, total_steps=1).batch(0) != one.batch(0)
    with pytest.raises(ValueError, match="divisible"):
        StepBatchSampler(10, 32, 1, 6, 3, 0, 5, rank=0, world=4)


def test_resumed_run_repeats_the_uninterrupted_losses(sim_data, tmp_path, cache):
    # an evaluation at every checkpoint (as the presets do) must not move the random streams of the training after it
    common = [f"frames.cache_dir={cache}", "train.checkpoint_every=2", "train.eval_every=2", "train.keep_checkpoints=2"]
    full = train(small_cfg("train.steps=4", *common), sim_data, tmp_path / "full")
    part = tmp_path / "part"
    train(small_cfg("train.steps=2", *common), sim_data, part)  # "interrupted" after step 2
    resumed = train(small_cfg("train.steps=4", *common), sim_data, part)
    assert resumed.step == full.step == 4
    a, b = logged_losses(tmp_path / "full"), logged_losses(part)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    assert a == b  # identical, step for step
    assert [p.name for p in list_checkpoints(part / "checkpoints")] == ["step_0000002", "step_0000004"]
    torch.testing.assert_close(load_model_file(full.checkpoint)["model"], load_model_file(resumed.checkpoint)["model"])
    for f in ("metrics.md", "metrics.csv", "frames.csv", "videos.csv", "decomposition.png", "config.yaml"):
        assert (resumed.eval_dir / f).is_file(), f
    assert (part / "eval_curve.csv").is_file() and (part / "tensorboard").is_dir()
    # wall time continues across the resume: the curve's seconds at step 4 include the first session's
    first = json.loads((part / "checkpoints" / "step_0000002" / "train_time.json").read_text())["seconds"]
    curve = pd.read_csv(part / "eval_curve.csv").set_index("step")
    assert curve.loc[2, "train_seconds"] <= curve.loc[4, "train_seconds"]
    assert resumed.seconds > first and curve.loc[4, "train_seconds"] == pytest.approx(resumed.seconds, abs=0.1)


def test_a_run_directory_refuses_another_model(sim_data, tmp_path, cache):
    train(small_cfg("train.steps=1", f"frames.cache_dir={cache}"), sim_data, tmp_path / "run")
    with pytest.raises(ConfigError, match="different `iodine` section"):
        train(small_cfg("train.steps=2", "iodine.latent_dim=4", f"frames.cache_dir={cache}"), sim_data,
              tmp_path / "run")


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(sim_data, tmp_path, cache, monkeypatch):
    real = train_module.training_forward
    calls = {"n": 0}

    def poisoned(model, cfg, clips):
        out = real(model, cfg, clips)
        calls["n"] += 1
        if calls["n"] == 3:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(train_module, "training_forward", poisoned)
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLoss, match="step 3.*step_0000002"):
        train(small_cfg("train.steps=6", "train.checkpoint_every=2", f"frames.cache_dir={cache}"), sim_data, run)
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step_0000002"]
    weights = load_model_file(run / "checkpoints" / "step_0000002")["model"]
    assert all(torch.isfinite(v).all() for v in weights.values())
    assert not list((run / "checkpoints").glob(".tmp*"))


@pytest.mark.parametrize("preset", sorted(p.name for p in (REPO / "configs/perception").glob("*.yaml")))
def test_every_perception_config_runs_one_training_step(preset, sim_data, balls_data, tmp_path, cache):
    h, w = load_config(PerceptionConfig, REPO / "configs/perception" / preset).frames.preprocess.size
    # the paper presets' frames halved: the same model and preprocessing, a quarter of the pixels
    smaller = [f"frames.preprocess.size=[{h // 2},{w // 2}]"] if max(h, w) > 48 else []
    cfg = load_config(PerceptionConfig, REPO / "configs/perception" / preset, [
        *smaller, "train.steps=1", "train.batch_size=2", "frames.num_workers=0", f"frames.cache_dir={cache}",
        "eval.num_videos=1", "eval.frames_per_video=2", "eval.frame_gap=32", "eval.batch_size=1",
        "eval.predict_context=2", "eval.predict_steps=2", "eval.split=validation"])
    data = balls_data if cfg.frames.dataset == "bouncing_balls" else sim_data
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state(True)  # presets differ in mixed precision (the *_cpu ones train in bf16)
    try:
        result = train(cfg, data, tmp_path / "run")
    finally:
        AcceleratorState._reset_state(True)
    assert result.step == 1 and result.metrics is not None
    assert np.isfinite(result.metrics["mean"]).all()


def test_two_processes_train_and_match_the_one_process_evaluation(sim_data, tmp_path, cache):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["--config", str(REPO / "configs/perception/iodine_tiny.yaml"), "--data", str(sim_data), "--out", str(run),
            *SMALL, "train.steps=2", f"frames.cache_dir={cache}", "eval.num_videos=3",
            "train.mixed_precision=no"]  # float32 on every CPU kind: `auto` is bf16 where the CPU has bf16 units
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              str(REPO / "scripts/train_perception.py"), *args]
    done = subprocess.run(launch, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    two = run / "eval" / "train_step_2"
    two_frames, two_metrics = pd.read_csv(two / "frames.csv"), pd.read_csv(two / "metrics.csv")
    assert sorted(two_frames.video_index.unique()) == ClevrerLayout(sim_data).video_indices("train")[:3]
    for f in two.iterdir():
        f.unlink()
    one = subprocess.run([sys.executable, str(REPO / "scripts/eval_perception.py"), "--run", str(run), "--data",
                          str(sim_data), "--split", "train", "eval.num_videos=3"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    pd.testing.assert_frame_equal(pd.read_csv(two / "frames.csv"), two_frames, rtol=1e-6)
    pd.testing.assert_frame_equal(pd.read_csv(two / "metrics.csv"), two_metrics, rtol=1e-6)


def test_mixed_precision_bf16_trains_one_step(sim_data, tmp_path, cache):
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state(True)  # this process's earlier runs fixed mixed precision to "no"
    try:
        result = train(small_cfg("train.steps=1", "train.mixed_precision=bf16", f"frames.cache_dir={cache}"),
                       sim_data, tmp_path / "run")
        assert result.step == 1 and np.isfinite(result.metrics["mean"]).all()
        assert np.isfinite(logged_losses(tmp_path / "run")[1])
    finally:
        AcceleratorState._reset_state(True)


@pytest.mark.parametrize("script", ["train_perception", "extract_slots"])
def test_pixel_commands_refuse_no_render_data(no_render, tmp_path, script):
    from perception.cli import extract_main, train_main

    if script == "train_perception":
        argv = ["--config", str(REPO / "configs/perception/iodine_tiny.yaml"), "--data", str(no_render),
                "--out", str(tmp_path / "run"), "train.steps=1"]
        main = train_main
    else:
        from perception.config import PerceptionConfig
        from perception.registry import build_model
        from qa_data.runtime.checkpoints import write_model_file

        cfg = load_config(PerceptionConfig, REPO / "configs/perception/iodine_tiny.yaml", [])
        (tmp_path / "run/checkpoints/step_0000000").mkdir(parents=True)
        write_model_file(build_model(cfg), cfg, tmp_path / "run/checkpoints/step_0000000/model.pt", 0)
        argv = ["--run", str(tmp_path / "run"), "--data", str(no_render), "--out", str(tmp_path / "slots")]
        main = extract_main
    with pytest.raises(SystemExit, match="generated with --no-render") as err:
        main(argv)
    assert str(no_render) in str(err.value)


# -- the QA stage on states -------------------------------------------------------------------------
