"""Headline figures of the benchmarks, for the one table of `run_all.py`.

Each benchmark script prints its own full table and, when the environment variable BENCH_SUMMARY
names a file, also appends its headline figures there as JSON lines
`{benchmark, setup, figure, value, unit, reference, cpu}`; `reference` holds the figure it is judged
against (a port of the original code, a target, a paper's number) or is empty; `cpu` names the CPU
(model, torch's capability, whether bf16 is native), since speed depends on it (docs/benchmarks.md).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from qa_data.runtime.allocator import keep_freed_memory
from qa_data.runtime.precision import cpu_description

# Benchmarks measure what the commands run: the allocator set as every entry point sets it.
keep_freed_memory()
CPU = cpu_description()


def emit(benchmark: str, rows: list[dict]) -> None:
    """Appends `rows` (each with setup, figure, value, unit, optional reference) to $BENCH_SUMMARY."""
    path = os.environ.get("BENCH_SUMMARY")
    if not path:
        return
    with open(path, "a") as f:
        for row in rows:
            f.write(json.dumps({"benchmark": benchmark, "setup": row["setup"], "figure": row["figure"],
                                "value": row["value"], "unit": row.get("unit", ""),
                                "reference": row.get("reference", ""), "cpu": CPU}, default=str) + "\n")


def show_table(title: str, table: pd.DataFrame, out: Path | None = None, floatfmt: str = "g") -> None:
    """Prints `title` and `table` as Markdown; writes the table as CSV to `out` when given."""
    print(title)
    print(table.to_markdown(index=False, floatfmt=floatfmt))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
