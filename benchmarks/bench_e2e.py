"""End to end: the main job (`scripts/run_pipeline.py`, README's first command without the install)
from nothing to the final QA table, with its wall time per stage.

    python benchmarks/bench_e2e.py                     # a fresh run in a temporary folder (~20 min on 2 cores)
    python benchmarks/bench_e2e.py --report runs/demo/report   # only tabulate a finished run's stage_times.csv

The target is 20 minutes on a 2-core machine for `make demo` from a fresh clone, which also creates
the virtualenv (about 1-2 minutes more than this benchmark measures).
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from summary import emit  # noqa: E402  (benchmarks/summary.py)

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", type=Path, help="tabulate this finished run's report folder instead of running")
    ap.add_argument("--out", type=Path, help="run into this folder and keep it (default: a temporary folder)")
    args = ap.parse_args()
    wall = None
    if args.report is None:
        out = args.out or Path(tempfile.mkdtemp(prefix="bench_e2e_"))
        if (out / "report" / "stage_times.csv").exists():
            raise SystemExit(f"{out} already holds a run: a resumed run does not measure the stages")
        start = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "scripts" / "run_pipeline.py"), "--out", str(out)], cwd=REPO,
                       check=True)
        wall = time.perf_counter() - start
        args.report = out / "report"
    table = pd.read_csv(args.report / "stage_times.csv")
    print(f"# main job, wall time per stage ({platform.processor() or platform.machine()}, {os.cpu_count()} "
          f"logical CPUs){'' if wall is None else f', process wall {wall:.0f} s'}\n")
    print(table.to_markdown(index=False, floatfmt=".1f"))
    emit("end to end", [{"setup": f"main job: {r['stage']}", "figure": "minutes", "value": round(r["minutes"], 1),
                         "unit": "min", "reference": "<= 20 min with the install (issue 9)" if r["stage"] == "total"
                         else ""} for r in table.to_dict("records")])
    if wall is not None and args.out is None:  # a fresh run in a temporary folder: remove it
        shutil.rmtree(args.report.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
