"""A trained perception run loaded for evaluation or extraction (its checkpoints are `qa_data.runtime.checkpoints`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from perception.config import PerceptionConfig
from qa_data.config import ConfigError, config_from_dict
from qa_data.errors import DataError
from qa_data.runtime.checkpoints import list_checkpoints, load_model_file


@dataclass
class LoadedRun:
    """A trained model ready for evaluation or extraction, with where it came from."""

    model: torch.nn.Module
    cfg: PerceptionConfig
    step: int
    path: Path  # the checkpoint's model.pt


def load_run(run: Path, checkpoint: Path | None = None, overrides: list[str] | tuple[str, ...] = (),
             device="cpu") -> LoadedRun:
    """The model of a run's checkpoint (default: its newest complete one), on `device`, in eval mode.
    Only `eval.*` settings can be overridden: the rest is the trained model's definition."""
    ckpt = checkpoint
    if ckpt is None:
        found = list_checkpoints(Path(run) / "checkpoints")
        if not found:
            raise DataError(Path(run) / "checkpoints", "no complete checkpoint found")
        ckpt = found[-1]
    file = Path(ckpt) / "model.pt" if Path(ckpt).is_dir() else Path(ckpt)
    payload = load_model_file(file, stage="perception")
    bad = [o for o in overrides if not o.startswith("eval.")]
    if bad:
        raise ConfigError(f"only eval.* settings can be overridden at evaluation, got {bad}")
    from perception.registry import build_model  # the registry imports every model; keep this module light

    cfg = config_from_dict(PerceptionConfig, payload["config"], list(overrides), source=str(file))
    model = build_model(cfg).to(device)
    model.load_state_dict(payload["model"])
    if "geco" in payload:  # trained with GECO: infer with the NLL weight it ended at (its gradients feed refinement)
        from perception.iodine import set_beta

        set_beta(model, payload["geco"]["beta"])
    model.eval()
    return LoadedRun(model=model, cfg=cfg, step=int(payload["step"]), path=file)
