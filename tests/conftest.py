"""Shared fixtures: one small CLEVRER-sim dataset generated once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

from qa_data.sim.cli import build_config
from qa_data.sim.generate import generate_dataset

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "clevrer_samples"


def pytest_collection_modifyitems(config, items):
    if not SAMPLES.is_dir():
        for item in items:
            if "real_samples" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=f"{SAMPLES} not present"))


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def tiny_cfg():
    return build_config("tiny", 6, 0, [])  # 4 train, 1 validation, 1 test


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory, tiny_cfg) -> Path:
    root = tmp_path_factory.mktemp("clevrer_sim")
    report = generate_dataset(tiny_cfg, root, workers=1, progress=False)
    assert not report.failed, report.failed
    return root
