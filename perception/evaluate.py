"""Evaluation of a perception model on a split: ARI / FG-ARI / MSE tables and a decomposition figure; a trained
run's whole evaluation (`evaluate_run`: these, and prediction for video models).

Videos are divided over processes (process r scores videos r, r + W, ...), every score is computed
on one video at a time from seeded inference, and rows are gathered and
sorted by video and frame, so any number of processes writes the same tables. Latent noise is
seeded per frame from (video index, frame index), so a frame's result does not depend on the
batch or process it was scored in.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from tqdm import tqdm

from perception.config import PerceptionConfig
from perception.figures import decomposition_figure
from perception.loaded_run import load_run
from perception.metrics import reconstruction_mse, segmentation_scores
from perception.prediction_eval import (
    evaluate_prediction,
    interpretability_figures,
    prediction_dataset,
    write_prediction,
)
from perception.registry import decompose, is_video_model, model_label
from qa_data.clevrer.datasets import ClipConfig
from qa_data.config import save_config
from qa_data.runtime.accelerator import make_accelerator
from qa_data.sources import open_clips, video_frames


def eval_dataset(root: Path, cfg: PerceptionConfig, split: str | None = None):
    """Validation-style clips: `frames_per_video` frames, `frame_gap` apart, from frame 0, with masks."""
    ev = cfg.eval
    split = split or ev.split
    ds = open_clips(root, split, ClipConfig(
        clip_len=ev.frames_per_video, stride=ev.frame_gap, random_start=False, start_frame=0, with_masks=True,
        expected_frames=video_frames(root, split, cfg.frames.dataset), skip_bad=cfg.frames.skip_bad,
        preprocess=cfg.frames.preprocess), cfg.frames.dataset)
    if ev.num_videos:
        ds.indices = ds.indices[:ev.num_videos]
    if not ds.indices:
        raise FileNotFoundError(f"{root}: no usable videos with masks in split {split!r}")
    return ds


@dataclass
class EvalResult:
    frames: pd.DataFrame  # one row per scored frame
    videos: pd.DataFrame  # one row per video
    summary: pd.DataFrame  # metric, mean, std, count, excluded
    figure_batch: dict | None  # first video's frames and decomposition (main process)


def summarize(frames: pd.DataFrame, videos: pd.DataFrame) -> pd.DataFrame:
    """The headline table. FG-ARI means leave out frames/videos without foreground pixels."""
    rows = []

    def add(name, values, excluded=0):
        rows.append({"metric": name, "mean": values.mean(), "std": values.std(ddof=0), "count": len(values),
                     "excluded": excluded})

    fg_f = frames[frames.fg_has_points]
    fg_v = videos[videos.fg_has_points]
    add("FG-ARI (per frame)", fg_f.fg_ari, len(frames) - len(fg_f))
    add("ARI (per frame)", frames.ari)
    add("FG-ARI (per video)", fg_v.fg_ari, len(videos) - len(fg_v))
    add("ARI (per video)", videos.ari)
    add("MSE (per frame)", frames.mse)
    return pd.DataFrame(rows)


def evaluate(model: torch.nn.Module, cfg: PerceptionConfig, dataset, accelerator: Accelerator,
             items: list[dict] | None = None) -> EvalResult:
    """Scores every video of `dataset` (or the pre-loaded `items`, indexed like it)."""
    rank, world = accelerator.process_index, accelerator.num_processes
    mine = list(range(rank, len(dataset), world))
    device = accelerator.device
    frame_rows, video_rows, figure_batch = [], [], None
    bs = max(cfg.eval.batch_size, 1)
    was_training = model.training
    model.eval()
    for lo in tqdm(range(0, len(mine), bs), desc="evaluate", disable=not accelerator.is_local_main_process,
                   leave=False):
        batch = [items[i] if items is not None else dataset[i] for i in mine[lo:lo + bs]]
        video = torch.stack([b["frames"] for b in batch]).to(device)  # [b, T, 3, H, W]
        true = torch.stack([b["masks"] for b in batch]).to(device)  # [b, T, H, W]
        frame_ids = torch.tensor([[b["start"] + f * cfg.eval.frame_gap for f in range(video.shape[1])] for b in batch])
        seeds = torch.tensor([b["video_index"] for b in batch])[:, None] * 1000 + frame_ids  # [b, T]
        dec = decompose(model, cfg, video, seeds)
        scores = segmentation_scores(true, dec.masks.float())
        mse = reconstruction_mse(video, dec.recon.float())  # [b, T]
        for j, b in enumerate(batch):
            for f in range(video.shape[1]):
                frame_rows.append({
                    "video_index": b["video_index"], "frame": int(frame_ids[j, f]),
                    "objects": int(true[j, f].unique().gt(0).sum()),
                    "ari": float(scores["ari_frame"][j, f]), "fg_ari": float(scores["fg_ari_frame"][j, f]),
                    "fg_has_points": bool(scores["fg_frame_has_points"][j, f]), "mse": float(mse[j, f])})
            video_rows.append({
                "video_index": b["video_index"], "ari": float(scores["ari_video"][j]),
                "fg_ari": float(scores["fg_ari_video"][j]),
                "fg_has_points": bool(scores["fg_video_has_points"][j]), "mse": float(mse[j].mean())})
        if figure_batch is None and rank == 0:
            n = min(cfg.eval.figure_frames, video.shape[1])
            figure_batch = {"images": video[0, :n].cpu(), "recon": dec.recon[0, :n].float().cpu(),
                            "masks": dec.masks[0, :n].float().cpu(), "means": dec.means[0, :n].float().cpu(),
                            "true_ids": true[0, :n].cpu(), "video_index": batch[0]["video_index"]}
    if was_training:
        model.train()
    if world > 1:
        frame_rows, video_rows = gather_object(frame_rows), gather_object(video_rows)
    frames = pd.DataFrame(frame_rows).sort_values(["video_index", "frame"]).reset_index(drop=True)
    videos = pd.DataFrame(video_rows).sort_values("video_index").reset_index(drop=True)
    return EvalResult(frames, videos, summarize(frames, videos), figure_batch)


def write_eval(result: EvalResult, cfg: PerceptionConfig, out_dir: Path, step: int, split: str) -> Path:
    """Writes metrics.md/.csv, frames.csv, videos.csv, decomposition.png and the config (main process)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result.summary.to_csv(out_dir / "metrics.csv", index=False)
    result.frames.to_csv(out_dir / "frames.csv", index=False)
    result.videos.to_csv(out_dir / "videos.csv", index=False)
    md = result.summary.to_markdown(index=False, floatfmt=".4f")
    (out_dir / "metrics.md").write_text(
        f"# {cfg.model} on {split}, checkpoint step {step}\n\n"
        f"{result.videos.shape[0]} videos, {cfg.eval.frames_per_video} frames each ({cfg.eval.frame_gap} apart). "
        "Segmentation = argmax of the slot masks; FG-ARI ignores background pixels; per-video scores pool "
        "all scored frames of a video, so slot identity switches count. Frames/videos without foreground "
        "pixels are excluded from FG-ARI means (column `excluded`). Latent noise is seeded per frame.\n\n" + md + "\n")
    save_config(cfg, out_dir / "config.yaml")
    fb = result.figure_batch
    if fb is not None:
        decomposition_figure(fb["images"], fb["recon"], fb["masks"], fb["means"], out_dir / "decomposition.png",
                             title=f"{cfg.model}, {split} video {fb['video_index']}, step {step}",
                             true_ids=fb["true_ids"])
    return out_dir


EVALUATION_RECORD = "evaluation.json"


@dataclass
class EvaluationRecord:
    """What the newest evaluation of a run wrote: its folder, checkpoint step, split and every file by name
    (metrics.md/.csv, decomposition.png, and for video models prediction.md/.csv, rollout.png, ...). Kept in
    RUN/evaluation.json, so later stages read the files it names instead of rebuilding their paths."""

    dir: Path
    step: int
    split: str
    files: dict[str, Path]

    def save(self, run: Path) -> None:
        record = {"dir": str(self.dir), "step": self.step, "split": self.split,
                  "files": {k: str(v) for k, v in self.files.items()}}
        tmp = Path(run) / f".{EVALUATION_RECORD}.tmp"
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(Path(run) / EVALUATION_RECORD)

    @classmethod
    def load(cls, run: Path) -> "EvaluationRecord | None":
        """The run's record, or None when it has none or a file it names is gone."""
        path = Path(run) / EVALUATION_RECORD
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        record = cls(Path(data["dir"]), int(data["step"]), data["split"],
                     {k: Path(v) for k, v in data["files"].items()})
        return record if all(p.is_file() for p in record.files.values()) else None

    @property
    def metrics(self) -> pd.DataFrame:
        return pd.read_csv(self.files["metrics.csv"])


def record_evaluation(run: Path, eval_dir: Path, step: int, split: str) -> EvaluationRecord:
    """Records the files an evaluation wrote into its folder `eval_dir` as the run's newest evaluation."""
    files = {p.name: p for p in sorted(Path(eval_dir).iterdir()) if p.is_file()}
    record = EvaluationRecord(Path(eval_dir), step, split, files)
    record.save(run)
    return record


def evaluate_run(run: Path, data: Path, split: str = "validation", overrides: list[str] | tuple[str, ...] = (),
                 checkpoint: Path | None = None, show: bool = False) -> EvaluationRecord | None:
    """Evaluates a run's checkpoint (default: its newest) into RUN/eval/<split>_step_N/: decomposition metrics
    and figure, and for video models the prediction table and figures. Returns (on the main process) the
    record of what it wrote, also kept as the run's newest evaluation (RUN/evaluation.json)."""
    accelerator = make_accelerator()
    loaded = load_run(run, checkpoint, list(overrides) + [f"eval.split={split}"], accelerator.device)
    model, cfg, step = loaded.model, loaded.cfg, loaded.step
    result = evaluate(model, cfg, eval_dataset(data, cfg), accelerator)
    out = Path(run) / "eval" / f"{cfg.eval.split}_step_{step}"
    if accelerator.is_main_process:
        write_eval(result, cfg, out, step, cfg.eval.split)
        if show:
            print(result.summary.to_markdown(index=False, floatfmt=".4f"))
    if is_video_model(cfg):
        pred_set = prediction_dataset(data, cfg)
        pred = evaluate_prediction({model_label(cfg): (model, cfg)}, pred_set, accelerator,
                                   batch_size=cfg.eval.batch_size)
        if accelerator.is_main_process:
            write_prediction(pred, out, f"{model_label(cfg)} prediction, step {step}", cfg.frames.frame_stride)
            interpretability_figures(model, cfg, pred_set[0], out)
            if show:
                print(pred.table.to_markdown(index=False, floatfmt=".5f"))
    return record_evaluation(run, out, step, cfg.eval.split) if accelerator.is_main_process else None
