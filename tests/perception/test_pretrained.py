"""The pretrained perception checkpoint of the main job: export, install, safe loading."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from perception.config import PerceptionConfig
from perception.loaded_run import load_run
from perception.pretrained import MAX_BYTES, export_pretrained, install_pretrained
from perception.registry import build_model
from qa_data.config import load_config
from qa_data.runtime.checkpoints import load_model_file, write_model_file

REPO = Path(__file__).resolve().parents[2]


def trained_run(root, preset="oddn_tiny", step=7):
    cfg = load_config(PerceptionConfig, REPO / "configs" / "perception" / f"{preset}.yaml", [])
    torch.manual_seed(3)
    model = build_model(cfg)
    ckpt = root / "checkpoints" / f"step_{step:07d}"
    ckpt.mkdir(parents=True)
    write_model_file(model, cfg, ckpt / "model.pt", step)
    return model, cfg


def test_export_then_install_gives_a_run_with_the_same_model(tmp_path):
    model, cfg = trained_run(tmp_path / "run")
    dest = export_pretrained(tmp_path / "run", tmp_path / "pre" / "oddn.pt", note="test")
    assert dest.stat().st_size < MAX_BYTES
    payload = load_model_file(dest)
    assert payload["step"] == 7 and payload["source"]["note"] == "test"
    got_cfg, step = install_pretrained(dest, tmp_path / "demo" / "perception", ["eval.num_videos=3"])
    assert step == 7 and got_cfg.eval.num_videos == 3 and got_cfg.iodine == cfg.iodine
    loaded = load_run(tmp_path / "demo" / "perception")
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor), name
    assert (tmp_path / "demo" / "perception" / "config.yaml").is_file()
    install_pretrained(dest, tmp_path / "demo" / "perception")  # again: kept, no error
    with pytest.raises(ValueError, match="only eval"):
        install_pretrained(dest, tmp_path / "other", ["train.steps=3"])


def test_export_without_a_checkpoint_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        export_pretrained(tmp_path, tmp_path / "x.pt")


class _Payload:
    def __reduce__(self):  # would run code when unpickled
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_a_checkpoint_carrying_code_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "model.pt"
    torch.save({"model": {}, "config": {}, "model_name": "oddn", "step": 0, "x": _Payload()}, bad)
    with pytest.raises(ValueError, match="not a plain checkpoint"):
        load_model_file(bad)
    with pytest.raises(ValueError, match="not a plain checkpoint"):
        install_pretrained(bad, tmp_path / "run")
    assert not (tmp_path / "PWNED").exists()


def test_the_committed_demo_checkpoint_loads_weights_only_and_is_what_the_readme_says():
    from perception.pretrained import DEMO_CHECKPOINT
    from qa_data.config import config_from_dict

    assert DEMO_CHECKPOINT.stat().st_size <= MAX_BYTES
    payload = load_model_file(DEMO_CHECKPOINT, stage="perception")
    cfg = config_from_dict(PerceptionConfig, payload["config"], [], source=str(DEMO_CHECKPOINT))
    assert cfg.model == "oddn" and cfg.oddn.variant == "oddn_no_relation"
    assert payload["step"] == 5000 and cfg.frames.frame_stride == 4
    build_model(cfg).load_state_dict(payload["model"])  # every weight of the variant, nothing missing or extra


def test_the_committed_demo_checkpoint_reproduces_its_recorded_metric_on_the_fixed_clip():
    """perception/pretrained: the demo's checkpoint, decomposing the fixed CPU-regime clip it was recorded on (8
    frames, seeded noise), gives the FG-ARI and MSE recorded beside it when it was exported."""
    import json

    from perception.pretrained import CHECK_CLIP, DEMO_CHECKPOINT, check_record, score_on_clip

    recorded = json.loads(check_record(DEMO_CHECKPOINT).read_text())
    got = score_on_clip(DEMO_CHECKPOINT, CHECK_CLIP)
    assert got["step"] == recorded["step"] and got["clip"] == recorded["clip"] == CHECK_CLIP.name
    # float32 on another CPU kind may move a few pixels' argmax; a different model moves FG-ARI by far more
    assert got["fg_ari_per_frame"] == pytest.approx(recorded["fg_ari_per_frame"], abs=0.01)
    assert got["mse_per_frame"] == pytest.approx(recorded["mse_per_frame"], rel=0.02)
    assert recorded["fg_ari_per_frame"] > 0.6  # the clip is one the checkpoint decomposes (the demo's claim)


def test_record_check_scores_a_checkpoint_on_a_clip_and_writes_it_beside_it(tmp_path):
    import json

    import numpy as np

    from perception.pretrained import record_check, score_on_clip

    trained_run(tmp_path / "run")
    dest = export_pretrained(tmp_path / "run", tmp_path / "pre" / "m.pt")
    rng = np.random.default_rng(0)
    clip = tmp_path / "clip.npz"
    np.savez_compressed(clip, frames=rng.integers(0, 255, (3, 64, 96, 3), dtype=np.uint8),
                        masks=rng.integers(0, 3, (3, 64, 96), dtype=np.uint8))
    path = record_check(dest, clip)
    assert path == tmp_path / "pre" / "m.check.json"
    recorded = json.loads(path.read_text())
    assert recorded == score_on_clip(dest, clip) and recorded["step"] == 7  # seeded: the same score again
