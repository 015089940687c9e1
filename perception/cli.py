"""Command lines of the perception stage (scripts/train_perception.py, scripts/eval_perception.py)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from accelerate import Accelerator

from perception.checkpoint import list_checkpoints, load_model_file
from perception.config import PerceptionConfig
from perception.evaluate import eval_dataset, evaluate, write_eval
from perception.registry import build_model
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
    ckpt = args.checkpoint
    if ckpt is None:
        found = list_checkpoints(args.run / "checkpoints")
        if not found:
            raise SystemExit(f"{args.run}/checkpoints: no complete checkpoint found")
        ckpt = found[-1]
    payload = load_model_file(ckpt)
    bad = [o for o in args.overrides if not o.startswith("eval.")]
    if bad:
        raise SystemExit(f"only eval.* settings can be overridden at evaluation, got {bad}")
    cfg = config_from_dict(PerceptionConfig, payload["config"], args.overrides + [f"eval.split={args.split}"],
                           source=f"{ckpt}/model.pt")
    accelerator = Accelerator()
    model = build_model(cfg).to(accelerator.device)
    model.load_state_dict(payload["model"])
    result = evaluate(model, cfg, eval_dataset(args.data, cfg), accelerator)
    if accelerator.is_main_process:
        out = write_eval(result, cfg, args.run / "eval" / f"{cfg.eval.split}_step_{payload['step']}",
                         payload["step"], cfg.eval.split)
        print(result.summary.to_markdown(index=False, floatfmt=".4f"))
        print(f"written to {out}")
    return 0

