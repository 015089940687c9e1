"""The JSONL log of a training run (`train_log.jsonl`): one JSON object per logged step, appended by the
main process, and trimmed back to the resumed step when a killed run resumes."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path


def append_row(path: Path, row: dict) -> None:
    """Appends one `{"step": N, ...}` row."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def last_value(path: Path, key: str, default: float = 0.0) -> float:
    """The value of `key` in the last row of the log that has it (`default` when none does, or no log)."""
    path = Path(path)
    if not path.is_file():
        return default
    value = default
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and key in row:
            value = row[key]
    return value


def trim_log(path: Path, step: int) -> int:
    """Keeps only the rows of a JSONL log (`{"step": N, ...}` per line) up to `step`, the step a run resumes
    from, so that the steps a killed run logged after its last checkpoint are not listed twice; a line cut
    short by the kill goes too. Rewritten atomically; returns the rows removed."""
    path = Path(path)
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
            keep = isinstance(row, dict) and int(row.get("step", 0)) <= step
        except (json.JSONDecodeError, TypeError, ValueError):
            keep = False
        if keep:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, path)
        logging.getLogger(__name__).info("%s: %d rows after step %d (logged before the interruption) removed",
                                         path, dropped, step)
    return dropped
