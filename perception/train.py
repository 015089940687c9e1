"""Training loop of every perception model (the config names the model), on accelerate.

`train(cfg, data, out)` is step based and resumable: rerunning the same command continues from
the newest complete checkpoint in `out/checkpoints` (model, optimizer, RNG states), and batches
are a function of the step (see `perception.frames`), so the continued run repeats the losses
of an uninterrupted one. A non-finite loss or gradient stops training before the optimizer step
and before any save, so the last good checkpoint stays the newest. The final step is always
checkpointed and evaluated.

Run directory:
    config.yaml                 resolved config (a resumed run must match its model/frames sections)
    checkpoints/step_NNNNNNN/   last `keep_checkpoints` checkpoints (see qa_data.runtime.checkpoints)
    tensorboard/                scalars (accelerate's TensorBoard tracker)
    train_log.jsonl             the logged scalars, one JSON object per logged step
    figures/train_step_N.png    decompositions of training batches
    eval/<split>_step_N/        metrics.md/.csv, frames.csv, videos.csv, decomposition.png; for video
                                models also prediction.md/.csv, rollout.png, prediction_mse.png,
                                dynamics_sweep.png and attention.png (perception.prediction_eval,
                                perception.dynamics_figures)
    eval_curve.csv, eval_curve.png   evaluation metrics against steps and wall seconds (continued across resumes)
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm import tqdm

from perception.config import PerceptionConfig
from perception.diagnostics import gradient_norms, step_diagnostics
from perception.evaluate import EvaluationRecord, eval_dataset, evaluate, record_evaluation, write_eval
from perception.figures import curve_figure, decomposition_figure
from perception.frames import StepBatchSampler, StoreFrames, build_frame_store
from perception.geco import Geco
from perception.iodine import set_beta, set_training_step
from perception.prediction_eval import (
    evaluate_prediction,
    interpretability_figures,
    prediction_dataset,
    write_prediction,
)
from perception.registry import build_model, is_video_model, model_class, model_label, train_clip_len, training_forward
from qa_data.config import ConfigError, config_to_dict, flat_hparams, read_yaml, save_config
from qa_data.runtime.accelerator import make_accelerator, random_streams_kept
from qa_data.runtime.checkpoints import list_checkpoints, load_model_file, resume, save_checkpoint, save_final
from qa_data.runtime.guards import check_finite
from qa_data.runtime.precision import run_precision, saved_precision
from qa_data.runtime.run_lock import holds_lock
from qa_data.runtime.run_log import append_row, trim_log

logger = logging.getLogger(__name__)

CURVE_METRICS = ("FG-ARI (per frame)", "ARI (per frame)", "FG-ARI (per video)", "MSE (per frame)")


@dataclass
class TrainResult:
    out: Path
    step: int
    checkpoint: Path
    eval_dir: Path | None
    metrics: pd.DataFrame | None
    evaluation: EvaluationRecord | None  # the files of the final evaluation (main process)
    seconds: float  # the run's wall time up to its last step, across resumes
    frames_per_second: float


def _check_resume_config(out: Path, cfg: PerceptionConfig) -> None:
    """A run directory keeps one model: its saved model/frames sections must match the new config."""
    saved_path = out / "config.yaml"
    if not saved_path.is_file():
        return
    saved = read_yaml(saved_path)
    if not isinstance(saved, dict):
        raise ConfigError(f"{saved_path}: not a saved run config (a mapping)")
    new = config_to_dict(cfg)

    def section(d: dict, name: str):
        value = d.get(name)
        if name == "frames" and isinstance(value, dict):  # worker count does not change the data
            value = {k: v for k, v in value.items() if k != "num_workers"}
        return value

    for name in ("model", "iodine", *model_class(cfg).config_sections, "frames"):
        if name in saved and section(saved, name) != section(new, name):
            raise ConfigError(f"{saved_path}: the run directory was made with a different `{name}` section; "
                              "use a new --out directory or the same settings")


ELAPSED_FILE = "train_time.json"


def _write_elapsed(checkpoint: Path, seconds: float) -> None:
    """Records the run's wall time up to this checkpoint, so a resumed run's curves continue it."""
    (Path(checkpoint) / ELAPSED_FILE).write_text(json.dumps({"seconds": round(seconds, 3)}))


def _elapsed_before(out: Path, done: list[Path], step: int) -> float:
    """Wall seconds the run had spent before resuming at `step` (0 for a fresh run): from the checkpoint's
    record, or for checkpoints written before it existed, from an evaluation at that step (else 0, logged)."""
    if not done:
        return 0.0
    record = done[-1] / ELAPSED_FILE
    if record.is_file():
        return float(json.loads(record.read_text())["seconds"])
    curve = out / "eval_curve.csv"
    if curve.is_file():
        rows = pd.read_csv(curve)
        rows = rows[rows.step == step]
        if len(rows):
            return float(rows.train_seconds.iloc[-1])
    logger.warning("%s: no record of the wall time before step %d; the curves' minutes restart at 0", done[-1], step)
    return 0.0


def _append_curve(out: Path, step: int, summary: pd.DataFrame, seconds: float) -> None:
    path = out / "eval_curve.csv"
    row = {"step": step, "train_seconds": round(seconds, 1)}
    row.update({m: float(v) for m, v in zip(summary.metric, summary["mean"])})
    curve = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    if len(curve):
        curve = curve[curve.step != step]
    curve = pd.concat([curve, pd.DataFrame([row])], ignore_index=True).sort_values("step")
    curve.to_csv(path, index=False)
    series = {m: curve[m].tolist() for m in CURVE_METRICS if m in curve and not m.startswith("MSE")}
    curve_figure(curve.step.tolist(), series, out / "eval_curve.png", title="evaluation during training")


def _trim_curve(out: Path, step: int) -> None:
    """Drops evaluation-curve rows after the step a run resumes from (they are evaluated again)."""
    path = out / "eval_curve.csv"
    if path.is_file():
        curve = pd.read_csv(path)
        if len(curve) and (curve.step > step).any():
            curve[curve.step <= step].to_csv(path, index=False)


@holds_lock("out")
def train(cfg: PerceptionConfig, data: Path, out: Path) -> TrainResult:
    """Trains (or resumes) the run in `out`, holding its lock (qa_data.runtime.run_lock) throughout."""
    out, data = Path(out), Path(data)
    cfg = replace(cfg, train=replace(cfg.train, mixed_precision=run_precision(cfg.train.mixed_precision,
                                                                              saved_precision(out / "config.yaml"))))
    accelerator = make_accelerator(mixed_precision=cfg.train.mixed_precision, log_with="tensorboard",
                                   project_dir=str(out))
    tc = cfg.train
    main = accelerator.is_main_process
    if main:
        logger.info("mixed precision: %s (CPU %s)", tc.mixed_precision, torch.backends.cpu.get_cpu_capability())
        out.mkdir(parents=True, exist_ok=True)
        _check_resume_config(out, cfg)
        save_config(cfg, out / "config.yaml")
    accelerator.wait_for_everyone()

    cache = Path(cfg.frames.cache_dir) if cfg.frames.cache_dir else out / "frame_cache"
    with accelerator.main_process_first():
        store = build_frame_store(data, "train", cfg.frames, cache, workers=cfg.frames.num_workers,
                                  show_progress=main)
    frames_ds = StoreFrames(store, train_clip_len(cfg))  # the longest clip of the curriculum

    set_seed(tc.seed)  # right before building the model: identical initial weights on every process
    model = build_model(cfg)
    if tc.channels_last:
        model = model.to(memory_format=torch.channels_last)  # the same function, another weight layout
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr, betas=tuple(tc.adam_betas))
    model, optimizer = accelerator.prepare(model, optimizer)
    raw_model = accelerator.unwrap_model(model)

    ckpt_root = out / "checkpoints"
    done = list_checkpoints(ckpt_root)
    step = resume(accelerator, done, tc.steps)
    geco = Geco(tc.geco, cfg.iodine.beta) if tc.geco.enabled else None
    if geco is not None and done:  # the multiplier travels in model.pt, so a resumed run continues it exactly
        saved = load_model_file(done[-1], stage="perception").get("geco")
        if saved is not None:
            geco.load_state_dict(saved)
        elif main:
            logger.warning("%s: trained without GECO; GECO starts from iodine.beta=%g here", done[-1], geco.beta)

    def saved_state() -> dict | None:
        return {"geco": geco.state_dict()} if geco is not None else None
    if main:  # what a killed run logged after its last checkpoint is redone, and logged, again
        trim_log(out / "train_log.jsonl", step)
        _trim_curve(out, step)

    sampler = StepBatchSampler(frames_ds.num_videos, frames_ds.num_frames, lambda s: train_clip_len(cfg, s),
                               tc.batch_size, tc.seed, step, tc.steps, accelerator.process_index,
                               accelerator.num_processes)
    # Own generator: building the iterator must not draw from the global RNG that the model samples with.
    loader = DataLoader(frames_ds, batch_sampler=sampler, num_workers=cfg.frames.num_workers,
                        generator=torch.Generator().manual_seed(tc.seed))
    accelerator.init_trackers("tensorboard", config=flat_hparams(config_to_dict(cfg)))

    eval_set, eval_items = None, None

    def run_eval(at_step: int, seconds: float) -> tuple[Path, pd.DataFrame]:
        nonlocal eval_set, eval_items
        if eval_set is None:
            eval_set = eval_dataset(data, cfg)
            mine = range(accelerator.process_index, len(eval_set), accelerator.num_processes)
            eval_items = {i: eval_set[i] for i in mine}  # decoded once, reused by every evaluation
        with random_streams_kept(accelerator):  # a resumed run continues exactly
            result = evaluate(raw_model, cfg, eval_set, accelerator, items=eval_items)
        eval_dir = out / "eval" / f"{cfg.eval.split}_step_{at_step}"
        if main:
            write_eval(result, cfg, eval_dir, at_step, cfg.eval.split)
            _append_curve(out, at_step, result.summary, seconds)
        accelerator.log({f"eval/{m}": float(v) for m, v in zip(result.summary.metric, result.summary["mean"])},
                        step=at_step)
        accelerator.wait_for_everyone()
        return eval_dir, result.summary

    def run_prediction_eval(eval_dir: Path) -> None:
        """Video models: prediction table, rollout and interpretability figures next to the metrics."""
        pred_set = prediction_dataset(data, cfg)
        result = evaluate_prediction({model_label(cfg): (raw_model, cfg)}, pred_set, accelerator,
                                     batch_size=cfg.eval.batch_size)
        if main:
            write_prediction(result, eval_dir, f"{model_label(cfg)} prediction, step {step}", cfg.frames.frame_stride)
            interpretability_figures(raw_model, cfg, pred_set[0], eval_dir)
            table = result.table.set_index("step")
            accelerator.log({f"eval/pred_mse_step{s}": float(table.loc[s, model_label(cfg)]) for s in table.index},
                            step=step)
        model.train()
        accelerator.wait_for_everyone()

    log_path = out / "train_log.jsonl"
    bar = tqdm(total=tc.steps, initial=step, desc=f"train {cfg.model}", disable=not accelerator.is_local_main_process)
    session_start = time.perf_counter()
    t0 = session_start - _elapsed_before(out, done, step)  # wall time counts across resumes
    frames_seen = 0
    last_ckpt = done[-1] if done else None
    eval_dir, metrics = None, None
    model.train()
    for clips in loader:  # [b, L, 3, H, W] per process
        clips = clips.to(accelerator.device)
        variance = set_training_step(raw_model, step)  # the variance schedule's value at this step
        if geco is not None:
            set_beta(raw_model, geco.beta)
        with accelerator.autocast():
            output = training_forward(model, cfg, clips)
        loss = output.loss
        check_finite(accelerator, loss, "loss", step + 1, last_ckpt)
        accelerator.backward(loss)
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), tc.grad_clip)
        check_finite(accelerator, grad_norm, "gradient", step + 1, last_ckpt)
        logging_step = (step + 1) % tc.log_every == 0 or step + 1 == tc.steps
        part_norms = {}
        if logging_step:  # each part's norm before clipping (read after it, when fp16 gradients are unscaled)
            clipped = min(1.0, tc.grad_clip / (float(grad_norm) + 1e-6))
            part_norms = {k: v / clipped for k, v in gradient_norms(raw_model).items()}
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if geco is not None or logging_step:
            with torch.no_grad():  # this process's reconstruction error
                mse = ((output.recon.float() - clips.flatten(0, 1)[:, :3].float()) ** 2).mean()
        if geco is not None:  # the constraint on this step's reconstruction, the same on every process
            geco.update(float(accelerator.reduce(mse, reduction="mean")))
        step += 1
        frames_seen += clips.shape[0] * clips.shape[1] * accelerator.num_processes
        bar.update(1)

        if logging_step:
            with torch.no_grad():
                # model-specific scalars (e.g. ODDN's prediction loss), then the decomposition's diagnostics
                extra = {**getattr(output, "scalars", {}), **step_diagnostics(output)}
                names = ["train/loss", "train/nll", "train/kl", "train/mse"] + list(extra)
                scalars = torch.stack([loss.detach().float(), output.nll.mean().float(), output.kl.mean().float(), mse]
                                      + [v.detach().float() for v in extra.values()])
            scalars = accelerator.reduce(scalars, reduction="mean")
            logs = dict(zip(names, scalars.tolist()))
            logs.update({"train/grad_norm": float(grad_norm), "train/clip_len": clips.shape[1], **part_norms})
            if variance is not None:
                logs["train/pixel_variance"] = variance
            if geco is not None:
                logs["train/beta"] = geco.beta
            accelerator.log(logs, step=step)
            bar.set_postfix(loss=f"{logs['train/loss']:.4g}", mse=f"{logs['train/mse']:.4f}")
            if main:
                append_row(log_path, {"step": step, **logs})
        if main and tc.figure_every and step % tc.figure_every == 0:
            n = min(4, output.masks.shape[0])
            decomposition_figure(clips.flatten(0, 1)[:n].float().cpu(), output.recon[:n].detach().float().cpu(),
                                 output.masks[:n].detach().float().cpu(), output.means[:n].detach().float().cpu(),
                                 out / "figures" / f"train_step_{step}.png", title=f"training batch, step {step}")
        if step % tc.checkpoint_every == 0 or step == tc.steps:
            last_ckpt = save_checkpoint(accelerator, model, cfg, ckpt_root, step, tc.keep_checkpoints, saved_state())
            if main:
                _write_elapsed(last_ckpt, time.perf_counter() - t0)
        if tc.eval_every and step % tc.eval_every == 0 and step != tc.steps:
            run_eval(step, time.perf_counter() - t0)
    bar.close()
    seconds = time.perf_counter() - t0
    final = save_final(accelerator, model, cfg, ckpt_root, step, tc.keep_checkpoints, last_ckpt, saved_state())
    if main and final != last_ckpt:
        _write_elapsed(final, seconds)
    last_ckpt = final
    eval_dir, metrics = run_eval(step, seconds)
    if is_video_model(cfg):
        run_prediction_eval(eval_dir)
    evaluation = record_evaluation(out, eval_dir, step, cfg.eval.split) if main else None
    accelerator.end_training()
    session = time.perf_counter() - session_start
    fps = frames_seen / session if frames_seen and session > 0 else math.nan
    return TrainResult(out, step, last_ckpt, eval_dir, metrics, evaluation, seconds, fps)
