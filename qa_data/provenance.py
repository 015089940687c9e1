"""Which code and which input made an output: the package version and git commit, and file hashes."""
from __future__ import annotations

import hashlib
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


def file_sha256(path: Path, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (the identity of a checkpoint or an imported slot file in a cache)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()
