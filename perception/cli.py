"""Command lines of the perception stage (scripts/train_perception.py, scripts/eval_perception.py)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from accelerate import Accelerator

from perception.checkpoint import list_checkpoints, load_model_file
from perception.config import PerceptionConfig
from perception.evaluate import eval_dataset, evaluate, write_eval
from perception.prediction import evaluate_prediction, interpretability_figures, prediction_dataset, write_prediction
from perception.registry import build_model, is_video_model, model_label
from perception.train import train
from qa_data.config import config_from_dict, load_config


def train_main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train a perception model (the config names it). "
                                 "Rerunning the same command resumes from the newest checkpoint in --out.")
    ap.add_argument("--config", type=Path, required=True, help="preset YAML, e.g. configs/perception/iodine_tiny.yaml")
    ap.add_argument("--data", type=Path, required=True, help="CLEVRER(-sim) root")
    ap.add_argument("--out", type=Path, required=True, help="run directory")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. train.steps=500")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_config(PerceptionConfig, args.config, args.overrides)
    result = train(cfg, args.data, args.out)
    if Accelerator().is_main_process:
        print(f"trained {cfg.model} to step {result.step} in {result.seconds:.0f} s "
              f"({result.frames_per_second:.2f} frames/s); checkpoint {result.checkpoint}")
        if result.metrics is not None:
            print(result.metrics.to_markdown(index=False, floatfmt=".4f"))
            print(f"evaluation: {result.eval_dir}")
    return 0


def _load_run(run: Path, checkpoint: Path | None, overrides: list[str], device) -> tuple:
    """(model on `device`, config, step) of a run's checkpoint (default: its newest)."""
    ckpt = checkpoint
    if ckpt is None:
        found = list_checkpoints(run / "checkpoints")
        if not found:
            raise SystemExit(f"{run}/checkpoints: no complete checkpoint found")
        ckpt = found[-1]
    payload = load_model_file(ckpt)
    bad = [o for o in overrides if not o.startswith("eval.")]
    if bad:
        raise SystemExit(f"only eval.* settings can be overridden at evaluation, got {bad}")
    cfg = config_from_dict(PerceptionConfig, payload["config"], overrides, source=f"{ckpt}/model.pt")
    model = build_model(cfg).to(device)
    model.load_state_dict(payload["model"])
    return model, cfg, payload["step"]


def eval_main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Evaluate a trained perception run: ARI / FG-ARI / MSE tables "
                                 "(Markdown, CSV) and a decomposition figure, under RUN/eval/<split>_step_N/.")
    ap.add_argument("--run", type=Path, required=True, help="run directory of train_perception.py")
    ap.add_argument("--data", type=Path, required=True, help="CLEVRER(-sim) root")
    ap.add_argument("--split", default="validation")
    ap.add_argument("--checkpoint", type=Path, help="a checkpoint folder (default: the newest in RUN/checkpoints)")
    ap.add_argument("overrides", nargs="*", help="eval.* overrides, e.g. eval.num_videos=20")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    accelerator = Accelerator()
    model, cfg, step = _load_run(args.run, args.checkpoint, args.overrides + [f"eval.split={args.split}"],
                                 accelerator.device)
    result = evaluate(model, cfg, eval_dataset(args.data, cfg), accelerator)
    out = args.run / "eval" / f"{cfg.eval.split}_step_{step}"
    if accelerator.is_main_process:
        write_eval(result, cfg, out, step, cfg.eval.split)
        print(result.summary.to_markdown(index=False, floatfmt=".4f"))
    if is_video_model(cfg):
        pred_set = prediction_dataset(args.data, cfg)
        pred = evaluate_prediction({model_label(cfg): (model, cfg)}, pred_set, accelerator,
                                   batch_size=cfg.eval.batch_size)
        if accelerator.is_main_process:
            write_prediction(pred, out, f"{model_label(cfg)} prediction, step {step}", cfg.frames.frame_stride)
            interpretability_figures(model, cfg, pred_set[0], out)
            print(pred.table.to_markdown(index=False, floatfmt=".5f"))
    if accelerator.is_main_process:
        print(f"written to {out}")
    return 0


def prediction_main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Compare the future-frame prediction of trained video models (e.g. "
                                 "ODDN, ODDN w/o relation, IODINE-linear): per-step MSE table (Markdown, CSV), "
                                 "MSE plot and a rollout figure, truth against every model.")
    ap.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories of train_perception.py")
    ap.add_argument("--data", type=Path, required=True, help="CLEVRER(-sim) root")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--split", default="validation")
    ap.add_argument("overrides", nargs="*", help="eval.* overrides for every run, e.g. eval.predict_steps=6")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    accelerator = Accelerator()
    models = {}
    for run in args.runs:
        model, cfg, step = _load_run(run, None, args.overrides + [f"eval.split={args.split}"], accelerator.device)
        label = model_label(cfg)
        if label in models:
            label = f"{label} ({run.name})"
        models[label] = (model, cfg)
    first_cfg = next(iter(models.values()))[1]
    pred_set = prediction_dataset(args.data, first_cfg)
    result = evaluate_prediction(models, pred_set, accelerator, batch_size=first_cfg.eval.batch_size)
    if accelerator.is_main_process:
        write_prediction(result, args.out, f"prediction on {args.split}", first_cfg.frames.frame_stride)
        for label, (model, cfg) in models.items():
            interpretability_figures(model, cfg, pred_set[0], args.out / label.replace("/", "_"))
        print(result.table.to_markdown(index=False, floatfmt=".5f"))
        print(f"written to {args.out}")
    return 0



def lengths_main(argv=None) -> int:
    from perception.video_eval import entries_for, evaluate_lengths, length_dataset, table1, write_lengths

    ap = argparse.ArgumentParser(description="Video decomposition at several sequence lengths (PROVIDE Table 1): "
                                 "ARI / F-ARI / MSE per model and length. An IODINE run adds IODINE and SEQ-IODINE "
                                 "rows; a PROVIDE run one row.")
    ap.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories of train_perception.py")
    ap.add_argument("--data", type=Path, required=True, help="dataset root (Bouncing Balls or CLEVRER(-sim))")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--split", default="test")
    ap.add_argument("--lengths", type=int, nargs="+", default=[10, 20, 30, 40])
    ap.add_argument("--num-videos", type=int, default=0, help="first N videos of the split (0: all)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seq-clamp", type=float, default=10.0, help="SEQ-IODINE gradient/update clamp (<= 0: none)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    accelerator = Accelerator()
    entries = []
    for run in args.runs:
        model, cfg, _ = _load_run(run, None, [], accelerator.device)
        entries += entries_for(model, cfg)
    labels = [e.label for e in entries]
    if len(set(labels)) != len(labels):
        raise SystemExit(f"two runs give the same rows {labels}; compare one run per model")
    dataset = length_dataset(args.data, entries[0].cfg, args.split, max(args.lengths), args.num_videos)
    result = evaluate_lengths(entries, dataset, sorted(args.lengths), accelerator, args.batch_size,
                              seq_clamp=args.seq_clamp if args.seq_clamp > 0 else None)
    if accelerator.is_main_process:
        write_lengths(result, args.out, f"video decomposition on {args.data.name}/{args.split}", args.split)
        flat = table1(result)
        flat.columns = [f"{m} {length}" for m, length in flat.columns]
        print(flat.to_markdown(floatfmt=".4f"))
        print(f"written to {args.out}")
    return 0
