"""Files written whole or not at all: under a temporary name, renamed into place when complete."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def written_whole(path: Path, tmp: Path) -> Iterator[Path]:
    """Yields `tmp` to write `path` into; renames it to `path` when the block ends, and removes it when the block
    fails (an error, Ctrl-C), so a refused or stopped command leaves neither a half-made file nor a `.tmp` one."""
    try:
        yield tmp
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
