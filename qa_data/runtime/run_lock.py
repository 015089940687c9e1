"""One writer per run, cache or dataset directory.

Every command that writes such a directory holds an exclusive lock on `<dir>/.lock` (an advisory
`flock`, released by the kernel when the process ends, however it ends) for its lifetime. A second
command on the same directory is refused at once, with the holder's pid, host, command and start
time. Within one process the lock is re-entrant, so a stage called by the main job may lock the
directory the job already holds. In a distributed run only the main process locks.
"""
from __future__ import annotations

import fcntl
import functools
import inspect
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from qa_data.errors import DataError

LOCK_NAME = ".lock"

_held: dict[str, list] = {}  # resolved lock path -> [open file, depth]


class RunLocked(RuntimeError):
    """Another process is writing the directory."""

    user_error = True  # a situation to report in one line, not a bug

    def __init__(self, directory, holder: str):
        self.directory, self.holder = str(directory), holder
        super().__init__(f"{directory} is in use by another command ({holder}); wait for it to end, or use "
                         "another output directory")

    def __reduce__(self):
        return (type(self), (self.directory, self.holder))


def _holder_text(file) -> str:
    file.seek(0)
    try:
        info = json.loads(file.read() or "{}")
    except json.JSONDecodeError:
        return "holder unknown"
    if not info:
        return "holder unknown"
    return (f"pid {info.get('pid')} on {info.get('host')}, since {info.get('since')}: "
            f"{info.get('command', '?')}")


@contextmanager
def run_lock(directory: str | Path, enabled: bool = True):
    """Holds the directory's lock for the `with` block (creating the directory); raises RunLocked at once
    when another process holds it. `enabled=False` (a non-main process) does nothing. A directory this lock
    created is removed again when the block fails having written nothing into it (a refused command leaves no
    empty run folder behind)."""
    if not enabled:
        yield
        return
    directory = Path(directory)
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    path = str((directory / LOCK_NAME).resolve())
    if path in _held:
        _held[path][1] += 1
        try:
            yield
        finally:
            _held[path][1] -= 1
        return
    file = open(path, "a+")
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_text(file)
        file.close()
        raise RunLocked(directory, holder) from None
    file.seek(0)
    file.truncate()
    file.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "since": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": " ".join(sys.argv)[:500]}))
    file.flush()
    _held[path] = [file, 1]
    failed = True
    try:
        yield
        failed = False
    finally:
        del _held[path]
        file.seek(0)
        file.truncate()  # an unlocked directory names no holder
        file.close()  # releases the lock
        if failed and created and [p.name for p in directory.iterdir()] == [LOCK_NAME]:
            (directory / LOCK_NAME).unlink(missing_ok=True)
            directory.rmdir()


def is_main_process() -> bool:
    """Whether this is the main process of a launched run (`RANK` 0, or no launcher)."""
    return int(os.environ.get("RANK", "0")) == 0


def holds_lock(param: str, must_exist: bool = False):
    """Decorates a function that writes the directory named by its argument `param`: the main process
    holds that directory's lock while the function runs. `must_exist`: a missing directory is an error
    (DataError) rather than created."""
    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            directory = signature.bind(*args, **kwargs).arguments[param]
            if must_exist and not Path(directory).is_dir():
                raise DataError(directory, "directory not found")
            with run_lock(directory, enabled=is_main_process()):
                return fn(*args, **kwargs)
        return wrapped
    return decorate
