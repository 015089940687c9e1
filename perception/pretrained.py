"""The small pretrained perception checkpoint the main job starts from (`make pretrain` makes it).

`export_pretrained` writes a run's checkpoint as one weights-only file (`model.pt`'s payload: weights,
resolved config, model name, step, plus where it came from); `install_pretrained` puts such a file into
a run directory as its only checkpoint, so evaluation and slot extraction read it like any trained run.
Loading goes through `qa_data.runtime.checkpoints.load_model_file` (weights-only: a file that carries code is
refused).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from perception.config import PerceptionConfig
from qa_data.config import config_from_dict, save_config
from qa_data.provenance import file_sha256
from qa_data.runtime.checkpoints import list_checkpoints, load_model_file
from qa_data.runtime.run_lock import holds_lock

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
DEMO_CHECKPOINT = PRETRAINED_DIR / "oddn_no_relation_cpu.pt"
MAX_BYTES = 10 * 1024 * 1024  # what the repository accepts for a committed checkpoint
# A fixed clip of the CPU-regime data (validation video 0 of `generate_data.py --preset cpu`, seed 1: 8 frames 16
# apart at 96x64, uint8, with instance ids) that every exported checkpoint is scored on; the score is recorded
# beside the checkpoint (`<checkpoint>.check.json`) and the tests check that the committed one reproduces it.
CHECK_CLIP = PRETRAINED_DIR / "check_clip.npz"


def check_record(checkpoint: Path) -> Path:
    """Where the recorded score of `checkpoint` on CHECK_CLIP lives."""
    return Path(checkpoint).with_suffix(".check.json")


def write_check_clip(data: Path, dest: Path = CHECK_CLIP, split: str = "validation", video: int = 0,
                     frames: int = 8, gap: int = 16) -> Path:
    """Stores `frames` frames `gap` apart of one video of a CLEVRER(-sim) dataset at full size, with their
    instance ids, as the fixed clip checkpoints are scored on."""
    import numpy as np

    from qa_data.clevrer.datasets import ClipConfig
    from qa_data.clevrer.layout import ClevrerLayout
    from qa_data.clevrer.preprocess import PreprocessConfig
    from qa_data.clevrer.video_io import read_video
    from qa_data.sources import open_clips, video_frames

    layout = ClevrerLayout(data)
    h, w = read_video(layout.video_source(split, layout.video_indices(split)[video]), max_frames=1).shape[1:3]
    ds = open_clips(data, split, ClipConfig(clip_len=frames, stride=gap, random_start=False, start_frame=0,
                                            with_masks=True, expected_frames=video_frames(data, split, "clevrer"),
                                            preprocess=PreprocessConfig(mode="resize", size=[h, w])), "clevrer")
    item = ds[video]
    pixels = (item["frames"].permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()  # [T, H, W, 3]
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest, frames=pixels, masks=item["masks"].numpy().astype(np.uint8))
    return dest


def score_on_clip(checkpoint: Path, clip: Path = CHECK_CLIP) -> dict:
    """FG-ARI and MSE per frame (means) of a checkpoint's decomposition of the fixed clip, each frame's latent
    noise seeded by its index."""
    import numpy as np

    from perception.loaded_run import load_run
    from perception.metrics import reconstruction_mse, segmentation_scores
    from perception.registry import decompose
    from qa_data.clevrer.preprocess import preprocess_frames, preprocess_masks

    loaded = load_run(Path(checkpoint).parent, Path(checkpoint))
    with np.load(clip, allow_pickle=False) as f:
        pixels, ids = f["frames"], f["masks"]
    prep = loaded.cfg.frames.preprocess
    video = preprocess_frames(pixels, prep)[None]  # [1, T, 3, h, w]
    true_ids = preprocess_masks(ids, prep)[None]  # [1, T, h, w]
    seeds = torch.arange(video.shape[1])[None]
    dec = decompose(loaded.model, loaded.cfg, video, seeds)
    scores = segmentation_scores(true_ids, dec.masks)
    fg = scores["fg_frame_has_points"]
    return {"clip": Path(clip).name, "step": loaded.step,
            "fg_ari_per_frame": round(float(scores["fg_ari_frame"][fg].mean()), 6),
            "mse_per_frame": round(float(reconstruction_mse(video, dec.recon).mean()), 8)}


def record_check(checkpoint: Path, clip: Path = CHECK_CLIP) -> Path:
    """Scores `checkpoint` on the fixed clip and records the score beside it."""
    import json

    path = check_record(checkpoint)
    path.write_text(json.dumps(score_on_clip(checkpoint, clip), indent=1) + "\n")
    return path


def export_pretrained(run: Path, dest: Path = DEMO_CHECKPOINT, note: str = "") -> Path:
    """Writes the newest checkpoint of `run` as a weights-only file at `dest` (float32 weights)."""
    found = list_checkpoints(Path(run) / "checkpoints")
    if not found:
        raise FileNotFoundError(f"{run}/checkpoints: no complete checkpoint to export")
    payload = load_model_file(found[-1], stage="perception")
    out = {k: payload[k] for k in ("model", "config", "model_name", "step", "geco") if k in payload}
    out["config"]["frames"]["cache_dir"] = ""  # a path of the machine it was trained on
    out["source"] = {"run": Path(run).name, "checkpoint": found[-1].name, "note": note}
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    torch.save(out, tmp)
    if tmp.stat().st_size > MAX_BYTES:
        tmp.unlink()
        raise ValueError(f"{dest}: the checkpoint would be over {MAX_BYTES >> 20} MB; not written")
    tmp.replace(dest)
    return dest


def install_pretrained(file: Path, run: Path,
                       overrides: list[str] | tuple[str, ...] = ()) -> tuple[PerceptionConfig, int]:
    """Makes `run` a run directory whose only checkpoint is `file`; returns its config (with `overrides`
    applied to the eval section only) and step. An existing identical install is kept."""
    payload = load_model_file(file, stage="perception")
    step = int(payload["step"])
    bad = [o for o in overrides if not o.startswith("eval.")]
    if bad:
        raise ValueError(f"only eval.* settings of a pretrained model can be changed, got {bad}")
    cfg = config_from_dict(PerceptionConfig, payload["config"], list(overrides), source=str(file))
    ckpt = Path(run) / "checkpoints" / f"step_{step:07d}"
    target = ckpt / "model.pt"
    if not (target.is_file() and file_sha256(target) == file_sha256(file)):
        ckpt.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target.with_suffix(".tmp"))
        target.with_suffix(".tmp").replace(target)
    save_config(cfg, Path(run) / "config.yaml")
    return cfg, step


@holds_lock("out")
def pretrain(out: Path, config: Path, data_preset: str = "cpu", workers: int = 2, dest: Path = DEMO_CHECKPOINT,
             overrides: list[str] | tuple[str, ...] = ()) -> Path:
    """`make pretrain`: generates the CPU-regime data (videos only) into OUT/data, trains `config` on it into
    OUT/<model> (both resume), and exports the result to `dest`."""
    from perception.train import train
    from qa_data.config import load_config
    from qa_data.sim.config import build_config
    from qa_data.sim.generate import generate_dataset

    out = Path(out)
    data = out / "data"
    generate_dataset(build_config(data_preset, None, None, []), data, workers=workers)  # raises on a failed video
    cfg = load_config(PerceptionConfig, config, [f"frames.cache_dir={out / 'cache'}", *overrides])
    run = out / Path(config).stem
    result = train(cfg, data, run)
    path = export_pretrained(run, dest, note=f"{Path(config).name} on the `{data_preset}` data preset, "
                                             f"step {result.step}, {result.seconds / 60:.1f} training minutes")
    record_check(path)  # the score on the fixed clip that the tests check the committed checkpoint against
    return path
