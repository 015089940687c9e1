"""Video decomposition at several sequence lengths: PROVIDE's Table 1 (ARI, F-ARI, MSE at lengths
10/20/30/40) for IODINE, SEQ-IODINE and the video models.

Protocol:
- Each video of the split is read from frame 0 for max(lengths) frames, `frames.frame_stride` apart.
- A video model (PROVIDE) infers the frames in order; an IODINE run gives two rows: IODINE, every
  frame inferred on its own, and SEQ-IODINE (`perception.seq_iodine`). ODDN's decomposition is its
  per-frame IODINE inference. Every model is causal, so the first L frames of one pass over
  max(lengths) frames are the pass over L frames.
- Per length L: ARI and F-ARI pooled over the first L frames of a video (a slot must keep its object
  through time), the mean per-frame ARI and F-ARI, and the MSE averaged over the L frames; then the
  mean over videos. PROVIDE reports IODINE per frame, "ignoring" its slot reshuffles; `table1.md`
  does the same (IODINE: per-frame scores at the longest length), and `per_frame.md` compares every
  model per frame.
- Latent noise is seeded per (video, frame); videos are divided over processes and gathered.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from accelerate import Accelerator  # noqa: E402
from accelerate.utils import gather_object  # noqa: E402
from tqdm import tqdm  # noqa: E402

from perception.config import PerceptionConfig  # noqa: E402
from perception.figures import save_figure  # noqa: E402
from perception.metrics import reconstruction_mse, segmentation_scores  # noqa: E402
from perception.registry import decompose, model_class  # noqa: E402
from perception.seq_iodine import seq_iodine  # noqa: E402
from qa_data.clevrer.datasets import ClipConfig  # noqa: E402
from qa_data.sources import open_clips, video_frames  # noqa: E402

SEQ_IODINE = "SEQ-IODINE"


@dataclass
class Entry:
    """One row of the table: a label, the model and its config, and how it decomposes."""

    label: str
    model: torch.nn.Module
    cfg: PerceptionConfig
    sequential_iodine: bool = False  # SEQ-IODINE of an IODINE model


def entries_for(model: torch.nn.Module, cfg: PerceptionConfig, name: str | None = None) -> list[Entry]:
    """The rows a run contributes: IODINE and SEQ-IODINE for an IODINE run, one row otherwise."""
    cls = model_class(cfg)
    label = name or cls.table_label or cls.name
    if cls.sequential_row:
        seq = SEQ_IODINE if name is None else f"{name} (sequential)"
        return [Entry(label, model, cfg), Entry(seq, model, cfg, sequential_iodine=True)]
    return [Entry(label, model, cfg)]


def length_dataset(root: Path, cfg: PerceptionConfig, split: str, frames: int, num_videos: int = 0):
    """Clips of `frames` frames from frame 0 of every video of a split, with masks."""
    ds = open_clips(root, split, ClipConfig(
        clip_len=frames, stride=cfg.frames.frame_stride, random_start=False, start_frame=0, with_masks=True,
        expected_frames=video_frames(root, split, cfg.frames.dataset), skip_bad=cfg.frames.skip_bad,
        preprocess=cfg.frames.preprocess), cfg.frames.dataset)
    if num_videos:
        ds.indices = ds.indices[:num_videos]
    if not len(ds):
        raise FileNotFoundError(f"{root}: no usable videos with masks in split {split!r}")
    return ds


@dataclass
class LengthResult:
    rows: pd.DataFrame  # one row per (model, video, length)
    table: pd.DataFrame  # mean per (model, length) of every metric
    figure: dict | None


def evaluate_lengths(entries: list[Entry], dataset, lengths: list[int], accelerator: Accelerator,
                     batch_size: int = 4, seq_clamp: float | None = 10.0) -> LengthResult:
    """Scores every entry on every video of `dataset` at each of `lengths` (<= the clips' length)."""
    first = entries[0].cfg
    for e in entries[1:]:
        if e.cfg.frames.preprocess != first.frames.preprocess or e.cfg.frames.frame_stride != first.frames.frame_stride:
            raise ValueError(f"{e.label} sees other frames than {entries[0].label} (preprocess or frame_stride)")
    gap = first.frames.frame_stride
    rank, world = accelerator.process_index, accelerator.num_processes
    mine = list(range(rank, len(dataset), world))
    rows, figure = [], None
    for e in entries:
        e.model.eval()
    for lo in tqdm(range(0, len(mine), batch_size), desc="video decomposition", leave=False,
                   disable=not accelerator.is_local_main_process):
        batch = [dataset[i] for i in mine[lo:lo + batch_size]]
        video = torch.stack([b["frames"] for b in batch]).to(accelerator.device)  # [b, T, 3, H, W]
        true = torch.stack([b["masks"] for b in batch]).to(accelerator.device)  # [b, T, H, W]
        if max(lengths) > video.shape[1]:
            raise ValueError(f"length {max(lengths)} exceeds the {video.shape[1]} frames read per video")
        frame_ids = torch.tensor([[b["start"] + f * gap for f in range(video.shape[1])] for b in batch])
        seeds = torch.tensor([b["video_index"] for b in batch])[:, None] * 1000 + frame_ids  # [b, T]
        decs = {}
        for e in entries:
            if e.sequential_iodine:
                decs[e.label] = seq_iodine(e.model, video, seeds, clamp=seq_clamp)
            else:
                decs[e.label] = decompose(e.model, e.cfg, video, seeds)
        for label, dec in decs.items():
            for length in lengths:
                scores = segmentation_scores(true[:, :length], dec.masks[:, :length].float())
                mse = reconstruction_mse(video[:, :length], dec.recon[:, :length].float())  # [b, L]
                fg_frame = scores["fg_ari_frame"].masked_fill(~scores["fg_frame_has_points"], float("nan"))
                for j, b in enumerate(batch):
                    rows.append({"model": label, "video_index": b["video_index"], "length": length,
                                 "ari": float(scores["ari_video"][j]), "fg_ari": float(scores["fg_ari_video"][j])
                                 if bool(scores["fg_video_has_points"][j]) else float("nan"),
                                 "ari_frame": float(scores["ari_frame"][j].mean()),
                                 "fg_ari_frame": float(np.nanmean(fg_frame[j].cpu().numpy()))
                                 if bool(scores["fg_frame_has_points"][j].any()) else float("nan"),
                                 "mse": float(mse[j].mean())})
        if figure is None and rank == 0:
            figure = {"video": video[0].cpu(), "true": true[0].cpu(), "video_index": batch[0]["video_index"],
                      "models": {label: (dec.masks[0].float().cpu(), dec.recon[0].float().cpu())
                                 for label, dec in decs.items()}}
    if world > 1:
        rows = gather_object(rows)
    frame = pd.DataFrame(rows).sort_values(["model", "length", "video_index"]).reset_index(drop=True)
    order = [e.label for e in entries]
    table = frame.groupby(["model", "length"], sort=False)[["ari", "fg_ari", "ari_frame", "fg_ari_frame", "mse"]] \
        .mean().reset_index()
    table["model"] = pd.Categorical(table.model, order)
    table = table.sort_values(["model", "length"]).reset_index(drop=True)
    table["model"] = table.model.astype(str)
    return LengthResult(frame, table, figure)


def table1(result: LengthResult, per_frame_models: tuple[str, ...] = ("IODINE",)) -> pd.DataFrame:
    """PROVIDE Table 1: rows models, columns (metric, length). Models in `per_frame_models` get one
    value per metric, per frame at the longest length (the paper's IODINE rows)."""
    t = result.table
    longest = t.length.max()
    out = {}
    for model, part in t.groupby("model", sort=False):
        row = {}
        for metric, column, frame_column in (("ARI", "ari", "ari_frame"), ("F-ARI", "fg_ari", "fg_ari_frame"),
                                             ("MSE", "mse", "mse")):
            for _, r in part.iterrows():
                if model in per_frame_models:
                    row[(metric, int(r.length))] = r[frame_column] if r.length == longest else np.nan
                else:
                    row[(metric, int(r.length))] = r[column]
        out[model] = row
    table = pd.DataFrame.from_dict(out, orient="index")
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["metric", "length"])
    return table


def _flat(table: pd.DataFrame) -> pd.DataFrame:
    flat = table.copy()
    flat.columns = [f"{m} {length}" for m, length in flat.columns]
    return flat.reset_index(names="model")


def write_lengths(result: LengthResult, out_dir: Path, title: str, split: str) -> Path:
    """table1.md/.csv, per_frame.md, rows.csv and video_decomposition.png (main process)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result.rows.to_csv(out_dir / "rows.csv", index=False)
    result.table.to_csv(out_dir / "lengths.csv", index=False)
    t1 = _flat(table1(result))
    t1.to_csv(out_dir / "table1.csv", index=False)
    per_frame = result.table.pivot_table(index="model", columns="length", values=["ari_frame", "fg_ari_frame", "mse"],
                                         sort=False)
    per_frame.columns = [f"{m} {length}" for m, length in per_frame.columns]
    videos = result.rows.video_index.nunique()
    (out_dir / "table1.md").write_text(
        f"# {title}\n\nPROVIDE Table 1 layout on `{split}` ({videos} videos). Columns: metric and sequence length "
        "(frames from the start of the video). ARI and F-ARI pool the pixels of the first L frames of a video, so "
        "a slot must keep its object through time; MSE is the mean over the L frames. IODINE, which infers every "
        "frame on its own, is scored per frame at the longest length, as in the paper. See per_frame.md for every "
        "model per frame.\n\n" + t1.to_markdown(index=False, floatfmt=".4f") + "\n")
    (out_dir / "per_frame.md").write_text(
        f"# {title}: per-frame scores\n\nMean over frames and videos of each frame's ARI and F-ARI (slot identity "
        "may change between frames), and the MSE.\n\n"
        + per_frame.reset_index().to_markdown(index=False, floatfmt=".4f") + "\n")
    if result.figure is not None:
        video_decomposition_figure(result.figure, out_dir / "video_decomposition.png", title=title)
    return out_dir


def video_decomposition_figure(fig_data: dict, path: Path, title: str = "", frames: int = 8) -> Path:
    """Input frames, true segmentation, then each model's reconstruction and segmentation at `frames`
    evenly spaced time steps of one video."""
    video, true = fig_data["video"], fig_data["true"]
    t = video.shape[0]
    picks = np.unique(np.linspace(0, t - 1, min(frames, t)).round().astype(int))
    cmap = plt.get_cmap("tab10")
    rows = [("input", [video[i].permute(1, 2, 0).clamp(0, 1).numpy() for i in picks]),
            ("truth", [cmap(true[i].numpy() % 10)[..., :3] for i in picks])]
    for label, (masks, recon) in fig_data["models"].items():
        rows.append((f"{label}\nrecon", [recon[i].permute(1, 2, 0).clamp(0, 1).numpy() for i in picks]))
        rows.append((f"{label}\nslots", [cmap(masks[i].argmax(0).numpy() % 10)[..., :3] for i in picks]))
    fig, axes = plt.subplots(len(rows), len(picks), figsize=(len(picks) * 1.1, len(rows) * 1.15 + 0.4), squeeze=False)
    for r, (name, images) in enumerate(rows):
        for c, img in enumerate(images):
            ax = axes[r, c]
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={picks[c] + 1}", fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=6)
    if title:
        fig.suptitle(f"{title}: video {fig_data['video_index']}", fontsize=8)
    return save_figure(fig, path)
