"""What the benchmarks that compare trained perception runs share: `--run NAME=RUN` arguments (a run directory, its
newest checkpoint, or a weights-only `.pt` file), loading each, and one table per run printed and written as
Markdown with a CSV beside it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from perception.loaded_run import LoadedRun, load_run  # noqa: E402


def named_runs(ap: argparse.ArgumentParser, items: list[str]) -> list[tuple[str, Path]]:
    """(name, path) of every `--run NAME=RUN`; a malformed one or a missing path is a usage error."""
    runs = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).exists():
            ap.error(f"--run {item!r}: expected NAME=RUN with RUN a run directory or .pt file")
        runs.append((name, Path(path)))
    return runs


def load_source(source: Path, overrides: list[str] | tuple[str, ...] = ()) -> LoadedRun:
    """A run directory (its newest checkpoint) or a weights-only `.pt` file, loaded."""
    source = Path(source)
    return load_run(source.parent if source.is_file() else source, source if source.is_file() else None, overrides)


def report(rows: list[dict], out: Path | None, title: str, script: str) -> pd.DataFrame:
    """Prints the rows as a Markdown table; with `out`, writes it there under `title` and the command that made it,
    and the CSV beside it."""
    table = pd.DataFrame(rows)
    text = table.to_markdown(index=False, floatfmt=".3f")
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"# {title}\n\n`python benchmarks/{script} " + " ".join(sys.argv[1:]) + "`\n\n" + text + "\n")
        table.to_csv(out.with_suffix(".csv"), index=False)
    return table
