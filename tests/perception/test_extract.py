"""Slot extraction (perception.extract, scripts/extract_slots.py) and the slot cache reader
(qa_data.slots.slot_cache)."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from perception.config import PerceptionConfig
from perception.extract import CacheMismatch, ExtractConfig, extract, video_seeds
from perception.loaded_run import load_run
from perception.registry import build_model, feature_dims, slot_features
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.preprocess import preprocess_frames
from qa_data.clevrer.video_io import read_video, write_video
from qa_data.config import ConfigError, config_to_dict, load_config
from qa_data.errors import DataError
from qa_data.provenance import file_sha256
from qa_data.runtime.checkpoints import write_model_file
from qa_data.slots.slot_cache import (
    ATTRS,
    DONE,
    FORMAT_VERSION,
    PENDING,
    SKIPPED,
    CacheWriter,
    SlotFrames,
    SlotLayout,
    SlotSampling,
    create_cache,
    read_attrs,
)

REPO = Path(__file__).resolve().parents[2]
FAST = ["iodine.num_iters=2"]  # the tiny presets with fewer refinement steps: same features, less time


def make_run(root: Path, preset: str, seed: int = 0, overrides=()) -> Path:
    """A run directory holding one (untrained) checkpoint of `preset`."""
    cfg = load_config(PerceptionConfig, REPO / "configs" / "perception" / f"{preset}.yaml", [*FAST, *overrides])
    torch.manual_seed(seed)
    ckpt = root / "checkpoints" / "step_0000000"
    ckpt.mkdir(parents=True)
    write_model_file(build_model(cfg), cfg, ckpt / "model.pt", 0)
    return root


@pytest.fixture(scope="module")
def oddn_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("oddn_run"), "oddn_tiny")


def script_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def extract_cmd(run: Path, data: Path, out: Path, *extra: str, processes: int | None = None) -> list[str]:
    """The extraction command: plain python, or `accelerate launch` with `processes` processes (one
    thread each, accelerate's default)."""
    args = ["--run", str(run), "--data", str(data), "--out", str(out), "--split", "train", "--no-progress", *extra]
    script = str(REPO / "scripts" / "extract_slots.py")
    if processes is None:
        return [sys.executable, script, *args]
    multi = ["--multi_gpu"] if processes > 1 else []
    return [sys.executable, "-m", "accelerate.commands.launch", *multi, "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", script, *args]


def run_ok(cmd: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=REPO, env=script_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


# -- extraction ---------------------------------------------------------------------------------------


def test_one_and_two_processes_write_identical_files(oddn_run, sim_data, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    opts = ["--batch-size", "1", "--frame-stride", "16", "--precision", "no"]  # float32: compared with the model below
    run_ok(extract_cmd(oddn_run, sim_data, one, *opts, processes=1))
    done = run_ok(extract_cmd(oddn_run, sim_data, two, *opts, processes=2))
    assert "on 2 process(es)" in done.stdout  # a real process group, not two lone copies
    assert (one / "train.h5").read_bytes() == (two / "train.h5").read_bytes()

    # Complete, truthful attributes.
    attrs = read_attrs(one / "train.h5")
    assert set(ATTRS) <= set(attrs)
    loaded = load_run(oddn_run)
    videos = ClevrerLayout(sim_data).video_indices("train")
    assert attrs["model"] == "oddn" and attrs["model_label"] == "oddn"
    assert attrs["producer"] == "perception" and attrs["producer_id"] == file_sha256(loaded.path)
    info = json.loads(attrs["producer_info"])
    assert info["perception_config"] == json.loads(json.dumps(config_to_dict(loaded.cfg)))
    assert (attrs["d_static"], attrs["d_dyn"]) == feature_dims(loaded.model, loaded.cfg) == (16, 4)
    assert attrs["frame_stride"] == 16 and attrs["frames_per_video"] == 8 and attrs["source_frames"] == 128
    assert attrs["resolution"] == [32, 48] and attrs["num_slots"] == 7
    assert (attrs["video_index_first"], attrs["video_index_last"], attrs["num_videos"]) == (videos[0], videos[-1],
                                                                                            len(videos))
    assert json.loads(attrs["extraction"]) == {"frame_stride": 16, "batch_size": 1, "dtype": "float16",
                                               "precision": "no"}
    assert attrs["code_version"].startswith("0.1.0")

    # Rows sit at their video's position and hold that video's features.
    with h5py.File(one / "train.h5", "r") as f:
        assert f["video_index"][:].tolist() == videos
        assert (f["status"][:] == DONE).all()
        assert f["frame_index"][:].tolist() == list(range(0, 128, 16))
        rows = f["slots"][:]
    assert rows.shape == (len(videos), 8, 7, 20) and rows.dtype == np.float16
    clip = read_video(ClevrerLayout(sim_data).video_source("train", videos[2]))[::16]  # [8, 64, 96, 3]
    frames = preprocess_frames(clip, loaded.cfg.frames.preprocess)  # [8, 3, 32, 48]
    seeds = video_seeds(torch.tensor([videos[2]]), torch.arange(0, 128, 16), 128)
    direct = slot_features(loaded.model, loaded.cfg, frames[None], seeds)[0].numpy()
    np.testing.assert_allclose(rows[2].astype(np.float32), direct, atol=2e-2, rtol=1e-2)
    assert np.abs(rows[2].astype(np.float32) - rows[1]).max() > 0.05  # different videos, different rows


def test_killed_run_resumes_to_the_uninterrupted_file(oddn_run, sim_data, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    opts = ["--batch-size", "1", "--frame-stride", "8"]
    run_ok(extract_cmd(oddn_run, sim_data, whole, *opts))
    proc = subprocess.Popen(extract_cmd(oddn_run, sim_data, killed, *opts), cwd=REPO, env=script_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "round 1/" in line:
            proc.send_signal(signal.SIGKILL)  # no cleanup, no close: a crash
            break
    proc.wait(timeout=600)
    assert proc.returncode == -signal.SIGKILL
    with h5py.File(killed / "train.h5", "r") as f:  # still a valid file, partly done
        status = f["status"][:]
    n = len(status)
    assert 1 <= int((status == DONE).sum()) < n and (status == PENDING).any()
    done = run_ok(extract_cmd(oddn_run, sim_data, killed, *opts))
    assert f"{int((status == DONE).sum())} already done" in done.stdout
    assert f"{int((status == PENDING).sum())} videos extracted" in done.stdout  # only the missing ones
    assert (whole / "train.h5").read_bytes() == (killed / "train.h5").read_bytes()


def test_a_cache_from_another_checkpoint_or_setting_is_refused(oddn_run, sim_data, tmp_path):
    out = tmp_path / "slots"
    ecfg = ExtractConfig(batch_size=2, frame_stride=32, num_videos=2)
    extract(load_run(oddn_run), sim_data, out, ecfg, progress=False)
    before = (out / "train.h5").read_bytes()
    other = make_run(tmp_path / "other_run", "oddn_tiny", seed=1)
    with pytest.raises(CacheMismatch, match="producer_id") as err:
        extract(load_run(other), sim_data, out, ecfg, progress=False)
    assert "train.h5" in str(err.value)
    with pytest.raises(CacheMismatch, match="frame_stride"):
        extract(load_run(oddn_run), sim_data, out, ExtractConfig(batch_size=2, frame_stride=16, num_videos=2),
                progress=False)
    assert (out / "train.h5").read_bytes() == before  # nothing written
    again = extract(load_run(oddn_run), sim_data, out, ecfg, progress=False)  # same settings: nothing to do
    assert again.computed == 0 and again.already_done == 2


def test_corrupt_and_short_videos_are_counted_skips(oddn_run, sim_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(sim_data, data)
    layout = ClevrerLayout(data)
    videos = layout.video_indices("train")
    corrupt, short = videos[1], videos[2]
    layout.video_path("train", corrupt).write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    frames = read_video(layout.video_path("train", short))
    write_video(layout.video_path("train", short), frames[:40])
    out = tmp_path / "slots"
    result = extract(load_run(oddn_run), data, out, ExtractConfig(batch_size=2, frame_stride=32), progress=False)
    assert result.computed == len(videos) - 2
    reasons = dict(result.skipped)
    assert sorted(reasons) == [corrupt, short]
    assert f"video_{corrupt:05d}.mp4" in reasons[corrupt]
    assert "40 frames" in reasons[short] and f"video_{short:05d}.mp4" in reasons[short]
    with h5py.File(out / "train.h5", "r") as f:
        status = f["status"][:]
        rows = f["slots"][:]
        reason_col = [r.decode() for r in f["skip_reason"][:]]
    assert [int(s) for s in status] == [SKIPPED if v in reasons else DONE for v in videos]
    assert reason_col[1] == reasons[corrupt][:256]
    assert np.isnan(rows[1]).all() and np.isfinite(rows[0]).all()  # no half-written row
    reader = SlotFrames(out / "train.h5", SlotSampling(num_frames=4))
    assert reader.videos == [v for v in videos if v not in reasons]
    with pytest.raises(DataError, match="skipped"):
        reader.read(corrupt)
    # A rerun leaves them (nothing recomputed); --retry-skipped tries again and counts them again.
    assert extract(load_run(oddn_run), data, out, ExtractConfig(batch_size=2, frame_stride=32),
                   progress=False).computed == 0
    retry = extract(load_run(oddn_run), data, out, ExtractConfig(batch_size=2, frame_stride=32, retry_skipped=True),
                    progress=False)
    assert sorted(dict(retry.skipped)) == [corrupt, short]


@pytest.mark.parametrize("preset", ["iodine_tiny", "oddn_tiny", "provide_tiny"])
def test_every_perception_model_extracts(preset, sim_data, tmp_path):
    loaded = load_run(make_run(tmp_path / "run", preset))
    result = extract(loaded, sim_data, tmp_path / "slots", ExtractConfig(batch_size=2, frame_stride=32, num_videos=2,
                                                                         dtype="float32", precision="no"),
                     progress=False)  # float32, to compare with the model's own features below
    assert result.computed == 2 and not result.skipped
    d_static, d_dyn = feature_dims(loaded.model, loaded.cfg)
    reader = SlotFrames(tmp_path / "slots" / "train.h5", SlotSampling(num_frames=4))
    item = reader[1]
    assert item["slots"].shape == (4, loaded.cfg.iodine.num_slots, d_static + d_dyn)
    assert torch.isfinite(item["slots"]).all()
    assert item["frame_index"].tolist() == [0, 32, 64, 96]
    # The stored rows are the model's features of those videos (weights frozen during extraction or not).
    fresh = load_run(tmp_path / "run")
    assert all(p.requires_grad for p in fresh.model.parameters())
    layout, videos = ClevrerLayout(sim_data), reader.videos
    clips = torch.stack([preprocess_frames(read_video(layout.video_source("train", v))[::32],
                                           fresh.cfg.frames.preprocess)
                         for v in videos])  # [2, 4, 3, 32, 48]
    direct = slot_features(fresh.model, fresh.cfg, clips,
                           video_seeds(torch.tensor(videos), torch.arange(0, 128, 32), 128))
    stored = torch.stack([torch.from_numpy(reader.read(v)) for v in videos])
    torch.testing.assert_close(stored, direct, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("preset", ["oddn_tiny", "provide_tiny", "iodine_tiny"])
def test_rollout_frames_are_the_models_own_prediction(preset, sim_data, tmp_path):
    """`--rollout N`: after the observed frames, N frames of the model's own `predict` call from the same
    frames, marked predicted; N is part of the producer; a model without a predictor is refused."""
    run = make_run(tmp_path / "run", preset, overrides=["frames.frame_stride=32"])
    loaded = load_run(run)
    ecfg = dict(batch_size=2, num_videos=2, dtype="float32", precision="no")
    if preset == "iodine_tiny":
        with pytest.raises(ConfigError, match="image model with no predictor"):
            extract(loaded, sim_data, tmp_path / "slots", ExtractConfig(rollout=2, **ecfg), progress=False)
        assert not (tmp_path / "slots" / "train.h5").exists()
        return
    with pytest.raises(ConfigError, match="needs the model's training stride"):
        extract(loaded, sim_data, tmp_path / "slots", ExtractConfig(rollout=2, frame_stride=16, **ecfg),
                progress=False)
    plain_result = extract(loaded, sim_data, tmp_path / "plain", ExtractConfig(**ecfg), progress=False)
    result = extract(loaded, sim_data, tmp_path / "slots", ExtractConfig(rollout=2, **ecfg), progress=False)
    plain = SlotFrames(tmp_path / "plain" / "train.h5", SlotSampling(num_frames=4))
    cache = SlotFrames(tmp_path / "slots" / "train.h5", SlotSampling(num_frames=4))
    # the layout extraction returns is the one the file carries and its reader sees
    d_static, d_dyn = feature_dims(loaded.model, loaded.cfg)
    assert result.layout == SlotLayout.read(cache.path) == cache.layout == SlotLayout(
        d_static, d_dyn, loaded.cfg.iodine.num_slots, 32, 6, 4)
    assert result.layout.predicted_frames == 2 and plain_result.layout.predicted_frames == 0
    assert "observed_frames" not in plain.attrs and plain_result.layout == SlotLayout.read(plain.path)
    assert cache.read(cache.videos[0]).shape == (6, result.layout.num_slots, result.layout.dim)
    assert cache.frame_index.tolist() == [0, 32, 64, 96, 128, 160]
    assert cache.predicted.tolist() == [False] * 4 + [True] * 2 and cache.attrs["observed_frames"] == 4
    assert cache.attrs["model_label"].endswith("+rollout") and json.loads(cache.attrs["extraction"])["rollout"] == 2
    assert cache.attrs["producer_id"] != plain.attrs["producer_id"]
    fresh = load_run(run)
    layout, videos = ClevrerLayout(sim_data), cache.videos
    clips = torch.stack([preprocess_frames(read_video(layout.video_source("train", v))[::32],
                                           fresh.cfg.frames.preprocess) for v in videos])  # [2, 4, 3, 32, 48]
    seeds = video_seeds(torch.tensor(videos), torch.arange(0, 128, 32), 128)
    stored = torch.stack([torch.from_numpy(cache.read(v)) for v in videos])  # [2, 6, K, D]
    d_static = feature_dims(fresh.model, fresh.cfg)[0]
    predicted = fresh.model.predict(clips, 2, seeds).z  # [2, 6, K, d_static]: the model's own rollout
    torch.testing.assert_close(stored[..., :d_static], predicted, atol=1e-5, rtol=1e-5)
    if preset == "oddn_tiny":  # a predicted frame's dynamics are those of the predicted latents (eq. 9)
        dyn = fresh.model.dynamics(predicted)  # [2, 6, K, l]; frame n's from frames n-1, n
        torch.testing.assert_close(stored[:, 1:, :, d_static:], dyn[:, 1:], atol=1e-5, rtol=1e-5)
    # the observed frames are exactly the cache without a rollout
    torch.testing.assert_close(stored[:, :4], torch.stack([torch.from_numpy(plain.read(v)) for v in videos]),
                               atol=1e-5, rtol=1e-5)
    assert np.isfinite(stored.numpy()).all()


def test_inspect_slots_prints_attributes_and_status(oddn_run, sim_data, tmp_path):
    extract(load_run(oddn_run), sim_data, tmp_path, ExtractConfig(batch_size=2, frame_stride=32, num_videos=3),
            progress=False)
    done = run_ok([sys.executable, str(REPO / "scripts" / "inspect_slots.py"), str(tmp_path / "train.h5")])
    for text in ("producer_id", "d_dyn", "oddn", "videos done", "| 3 ", "dynamics", "[3, 4, 7, 20]"):
        assert text in done.stdout, text
    bad = subprocess.run([sys.executable, str(REPO / "scripts" / "inspect_slots.py"), str(tmp_path / "nope.h5")],
                         cwd=REPO, env=script_env(), capture_output=True, text=True)
    assert bad.returncode != 0 and "nope.h5" in bad.stderr


# -- reading ------------------------------------------------------------------------------------------


@pytest.fixture
def synthetic_cache(tmp_path) -> Path:
    """10 videos x 128 frames x 3 slots x (5 static + 2 dynamics); value = video*10000 + frame*10 + dim;
    video 109 skipped."""
    path = tmp_path / "train.h5"
    attrs = {k: 0 for k in ATTRS}
    attrs.update(format="odr-slot-cache", format_version=FORMAT_VERSION, model="oddn", d_static=5, d_dyn=2, num_slots=3,
                 frames_per_video=128, frame_stride=1, resolution=[32, 48], producer_info="{}", extraction="{}",
                 num_videos=10, video_index_first=100, video_index_last=109, source_frames=128)
    videos = list(range(100, 110))
    create_cache(path, attrs, videos, list(range(128)), 3, 7, "float32")
    writer = CacheWriter(path)
    for v in videos[:-1]:
        value = v * 10000 + np.arange(128)[:, None, None] * 10 + np.arange(7)[None, None, :]
        writer.write(v, np.broadcast_to(value, (128, 3, 7)).astype(np.float32))
    writer.skip(109, "test skip")
    writer.close()
    return path


def test_reader_serves_the_requested_frames_and_dims(synthetic_cache):
    ev = SlotFrames(synthetic_cache, SlotSampling(num_frames=25))  # ALOE: 25 of 128 frames, stride 5
    assert len(ev) == 9 and ev.skipped == {109: ("skipped", "test skip")}
    item = ev[2]
    assert item["video_index"] == 102 and item["slots"].shape == (25, 3, 7) and item["slots"].dtype == torch.float32
    assert item["frame_index"].tolist() == list(range(0, 121, 5))
    expected = 102 * 10000 + np.arange(0, 121, 5)[:, None, None] * 10 + np.arange(7)
    np.testing.assert_array_equal(item["slots"].numpy(), np.broadcast_to(expected, (25, 3, 7)))
    assert torch.equal(ev[2]["slots"], item["slots"])  # evaluation is deterministic
    assert SlotFrames(synthetic_cache, SlotSampling(num_frames=25, start=3))[0]["frame_index"][0] == 3
    assert SlotFrames(synthetic_cache, SlotSampling(num_frames=25, start=50))[0]["frame_index"][0] == 7  # clipped

    static = SlotFrames(synthetic_cache, SlotSampling(num_frames=8, drop_dynamics=True))
    assert static[2]["slots"].shape == (8, 3, 5)
    torch.testing.assert_close(static[2]["slots"],
                               SlotFrames(synthetic_cache, SlotSampling(num_frames=8))[2]["slots"][..., :5])
    with pytest.raises(ValueError, match="cannot sample 129 frames"):
        SlotFrames(synthetic_cache, SlotSampling(num_frames=129))
    with pytest.raises(DataError, match="not in this cache"):
        SlotFrames(synthetic_cache, videos=[100, 7])
    assert SlotFrames(synthetic_cache, videos=[103, 109, 101]).videos == [103, 101]


def test_the_slot_layout_carries_dims_and_frames_both_ways():
    """The layout's attributes read back to the same layout; a cache of observed frames gets no `observed_frames`
    attribute (as before the layout existed); a producer key gives the slot's part without frames."""
    rollout = SlotLayout(d_static=16, d_dyn=4, num_slots=7, frame_stride=4, frames_per_video=40, observed_frames=32)
    assert SlotLayout.of(rollout.attrs()) == rollout and rollout.attrs()["observed_frames"] == 32
    assert (rollout.dim, rollout.served_dim(static_only=True), rollout.predicted_frames) == (20, 16, 8)
    observed = SlotLayout(16, 0, 7, 4, 32, 32)
    assert "observed_frames" not in observed.attrs() and SlotLayout.of(observed.attrs()) == observed
    key = {"producer": "perception", "producer_id": "x", "model_label": "oddn", "d_static": 16, "d_dyn": 4,
           "num_slots": 7}
    assert SlotLayout.of(key) == SlotLayout(16, 4, 7) and SlotLayout.of(key).served_dim() == 20
    with pytest.raises(ValueError, match="needs its frames"):
        SlotLayout(16, 4, 7).attrs()


@pytest.mark.parametrize("value", ["four", 3.5, 0, 129])
def test_a_bad_observed_frames_attribute_is_a_data_error(synthetic_cache, value):
    """The attribute the layout reads is checked first: a text, a fraction or a count outside [1, T] is named in a
    DataError, not a ValueError from the layout or a silently truncated count."""
    with h5py.File(synthetic_cache, "a") as f:
        f.attrs["observed_frames"] = value
    with pytest.raises(DataError, match="observed_frames must be an integer"):
        read_attrs(synthetic_cache)


def test_reader_random_start_covers_every_valid_start(synthetic_cache):
    train = SlotFrames(synthetic_cache, SlotSampling(num_frames=25, random_start=True))
    assert train.stride == 5 and train.last_start == 7  # SlotFormer's start in [0, 8)
    torch.manual_seed(0)
    items = [train[0] for _ in range(300)]
    assert {int(i["frame_index"][0]) for i in items} == set(range(8))
    for i in items[:20]:
        assert (np.diff(i["frame_index"].numpy()) == 5).all()
        np.testing.assert_array_equal(i["slots"][:, 0, 0].numpy(), 100 * 10000 + i["frame_index"].numpy() * 10)


def test_reader_opens_the_file_lazily_in_each_worker(synthetic_cache):
    ds = SlotFrames(synthetic_cache, SlotSampling(num_frames=4))
    assert ds._file is None  # nothing held open after __init__
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._file is None and torch.equal(clone[3]["slots"], ds[3]["slots"])
    loader = DataLoader(SlotFrames(synthetic_cache, SlotSampling(num_frames=4)), batch_size=3, num_workers=2)
    batches = list(loader)
    assert [int(v) for b in batches for v in b["video_index"]] == list(range(100, 109))
    assert batches[0]["slots"].shape == (3, 4, 3, 7)


def test_auto_precision_is_bf16_on_gpus_and_on_cpus_with_bf16_matrix_units(monkeypatch):
    from perception import extract as ex
    assert ex.resolve_precision("auto", torch.device("cuda")) == "bf16"
    # the CPU's bf16 units, whatever this machine has: AMX, AVX512-BF16, both or neither
    for amx, avx512_bf16, expected in ((True, False, "bf16"), (False, True, "bf16"), (True, True, "bf16"),
                                       (False, False, "no")):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
        assert ex.resolve_precision("auto", torch.device("cpu")) == expected, (amx, avx512_bf16)
    assert ex.resolve_precision("no", torch.device("cuda")) == "no"  # an explicit choice stands


def test_a_cache_that_fails_while_written_leaves_no_file(tmp_path, monkeypatch):
    """A cache is written under a temporary name and renamed when complete: a failure (here Ctrl-C) while it is
    written leaves neither the cache nor its temporary file."""
    import qa_data.slots.slot_cache as slot_cache

    attrs = {k: 0 for k in ATTRS}
    attrs.update(format="odr-slot-cache", format_version=FORMAT_VERSION, model="oddn", d_static=5, d_dyn=2,
                 num_slots=3, frames_per_video=8, frame_stride=1, resolution=[32, 48], producer_info="{}",
                 extraction="{}", num_videos=2, video_index_first=0, video_index_last=1, source_frames=128)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(slot_cache, "check_shapes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        create_cache(tmp_path / "train.h5", attrs, [0, 1], list(range(8)), 3, 7, "float32")
    assert list(tmp_path.iterdir()) == []
