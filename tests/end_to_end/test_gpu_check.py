"""The prepared GPU check keeps working: its smoke mode runs the same code on tiny presets on the CPU."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_check_smoke_writes_every_row(tmp_path):
    out = tmp_path / "gpu_check.md"
    done = subprocess.run(["bash", str(REPO / "benchmarks/gpu_check.sh"), "--smoke", "--steps", "1", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env={"PYTHON": sys.executable,
                                                                                    "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    for row in ("IODINE training step", "PROVIDE training step", "ODDN training step", "slot extraction",
                "QA training step", "ODDN / IODINE step cost", "one full training", "20,000 videos"):
        assert row in text, row
    assert "nan |" not in text.split("| projection")[1]  # every projection computed
