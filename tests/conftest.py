"""Shared fixtures: one small CLEVRER-sim dataset generated once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

from qa_data.runtime.allocator import keep_freed_memory
from qa_data.sim.config import build_config
from qa_data.sim.generate import generate_dataset

keep_freed_memory()  # as every command does (qa_data.runtime.allocator); the subprocesses tests start inherit it

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "clevrer_samples"


def pytest_collection_modifyitems(config, items):
    if not SAMPLES.is_dir():
        for item in items:
            if "real_samples" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=f"{SAMPLES} not present"))


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    """Each test starts without accelerate's process-wide state, as each command does in its own process. Otherwise
    the first test's precision sticks: on a CPU with bf16 units `mixed_precision: auto` resolves to bf16, and
    accelerate refuses an Accelerator whose precision differs from the one made before it in the process."""
    yield
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def tiny_cfg():
    return build_config("tiny", 6, 0, [])  # 4 train, 1 validation, 1 test


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory, tiny_cfg) -> Path:
    root = tmp_path_factory.mktemp("clevrer_sim")
    generate_dataset(tiny_cfg, root, workers=1, progress=False)
    return root


@pytest.fixture(scope="session")
def qa_root(tmp_path_factory) -> Path:
    """A 16-video CLEVRER-sim dataset (10 train, 3 validation, 3 test) with its questions."""
    from qa_data.qgen.config import build_question_config
    from qa_data.qgen.generate import generate_questions

    root = tmp_path_factory.mktemp("clevrer_sim_qa")
    generate_dataset(build_config("tiny", 16, 0, []), root, workers=2, progress=False)
    generate_questions(root, build_question_config(), workers=1, progress=False)
    return root


@pytest.fixture(scope="session")
def no_render(tmp_path_factory) -> Path:
    """8 videos (6 train, 1 validation, 1 test) generated with render=false, with questions, and their
    ground-truth states every 8th frame in `states/`. Read-only for the tests that share it."""
    from qa_data.qgen.config import build_question_config
    from qa_data.qgen.generate import generate_questions
    from qa_data.slots.state_cache import StateExtractConfig, extract_states

    root = tmp_path_factory.mktemp("no_render")
    generate_dataset(build_config("tiny", 8, 0, ["render=false"]), root, workers=1, progress=False)
    generate_questions(root, build_question_config(), workers=1, progress=False)
    for split in ("train", "validation"):
        extract_states(root, root / "states", StateExtractConfig(split=split, frame_stride=8), progress=False)
    return root


@pytest.fixture(scope="session")
def balls_data(tmp_path_factory) -> Path:
    """A tiny binary Bouncing Balls dataset: 4 train, 2 validation and 2 test videos of 50 frames."""
    from qa_data.balls.bouncing_balls import BallsDatasetConfig, BallsSplit, generate_dataset

    root = tmp_path_factory.mktemp("bouncing_balls")
    cfg = BallsDatasetConfig(splits={"train": BallsSplit(4, [4, 4], 4, 0), "validation": BallsSplit(2, [4, 4], 4, 1),
                                     "test": BallsSplit(2, [4, 4], 4, 2)})
    generate_dataset(root, cfg, show_progress=False)
    return root
