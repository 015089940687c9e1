"""Evaluation of future-frame prediction: per-step MSE tables, rollout and interpretability figures.

Protocol (ODDN Sec. 4.2, Fig. 3 and 7): each video of a split is cut at every start of
`eval.predict_starts` into `predict_context + predict_steps` frames, `frames.frame_stride` apart;
a model sees the context frames and rolls out the rest. The MSE (pixels in [0, 1], mean over
pixels and channels) of every predicted frame against the truth is tabulated per step, next to
"repeat the last context frame". Context inference is seeded per (video, frame), items are split
over processes and gathered, so any number of processes writes the same table.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from accelerate import Accelerator  # noqa: E402
from accelerate.utils import gather_object  # noqa: E402
from torch.utils.data import ConcatDataset, Dataset  # noqa: E402
from tqdm import tqdm  # noqa: E402

from perception.config import PerceptionConfig  # noqa: E402
from perception.figures import save_figure  # noqa: E402
from perception.registry import is_video_model, model_label, predict  # noqa: E402
from qa_data.clevrer.datasets import ClipConfig  # noqa: E402
from qa_data.sources import open_clips, video_frames  # noqa: E402

REPEAT = "repeat last frame"


def hold_label(label: str) -> str:
    """The baseline that holds a model's own reconstruction of the last context frame: the error
    left without any predicted motion, which isolates what the dynamics contribute."""
    return f"{label}: hold last reconstruction"


def prediction_dataset(root: Path, cfg: PerceptionConfig, split: str | None = None) -> Dataset:
    """(video, start) items: frames [C + S, 3, H, W], masks [C + S, H, W], video_index, start."""
    ev = cfg.eval
    parts = []
    split = split or ev.split
    frames = video_frames(root, split, cfg.frames.dataset)
    for start in ev.predict_starts:
        ds = open_clips(root, split, ClipConfig(
            clip_len=ev.predict_context + ev.predict_steps, stride=cfg.frames.frame_stride, random_start=False,
            start_frame=start, with_masks=True, expected_frames=frames, skip_bad=cfg.frames.skip_bad,
            preprocess=cfg.frames.preprocess), cfg.frames.dataset)
        if ev.num_videos:
            ds.indices = ds.indices[:ev.num_videos]
        parts.append(ds)
    if not parts or not len(parts[0]):
        raise FileNotFoundError(f"{root}: no usable videos with masks in split {split!r}")
    return ConcatDataset(parts)


def _check_comparable(cfgs: list[PerceptionConfig]) -> None:
    first = cfgs[0]
    for c in cfgs[1:]:
        if c.frames.preprocess != first.frames.preprocess or c.frames.frame_stride != first.frames.frame_stride:
            raise ValueError("prediction can only be compared between models that see the same frames "
                             f"(preprocess and frame_stride): {model_label(first)} vs {model_label(c)}")


@dataclass
class PredictionResult:
    rows: pd.DataFrame  # one row per (video, start, step)
    table: pd.DataFrame  # per step: mean MSE of each model and of the baseline
    figure: dict | None  # first item's truth and every model's frames (main process)


def evaluate_prediction(models: dict[str, tuple[torch.nn.Module, PerceptionConfig]], dataset: Dataset,
                        accelerator: Accelerator, batch_size: int = 4) -> PredictionResult:
    """Rolls out every model on every item of `dataset`; `models` maps a label to (model, config)."""
    cfgs = [c for _, c in models.values()]
    _check_comparable(cfgs)
    for label, (_, c) in models.items():
        if not is_video_model(c):
            raise ValueError(f"{label}: {model_label(c)} does not predict frames")
    ev = cfgs[0].eval
    ctx, steps, gap = ev.predict_context, ev.predict_steps, cfgs[0].frames.frame_stride
    rank, world = accelerator.process_index, accelerator.num_processes
    mine = list(range(rank, len(dataset), world))
    rows, figure = [], None
    for model, _ in models.values():
        model.eval()
    for lo in tqdm(range(0, len(mine), batch_size), desc="prediction", leave=False,
                   disable=not accelerator.is_local_main_process):
        batch = [dataset[i] for i in mine[lo:lo + batch_size]]
        video = torch.stack([b["frames"] for b in batch]).to(accelerator.device)  # [b, C+S, 3, H, W]
        frame_ids = torch.tensor([[b["start"] + f * gap for f in range(ctx)] for b in batch])
        seeds = torch.tensor([b["video_index"] for b in batch])[:, None] * 1000 + frame_ids  # [b, C]
        truth = video[:, ctx:].float()
        repeat = ((video[:, ctx - 1:ctx].float() - truth) ** 2).mean((2, 3, 4))  # [b, S]
        predicted = {}
        for label, (model, cfg) in models.items():
            out = predict(model, cfg, video[:, :ctx], steps, seeds)
            predicted[label] = out
            mse = ((out.frames.float() - truth) ** 2).mean((2, 3, 4))  # [b, S]
            hold = ((out.context_recon[:, -1:].float() - truth) ** 2).mean((2, 3, 4))  # [b, S]
            for j, b in enumerate(batch):
                for s in range(steps):
                    for name, value in ((label, mse), (hold_label(label), hold)):
                        rows.append({"model": name, "video_index": b["video_index"], "start": b["start"],
                                     "step": s + 1, "mse": float(value[j, s])})
        for j, b in enumerate(batch):
            for s in range(steps):
                rows.append({"model": REPEAT, "video_index": b["video_index"], "start": b["start"], "step": s + 1,
                             "mse": float(repeat[j, s])})
        if figure is None and rank == 0:
            figure = {"truth": video[0].float().cpu(), "video_index": batch[0]["video_index"],
                      "start": batch[0]["start"], "masks": batch[0]["masks"],
                      "models": {label: torch.cat([o.context_recon[0], o.frames[0]]).float().cpu()
                                 for label, o in predicted.items()}}
    if world > 1:
        rows = gather_object(rows)
    frame = pd.DataFrame(rows).sort_values(["model", "video_index", "start", "step"]).reset_index(drop=True)
    order = list(models) + [REPEAT] + [hold_label(m) for m in models]
    table = frame.pivot_table(index="step", columns="model", values="mse", aggfunc="mean")[order]
    table = table.reset_index()
    table.columns.name = None
    return PredictionResult(frame, table, figure)


def write_prediction(result: PredictionResult, out_dir: Path, title: str, gap: int) -> Path:
    """prediction.csv (per step), prediction_rows.csv, prediction.md, prediction_mse.png and
    rollout.png (main process)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out_dir / "prediction.csv", index=False)
    result.rows.to_csv(out_dir / "prediction_rows.csv", index=False)
    items = result.rows[["video_index", "start"]].drop_duplicates().shape[0]
    (out_dir / "prediction.md").write_text(
        f"# {title}\n\nMean squared error per predicted frame (pixels in [0, 1]) over {items} clips; "
        f"frames are {gap} video frames apart; step 1 is the first frame after the context. "
        f"`{REPEAT}` copies the last context frame; `<model>: hold last reconstruction` copies the model's "
        "reconstruction of it (no motion), so the gap between a model and its hold row is what its predicted "
        "motion gains.\n\n"
        + result.table.to_markdown(index=False, floatfmt=[".0f"] + [".5f"] * (result.table.shape[1] - 1)) + "\n")
    mse_curve_figure(result.table, out_dir / "prediction_mse.png", title=title)
    if result.figure is not None:
        fig = result.figure
        rollout_figure(fig["truth"], fig["models"], len(fig["truth"]) - len(result.table), out_dir / "rollout.png",
                       title=f"{title}: video {fig['video_index']}, from frame {fig['start']}")
    return out_dir


def rollout_figure(truth: torch.Tensor, rows: dict[str, torch.Tensor], context: int, path: Path,
                   title: str = "") -> Path:
    """Truth [T, 3, H, W] and each model's frames [T, 3, H, W] (context reconstructions, then predictions)."""
    t = truth.shape[0]
    h, w = truth.shape[-2:]
    names = ["truth"] + list(rows)
    fig, axes = plt.subplots(len(names), t, figsize=(t * 1.3 * w / h, len(names) * 1.35 + 0.4), squeeze=False)
    for i, name in enumerate(names):
        frames = truth if name == "truth" else rows[name]
        for j in range(t):
            ax = axes[i, j]
            ax.imshow(frames[j].clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"t={j + 1}" + (" (in)" if j < context else ""), fontsize=7)
            if j == 0:
                ax.set_ylabel(name, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    return save_figure(fig, path)


def interpretability_figures(model: torch.nn.Module, cfg: PerceptionConfig, item: dict, out_dir: Path) -> list[Path]:
    """The figures a model offers to show what its dynamics mean (none for most models)."""
    return model.interpretability_figures(cfg, item, out_dir)


def mse_curve_figure(table: pd.DataFrame, path: Path, title: str = "") -> Path:
    """ODDN Fig. 7: MSE of each predicted frame, one line per model and the baseline."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name in table.columns:
        if name != "step":
            style = "--" if name == REPEAT else ":" if name.endswith(hold_label("")) else "-"
            ax.plot(table["step"], table[name], marker="o", label=name, ls=style)
    ax.set_xlabel("predicted frame")
    ax.set_ylabel("MSE")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
