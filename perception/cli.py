"""Command lines of the perception stage: scripts/train_perception.py, eval_perception.py, eval_prediction.py,
eval_video_decomposition.py, extract_slots.py, inspect_slots.py and pretrain.py."""
from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path

from perception.config import PerceptionConfig
from perception.evaluate import evaluate_run
from perception.loaded_run import load_run
from perception.prediction_eval import (
    evaluate_prediction,
    interpretability_figures,
    prediction_dataset,
    write_prediction,
)
from perception.pretrained import DEMO_CHECKPOINT, pretrain
from perception.registry import model_label
from perception.train import train
from qa_data.clevrer.layout import NoPixelsError
from qa_data.config import ConfigError, load_config
from qa_data.runtime.accelerator import make_accelerator, release


def needs_pixels(main):
    """A command that reads videos: a dataset generated without pixels ends it with a clear message."""
    @functools.wraps(main)
    def wrapped(argv=None) -> int:
        try:
            return main(argv)
        except NoPixelsError as e:
            raise SystemExit(f"error: {e}") from None
    return wrapped


@needs_pixels
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
    if make_accelerator().is_main_process:
        print(f"trained {cfg.model} to step {result.step} in {result.seconds:.0f} s "
              f"({result.frames_per_second:.2f} frames/s); checkpoint {result.checkpoint}")
        if result.metrics is not None:
            print(result.metrics.to_markdown(index=False, floatfmt=".4f"))
            print(f"evaluation: {result.eval_dir}")
    return 0


def _load_run(run: Path, checkpoint: Path | None, overrides: list[str], device) -> tuple:
    """(model on `device`, config, step) of a run's checkpoint (default: its newest)."""
    loaded = load_run(run, checkpoint, overrides, device)
    return loaded.model, loaded.cfg, loaded.step


@needs_pixels
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
    record = evaluate_run(args.run, args.data, args.split, args.overrides, args.checkpoint, show=True)
    if record is not None:
        print(f"written to {record.dir}")
    return 0


@needs_pixels
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
    accelerator = make_accelerator()
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


@needs_pixels
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
    if min(args.lengths) < 1 or args.num_videos < 0 or args.batch_size < 1:
        raise ConfigError(f"--lengths must be >= 1, --num-videos >= 0 and --batch-size >= 1; got {args.lengths}, "
                          f"{args.num_videos}, {args.batch_size}")
    accelerator = make_accelerator()
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


@needs_pixels
def extract_main(argv=None) -> int:
    import json
    import time

    from perception.extract import ExtractConfig, extract
    from qa_data.errors import DataError
    from qa_data.slots.slot_cache import summary
    from qa_data.sources import split_name

    ap = argparse.ArgumentParser(description="Extract per-frame slot features of a split into SLOTS_DIR/<split>.h5 "
                                 "(run with `accelerate launch` for several processes). Rerunning fills in what an "
                                 "interrupted run left pending.")
    ap.add_argument("--run", type=Path, required=True, help="run directory of train_perception.py")
    ap.add_argument("--data", type=Path, required=True, help="dataset root (CLEVRER, CLEVRER-sim or Bouncing Balls)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--out", type=Path, required=True, help="slot cache folder (SLOTS_DIR)")
    ap.add_argument("--checkpoint", type=Path, help="a checkpoint folder (default: the newest in RUN/checkpoints)")
    defaults = ExtractConfig()
    ap.add_argument("--frame-stride", type=int, default=defaults.frame_stride,
                    help="every S-th frame (default 0: the model's training stride)")
    ap.add_argument("--batch-size", type=int, default=defaults.batch_size, help="videos per forward pass")
    ap.add_argument("--dtype", default=defaults.dtype, choices=["float16", "float32"])
    ap.add_argument("--precision", default=defaults.precision, choices=["auto", "no", "bf16", "fp16"],
                    help="autocast (auto: bf16 on GPU and on CPUs with AMX bf16 units, else none)")
    ap.add_argument("--num-videos", type=int, default=defaults.num_videos, help="first N videos (default 0: all)")
    ap.add_argument("--num-workers", type=int, default=defaults.num_workers, help="video-decoding workers per process")
    ap.add_argument("--retry-skipped", action="store_true", help="recompute videos an earlier run skipped")
    ap.add_argument("--rollout", type=int, default=defaults.rollout, metavar="N",
                    help="append N frames the model predicts after the video, at its training stride (ODDN, "
                         "PROVIDE); marked predicted in the cache, where predictive questions look at them")
    ap.add_argument("--track", action="store_true",
                    help="reorder each frame's slots into tracks, one object per slot index through the video (models "
                         "that decompose frame by frame: IODINE, ODDN); needed by the QA stage's object-track tokens")
    ap.add_argument("--ground", action="store_true",
                    help="also record the annotated object each slot track holds, by its masks (CLEVRER(-sim); needs "
                         "tracks): the target of the QA stage's grounding loss (aloe.mention_weight) on these slots")
    ap.add_argument("--ground-min-share", type=float, default=defaults.ground_min_share,
                    help="a track and an object pair up only where the track holds the object in at least this share "
                         "of the frames the object is visible in")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        ecfg = ExtractConfig(split=args.split, frame_stride=args.frame_stride, batch_size=args.batch_size,
                             dtype=args.dtype, precision=args.precision, num_videos=args.num_videos,
                             num_workers=args.num_workers, retry_skipped=args.retry_skipped, rollout=args.rollout,
                             track=args.track, ground=args.ground, ground_min_share=args.ground_min_share)
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    accelerator = make_accelerator()
    loaded = load_run(args.run, args.checkpoint, [], accelerator.device)
    split_name(ecfg.split, loaded.cfg.frames.dataset)  # an unknown split is refused before --out is made
    try:
        result = extract(loaded, args.data, args.out, ecfg, accelerator, progress=not args.no_progress)
    except (DataError, ConfigError) as e:
        raise SystemExit(f"error: {e}") from None
    if accelerator.is_main_process:
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "file": str(result.path), "run": str(args.run),
                  "processes": accelerator.num_processes, "computed": result.computed,
                  "already_done": result.already_done, "skipped": result.skipped,
                  "seconds": round(result.seconds, 3), "videos_per_second": round(result.videos_per_second, 4)}
        with open(args.out / "extract_log.jsonl", "a") as f:  # one line per run, never rewritten
            f.write(json.dumps(record) + "\n")
        rate = (f" in {result.seconds:.1f} s ({result.videos_per_second:.2f} videos/s)" if result.computed
                or result.skipped else "")
        print(f"{result.path}: {result.computed} videos extracted{rate} on {accelerator.num_processes} process(es), "
              f"{result.already_done} already done, {len(result.skipped)} skipped")
        for v, reason in result.skipped:
            print(f"  skipped video {v}: {reason}")
        _, status, _ = summary(result.path)
        print(status.to_markdown(index=False))
    release(accelerator)
    return 0


def inspect_main(argv=None) -> int:
    from qa_data.errors import DataError
    from qa_data.slots.slot_cache import summary

    ap = argparse.ArgumentParser(description="Print a slot cache's attributes, row status and feature statistics.")
    ap.add_argument("path", type=Path, help="SLOTS_DIR/<split>.h5")
    ap.add_argument("--sample", type=int, default=64, help="done videos read for the statistics")
    args = ap.parse_args(argv)
    try:
        attrs, status, stats = summary(args.path, args.sample)
    except DataError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"# {args.path}\n")
    print(attrs.to_markdown(index=False))
    print()
    print(status.to_markdown(index=False))
    if len(stats):
        print()
        print(stats.to_markdown(index=False, floatfmt=".4f"))
    return 0


def pretrain_main(argv=None) -> int:
    """`scripts/pretrain.py`."""
    import argparse
    import logging

    repo = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description="Generate the CPU-regime CLEVRER-sim data, train the preset on it "
                                 "(about an hour on 2 cores; rerunning resumes) and export the weights-only demo "
                                 "checkpoint.")
    ap.add_argument("--out", type=Path, default=repo / "runs" / "pretrain")
    ap.add_argument("--config", type=Path, default=repo / "configs" / "perception" / "oddn_cpu.yaml")
    ap.add_argument("--data-preset", default="cpu")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dest", type=Path, default=DEMO_CHECKPOINT)
    ap.add_argument("overrides", nargs="*", help="overrides of the perception preset, e.g. train.steps=100")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    path = pretrain(args.out, args.config, args.data_preset, args.workers, args.dest, args.overrides)
    print(f"pretrained checkpoint: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0
