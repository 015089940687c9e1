"""Headline figures of the benchmarks, for the one table of `run_all.py`.

Each benchmark script prints its own full table and, when the environment variable BENCH_SUMMARY
names a file, also appends its headline figures there as JSON lines
`{benchmark, setup, figure, value, unit, reference}`; `reference` holds the figure it is judged
against (a port of the original code, a target, a paper's number) or is empty.
"""
from __future__ import annotations

import json
import os


def emit(benchmark: str, rows: list[dict]) -> None:
    """Appends `rows` (each with setup, figure, value, unit, optional reference) to $BENCH_SUMMARY."""
    path = os.environ.get("BENCH_SUMMARY")
    if not path:
        return
    with open(path, "a") as f:
        for row in rows:
            f.write(json.dumps({"benchmark": benchmark, "setup": row["setup"], "figure": row["figure"],
                                "value": row["value"], "unit": row.get("unit", ""),
                                "reference": row.get("reference", "")}, default=str) + "\n")
