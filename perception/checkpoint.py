"""Checkpoints of a run directory: `checkpoints/step_0000200/`, the last k kept, written atomically.

Each holds accelerate's state (model, optimizer, every process's RNG states) and `model.pt`:
`{"model": state_dict, "config": resolved config dict, "model_name", "step"}`, which alone rebuilds
the model for evaluation and slot extraction. A checkpoint is written to a hidden temporary
folder and renamed into place only when complete, so an interrupted save never hides the last
good one.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import torch
from accelerate import Accelerator

from perception.config import PerceptionConfig
from qa_data.config import config_to_dict

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


def save_checkpoint(accelerator: Accelerator, model: torch.nn.Module, cfg: PerceptionConfig, root: Path,
                    step: int, keep: int) -> Path:
    """Every process must call this (accelerate saves per-process RNG states)."""
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
        torch.save({"model": accelerator.unwrap_model(model).state_dict(), "config": config_to_dict(cfg),
                    "model_name": cfg.model, "step": step}, tmp / "model.pt")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in list_checkpoints(root)[:-max(keep, 1)]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def load_model_file(path: Path) -> dict:
    """Reads `model.pt` of a checkpoint folder (or the file itself)."""
    path = Path(path)
    file = path / "model.pt" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file}: checkpoint model file not found")
    payload = torch.load(file, map_location="cpu", weights_only=False)
    missing = {"model", "config", "model_name", "step"} - set(payload)
    if missing:
        raise ValueError(f"{file}: not a perception checkpoint (missing {sorted(missing)})")
    return payload
