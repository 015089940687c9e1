"""Errors for bad input and the counted-skip report used in `skip_bad` mode."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """A data file that cannot be used; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")

    def __reduce__(self):  # rebuilt from (path, problem), so it crosses process boundaries intact
        return (type(self), (self.path, self.problem))


@dataclass
class SkipReport:
    """Items skipped in `skip_bad` mode: counted, logged, and reported, never silently dropped."""

    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, err: DataError) -> None:
        self.skipped.append((err.path, err.problem))
        logger.warning("skipped %s: %s", err.path, err.problem)

    def __len__(self) -> int:
        return len(self.skipped)

    def summary(self) -> str:
        if not self.skipped:
            return "no items skipped"
        lines = [f"{len(self.skipped)} item(s) skipped:"]
        lines += [f"  {path}: {problem}" for path, problem in self.skipped]
        return "\n".join(lines)
