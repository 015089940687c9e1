"""Which autocast precision a run uses: `auto` resolves to bf16 where bf16 is native, otherwise none.

bf16 is native on a GPU and on CPUs with bf16 instructions (AMX tiles, AVX512-BF16). Elsewhere (AVX2-only
x86, most laptops) torch emulates it, and a perception training step costs 7-12x its float32 time
(docs/benchmarks.md, "CPU kinds: precision and the allocator").
"""
from __future__ import annotations

import os
import platform
import warnings
from pathlib import Path

import torch

from qa_data.config import ConfigError, read_yaml

PRECISIONS = ("auto", "no", "bf16", "fp16")

# oneDNN ISA levels below which bf16 runs emulated; ONEDNN_MAX_CPU_ISA caps what oneDNN may use.
_ISA_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 in hardware (AMX tiles or AVX512-BF16) and neither torch's
    `ATEN_CPU_CAPABILITY` nor oneDNN's `ONEDNN_MAX_CPU_ISA` restricts it below that."""
    capped_isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if capped_isa in _ISA_WITHOUT_BF16:
        return False
    if os.environ.get("ATEN_CPU_CAPABILITY", "").lower() in ("default", "avx2"):
        return False
    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """`auto` -> bf16 on a GPU or a CPU with native bf16, else "no"; an explicit choice stands (a bf16 on a
    CPU without the units warns once)."""
    if precision in (False, "False", "false"):  # YAML reads a bare `no` as false
        precision = "no"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    kind = torch.device(device).type
    if precision == "auto":
        return "bf16" if kind == "cuda" or (kind == "cpu" and cpu_has_native_bf16()) else "no"
    if precision == "bf16" and kind == "cpu" and not cpu_has_native_bf16():
        warn_emulated_bf16()
    return precision


_warned = False


def warn_emulated_bf16() -> None:
    """Says once per process that bf16 on this CPU is emulated and what it costs."""
    global _warned
    if _warned:
        return
    _warned = True
    warnings.warn(f"bf16 on this CPU ({torch.backends.cpu.get_cpu_capability()}, no AMX or AVX512-BF16) is emulated: "
                  "a perception training step takes 7-12x its float32 time (docs/benchmarks.md); "
                  "mixed_precision: auto chooses float32 here", RuntimeWarning, stacklevel=3)


def run_precision(requested: str, saved: str | None = None) -> str:
    """The precision a training run uses: `auto` resolved for the device accelerate will pick, except that a
    run resuming from a saved config keeps the concrete precision it started with."""
    if requested == "auto" and saved in ("no", "bf16", "fp16"):
        return saved
    return resolve_precision(requested, "cuda" if torch.cuda.is_available() else "cpu")


def saved_precision(config_file: Path) -> str | None:
    """`train.mixed_precision` of a run's saved config.yaml, or None when there is none to read."""
    try:
        saved = read_yaml(config_file)
    except (OSError, ConfigError):
        return None
    train = saved.get("train") if isinstance(saved, dict) else None
    value = train.get("mixed_precision") if isinstance(train, dict) else None
    if value is False:  # YAML's bare `no`
        return "no"
    return value if isinstance(value, str) else None


def cpu_description() -> str:
    """This CPU for a benchmark's record, e.g. "AMD EPYC, AVX2, bf16 emulated"."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    bf16 = "bf16 native" if cpu_has_native_bf16() else "bf16 emulated"
    return f"{name}, {torch.backends.cpu.get_cpu_capability()}, {bf16}"
