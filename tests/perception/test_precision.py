"""Automatic precision (qa_data.runtime.precision) and the allocator setting (qa_data.runtime.allocator)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
import yaml

from qa_data.runtime import precision as prec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cpu_units(monkeypatch):
    """Sets what the CPU probes report: `cpu_units(amx=..., avx512_bf16=...)`."""
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)

    def set_units(amx: bool, avx512_bf16: bool = False):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    return set_units


def test_auto_is_bf16_on_gpus_and_cpus_with_native_bf16_and_none_elsewhere(cpu_units):
    assert prec.resolve_precision("auto", "cuda") == "bf16"
    cpu_units(amx=True)
    assert prec.resolve_precision("auto", "cpu") == "bf16"
    cpu_units(amx=False, avx512_bf16=True)
    assert prec.resolve_precision("auto", "cpu") == "bf16"
    cpu_units(amx=False)
    assert prec.resolve_precision("auto", "cpu") == "no"
    assert prec.resolve_precision("no", "cuda") == "no"  # an explicit choice stands
    assert prec.resolve_precision(False, "cpu") == "no"  # YAML's bare `no`
    with pytest.raises(ValueError, match="precision must be one of"):
        prec.resolve_precision("fp8", "cpu")


def test_capping_torch_or_onednn_to_avx2_counts_as_no_native_bf16(cpu_units, monkeypatch):
    cpu_units(amx=True)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert prec.resolve_precision("auto", "cpu") == "no"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert prec.resolve_precision("auto", "cpu") == "no"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")  # a cap above bf16 leaves it native
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    assert prec.resolve_precision("auto", "cpu") == "bf16"


def test_explicit_bf16_on_a_cpu_without_the_units_warns_once_with_the_cost(cpu_units, monkeypatch):
    cpu_units(amx=False)
    monkeypatch.setattr(prec, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert prec.resolve_precision("bf16", "cpu") == "bf16"
        assert prec.resolve_precision("bf16", "cpu") == "bf16"
    emulated = [w for w in caught if "emulated" in str(w.message)]
    assert len(emulated) == 1 and "x its float32 time" in str(emulated[0].message)
    cpu_units(amx=True)
    monkeypatch.setattr(prec, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prec.resolve_precision("bf16", "cpu")
    assert not [w for w in caught if "emulated" in str(w.message)]


def test_a_resumed_auto_run_keeps_the_precision_it_started_with(cpu_units, tmp_path):
    cpu_units(amx=False)
    assert prec.run_precision("auto") == "no"
    assert prec.run_precision("auto", saved="bf16") == "bf16"  # started on an AMX machine
    assert prec.run_precision("no", saved="bf16") == "no"  # an explicit request is taken as asked
    config = tmp_path / "config.yaml"
    assert prec.saved_precision(config) is None
    config.write_text("train: {mixed_precision: no}\n")
    assert prec.saved_precision(config) == "no"
    config.write_text("train: {mixed_precision: bf16}\n")
    assert prec.saved_precision(config) == "bf16"
    config.write_text("- not a mapping\n")
    assert prec.saved_precision(config) is None


def test_every_cpu_perception_preset_chooses_its_precision_automatically():
    presets = sorted((REPO / "configs" / "perception").glob("*_cpu.yaml"))
    assert len(presets) >= 3
    for preset in presets:
        assert yaml.safe_load(preset.read_text())["train"]["mixed_precision"] == "auto", preset.name


def test_perception_training_saves_the_resolved_precision(sim_data, tmp_path, cpu_units):
    from accelerate.state import AcceleratorState

    from perception.config import PerceptionConfig
    from perception.train import train
    from qa_data.config import load_config

    cpu_units(amx=False)
    AcceleratorState._reset_state(True)
    cfg = load_config(PerceptionConfig, REPO / "configs" / "perception" / "iodine_tiny.yaml",
                      ["train.steps=1", "train.mixed_precision=auto", "iodine.num_iters=2", "eval.num_videos=1",
                       "eval.frames_per_video=1", f"frames.cache_dir={tmp_path / 'cache'}"])
    train(cfg, sim_data, tmp_path / "run")
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["train"]["mixed_precision"] in ("no", False)  # YAML may write `no` bare
    AcceleratorState._reset_state(True)


# -- the allocator ------------------------------------------------------------------------------------

WHERE_A_LARGE_BLOCK_LIVES = textwrap.dedent("""
    import ctypes, sys
    import numpy as np
    from qa_data.runtime.allocator import keep_freed_memory
    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                          "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    if sys.argv[1] == "tuned":
        keep_freed_memory()
    block = np.ones(100 * 2**20, dtype=np.uint8)  # 100 MB, like a decoder's activations
    mapped = libc.mallinfo2().hblkhd  # bytes in blocks mmapped on their own
    del block
    kept = libc.mallinfo2().arena  # bytes the heap keeps after the free
    print(mapped, kept)
""")


def _block(mode: str) -> tuple[int, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", WHERE_A_LARGE_BLOCK_LIVES, mode], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    mapped, kept = done.stdout.split()[-2:]
    return int(mapped), int(kept)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_large_block_stays_in_the_process_instead_of_going_back_to_the_kernel():
    size = 100 * 2**20
    mapped, kept = _block("plain")
    assert mapped >= size and kept < size  # glibc's default: its own mapping, unmapped on free
    mapped, kept = _block("tuned")
    assert mapped < size and kept >= size  # from the heap, and the heap keeps it for the next step


def test_the_allocator_setting_leaves_an_extraction_byte_identical(tmp_path, sim_data):
    from test_extract import make_run  # noqa: PLC0415 - the same untrained run the extraction tests use

    run = make_run(tmp_path / "run", "oddn_tiny")
    outputs = {}
    for mode in ("default", "tuned"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        env.update(PYTHONPATH=str(REPO), ODR_DEFAULT_MALLOC="1" if mode == "default" else "0")
        out = tmp_path / mode
        subprocess.run([sys.executable, str(REPO / "scripts" / "extract_slots.py"), "--run", str(run), "--data",
                        str(sim_data), "--out", str(out), "--split", "train", "--frame-stride", "16", "--no-progress"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=True)
        outputs[mode] = (out / "train.h5").read_bytes()
    assert outputs["default"] == outputs["tuned"]
