"""Adding a perception model is one class, one registry entry and one config: a toy model defined here trains,
evaluates and has its slots extracted, through the same stages as IODINE, ODDN and PROVIDE."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
import torch.nn as nn

from perception.config import PerceptionConfig
from perception.extract import ExtractConfig, extract
from perception.interface import PerceptionModel
from perception.iodine import Decomposition
from perception.loaded_run import load_run
from perception.registry import MODELS, register
from perception.train import train
from qa_data.config import load_config

REPO = Path(__file__).resolve().parents[2]


class ToyModel(PerceptionModel):
    """Soft masks from one convolution; a slot's feature is an embedding of its mean colour."""

    name = "toy"

    def __init__(self, num_slots: int, dim: int):
        super().__init__()
        self.dim = dim
        self.masks = nn.Conv2d(3, num_slots, 3, padding=1)
        self.embed = nn.Linear(3, dim)

    @classmethod
    def build(cls, cfg) -> "ToyModel":
        return cls(cfg.iodine.num_slots, cfg.iodine.latent_dim)

    @classmethod
    def training_input(cls, clips: torch.Tensor) -> torch.Tensor:
        return clips.flatten(0, 1)  # frames

    def parts(self, x: torch.Tensor):  # x [N, 3, H, W]
        masks = self.masks(x).softmax(1)  # [N, K, H, W]
        colour = (masks[:, :, None] * x[:, None]).sum((3, 4)) / masks.sum((2, 3))[..., None].clamp_min(1e-6)
        means = colour[..., None, None].expand(-1, -1, -1, *x.shape[-2:])  # [N, K, 3, H, W]
        recon = (masks[:, :, None] * means).sum(1)  # [N, 3, H, W]
        return masks, means, recon, self.embed(colour)  # z [N, K, D]

    def forward(self, x: torch.Tensor):
        masks, means, recon, _ = self.parts(x)
        nll = ((recon - x) ** 2).flatten(1).sum(1)
        return SimpleNamespace(loss=nll.mean(), nll=nll, kl=torch.zeros_like(nll), recon=recon, masks=masks,
                               means=means)

    def decompose(self, video: torch.Tensor, seeds: torch.Tensor | None = None) -> Decomposition:
        b, t = video.shape[:2]
        with torch.no_grad():
            parts = self.parts(video.flatten(0, 1))
        return Decomposition(*(p.unflatten(0, (b, t)) for p in parts))

    def feature_dims(self) -> tuple[int, int]:
        return self.dim, 0

    def slot_features(self, video: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        return self.decompose(video, seeds).z


@pytest.fixture
def toy_registered():
    register(ToyModel)
    yield
    MODELS.pop("toy")


def test_a_new_model_trains_evaluates_and_extracts(toy_registered, sim_data, tmp_path):
    cfg = load_config(PerceptionConfig, REPO / "configs/perception/iodine_tiny.yaml",
                      ["model=toy", "train.steps=1", "eval.num_videos=1", "eval.frames_per_video=2"])
    result = train(cfg, sim_data, tmp_path / "run")
    assert result.step == 1 and "FG-ARI (per frame)" in set(result.metrics.metric)  # evaluated
    loaded = load_run(tmp_path / "run")
    assert isinstance(loaded.model, ToyModel)
    cache = extract(loaded, sim_data, tmp_path / "slots", ExtractConfig(split="train", frame_stride=32,
                                                                         num_videos=2), progress=False)
    with h5py.File(cache.path, "r") as f:
        assert f.attrs["model"] == "toy" and f["slots"].shape == (2, 4, cfg.iodine.num_slots, cfg.iodine.latent_dim)
        assert np.isfinite(f["slots"][:]).all()


def test_an_unregistered_name_is_refused(sim_data, tmp_path):
    cfg = load_config(PerceptionConfig, REPO / "configs/perception/iodine_tiny.yaml", ["model=toy"])
    with pytest.raises(NotImplementedError, match="'toy' is not implemented; known: \\['iodine', 'oddn', 'provide'\\]"):
        train(cfg, sim_data, tmp_path / "run")
