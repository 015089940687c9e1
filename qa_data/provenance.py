"""Which code made an output: the package version and the git commit of the checkout."""
from __future__ import annotations

import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGE = "object-dynamics-reasoning"
REPO = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@lru_cache(maxsize=1)
def code_version() -> str:
    """`<version>+g<commit>[.dirty]`, e.g. `0.1.0+g26d0d64.dirty`; `<version>` alone outside a git checkout."""
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = "unknown"
    commit = _git("rev-parse", "--short=12", "HEAD")
    if commit is None:
        return version
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"{version}+g{commit}" + (".dirty" if dirty else "")
