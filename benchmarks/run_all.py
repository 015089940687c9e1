"""Runs every benchmark and prints one table of their headline figures (each benchmark's full
table is printed as it runs): the CLEVRER-sim generator, question generation, IODINE, ODDN and
PROVIDE training against their reference figures, slot extraction, QA training, and the main job
end to end.

    python benchmarks/run_all.py [--skip bench_provide ...] [--e2e-report runs/demo/report] [--out FILE.md]

`--e2e-report` tabulates a finished `make demo` run's stage times instead of running the main job again
(a fresh run takes ~20 minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from qa_data.runtime.precision import cpu_description

HERE = Path(__file__).resolve().parent
# bench_learning.py and bench_seeds.py are left out: they train each model for up to an hour (run them on their own).
SCRIPTS = ["bench_generator", "bench_questions", "bench_iodine", "bench_perception_speed", "bench_oddn",
           "bench_provide", "bench_extract", "bench_qa", "bench_input_checks", "bench_e2e"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip", nargs="*", default=[], choices=SCRIPTS, help="benchmarks to leave out")
    ap.add_argument("--e2e-report", type=Path, help="a finished main job's report folder for bench_e2e")
    ap.add_argument("--out", type=Path, help="also write the summary table here (Markdown; a .csv beside it)")
    args = ap.parse_args()
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.jsonl"
        env = {**os.environ, "BENCH_SUMMARY": str(summary), "PYTHONPATH": str(HERE.parent)}
        for name in SCRIPTS:
            if name in args.skip:
                continue
            print(f"\n## {name}", flush=True)
            start = time.perf_counter()
            extra = ["--report", str(args.e2e_report.resolve())] if name == "bench_e2e" and args.e2e_report else []
            done = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *extra], env=env, cwd=HERE.parent)
            print(f"({name}: {time.perf_counter() - start:.0f} s)", flush=True)
            if done.returncode:
                failed.append(name)
        rows = [json.loads(line) for line in summary.read_text().splitlines()] if summary.is_file() else []
    table = pd.DataFrame(rows, columns=["benchmark", "setup", "figure", "value", "unit", "reference", "cpu"])
    machine = f"{cpu_description()}, {os.cpu_count()} logical CPUs"
    text = f"# Benchmark summary ({machine})\n\n" + table.to_markdown(index=False) + "\n"
    print("\n" + text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        table.to_csv(args.out.with_suffix(".csv"), index=False)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
