"""Checkpoints of a run directory (perception or QA): `checkpoints/step_0000200/`, the last k kept, written
atomically.

Each holds accelerate's state (model, optimizer, every process's RNG states) and `model.pt`:
`{"model": state_dict, "config": resolved config dict, "model_name", "step"}`, which alone rebuilds
the model for evaluation and slot extraction. A checkpoint is written to a hidden temporary
folder and renamed into place only when complete, so an interrupted save never hides the last
good one.
"""
from __future__ import annotations

import logging
import os
import pickle
import re
import shutil
import zipfile
from pathlib import Path

import torch
from accelerate import Accelerator

from qa_data.config import ConfigError, config_to_dict
from qa_data.errors import DataError

_STEP_RE = re.compile(r"^step_(\d{7})$")


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _STEP_RE.match(p.name) and (p / "model.pt").is_file()]
    return sorted(found, key=lambda p: int(_STEP_RE.match(p.name).group(1)))


def checkpoint_step(path: Path) -> int:
    m = _STEP_RE.match(Path(path).name)
    if not m:
        raise ValueError(f"{path}: not a checkpoint folder (step_NNNNNNN)")
    return int(m.group(1))


def save_checkpoint(accelerator: Accelerator, model: torch.nn.Module, cfg, root: Path, step: int, keep: int,
                    extra: dict | None = None) -> Path:
    """Every process must call this (accelerate saves per-process RNG states). `cfg` is any run config
    with a `model` name (perception or QA); `extra` goes into model.pt too (e.g. a tokenizer)."""
    root = Path(root)
    final = root / f"step_{step:07d}"
    tmp = root / f".tmp_step_{step:07d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_model_file(accelerator.unwrap_model(model), cfg, tmp / "model.pt", step, extra)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in list_checkpoints(root)[:-max(keep, 1)]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def resume(accelerator: Accelerator, checkpoints: list[Path], steps: int) -> int:
    """Restores the newest of a run's `checkpoints` (model, optimizer, every process's RNG states) into the
    prepared objects; returns its step (0 with none). Anything else a loop keeps (the QA schedule) travels in
    `model.pt`: a checkpoint holding accelerate's pickled custom objects is refused, never unpickled."""
    if not checkpoints:
        return 0
    pickles = sorted(p.name for p in Path(checkpoints[-1]).glob("custom_checkpoint_*.pkl"))
    if pickles:  # accelerate would unpickle these with weights_only=False: a shared checkpoint could run code
        raise DataError(checkpoints[-1], f"holds {pickles}, pickled objects that are never loaded (unpickling could "
                                         "run code); a checkpoint of an older version: delete those files to resume "
                                         "(the learning-rate schedule is then rebuilt from the step)")
    accelerator.load_state(str(checkpoints[-1]))
    step = checkpoint_step(checkpoints[-1])
    if accelerator.is_main_process:
        logging.getLogger(__name__).info("resuming from %s (step %d)", checkpoints[-1], step)
    if step > steps:
        raise ConfigError(f"{checkpoints[-1]}: checkpoint is at step {step}, beyond train.steps={steps}")
    return step


def write_model_file(model: torch.nn.Module, cfg, path: Path, step: int, extra: dict | None = None) -> Path:
    """Writes `model.pt` (weights, resolved config, step, `extra`): all that evaluation and extraction need."""
    torch.save({"model": model.state_dict(), "config": config_to_dict(cfg), "model_name": cfg.model, "step": step,
                **(extra or {})}, path)
    return Path(path)


QA_MODELS = ("aloe",)  # model names of the QA stage's checkpoints; every other name is a perception model


def load_model_file(path: Path, stage: str | None = None) -> dict:
    """Reads `model.pt` of a checkpoint folder (or the file itself). `stage` ("perception" | "qa") refuses
    a checkpoint of the other stage, naming what it is."""
    path = Path(path)
    file = path / "model.pt" if path.is_dir() else path
    if not file.is_file():
        raise DataError(file, "checkpoint model file not found")
    if not zipfile.is_zipfile(file):
        raise DataError(file, "not a readable checkpoint (not an archive written by torch.save)")
    try:  # weights_only: tensors and plain containers only; a file carrying code is refused, never run
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        what = next((line for line in lines if "Unsupported global" in line), lines[0] if lines else "")
        raise DataError(file, f"not a plain checkpoint (it holds objects other than tensors and plain data, "
                              f"which are not loaded): {what[:200]}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:  # truncated, not a torch file, damaged archive
        raise DataError(file, f"not a readable checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    missing = {"model", "config", "model_name", "step"} - set(payload) if isinstance(payload, dict) else {"model"}
    if missing:
        raise DataError(file, f"not a model checkpoint (missing {sorted(missing)})")
    if stage is not None:
        found = "qa" if payload["model_name"] in QA_MODELS else "perception"
        if found != stage:
            raise DataError(file, f"a {found} checkpoint ({payload['model_name']}), not a {stage} one")
    return payload


def save_final(accelerator: Accelerator, model: torch.nn.Module, cfg, root: Path, step: int, keep: int,
               last: Path | None, extra: dict | None = None) -> Path:
    """The checkpoint of a run's last step: `last` when it is already that step's, else a new one."""
    if last is not None and checkpoint_step(last) == step:
        return last
    return save_checkpoint(accelerator, model, cfg, root, step, keep, extra)
