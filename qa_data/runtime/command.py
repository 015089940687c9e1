"""How every command line starts and ends: the allocator is set once (qa_data.runtime.allocator); an error is
one clear line on stderr and a non-zero exit, not a traceback.

`scripts/*.py` call `run_command(main)`. `--debug` anywhere on the command line lets the traceback
through instead (the flag is removed before the command parses its arguments).
"""
from __future__ import annotations

import errno
import sys
from typing import Callable, Sequence

from qa_data.config import ConfigError
from qa_data.errors import DataError
from qa_data.runtime.allocator import keep_freed_memory

DEBUG_FLAG = "--debug"
EXIT_ERROR = 2  # bad input, a refused run, an unusable config
EXIT_INTERNAL = 3  # anything else: a bug or an environment problem, reported in one line too
EXIT_INTERRUPTED = 130

# Errors that describe the user's input or situation; their message is the whole story.
EXPECTED = (DataError, ConfigError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
            FileExistsError)
# OS errors about the paths a user named or the machine's state, not bugs: a read-only or full disk, a symlink
# loop, a name too long, a quota.
USER_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.ELOOP, errno.ENAMETOOLONG, errno.EDQUOT, errno.EACCES, errno.EPERM,
               errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENOENT}
MAX_LINE = 600  # characters of a message shown; the rest is counted


def one_line(message: str) -> str:
    """A message of several lines (e.g. every attribute that differs) folded into one, cut to a readable length."""
    parts = [p.strip() for p in str(message).splitlines() if p.strip()]
    line = "; ".join(parts) if parts else "(no message)"
    if len(line) > MAX_LINE:
        line = f"{line[:MAX_LINE]}... ({len(line) - MAX_LINE:,} more characters)"
    return line


def _os_error_text(err: OSError) -> str:
    """`path: what happened` for an OS error (both paths of a rename or link)."""
    paths = [str(p) for p in (err.filename, err.filename2) if p is not None]
    what = err.strerror or str(err)
    return f"{' -> '.join(paths)}: {what}" if paths else what


def error_line(err: BaseException) -> tuple[str, int]:
    """(the line printed for an error, the exit status)."""
    if isinstance(err, OSError) and not isinstance(err, (DataError, ConfigError)) and err.errno in USER_ERRNOS:
        return f"error: {one_line(_os_error_text(err))}", EXIT_ERROR
    if isinstance(err, RuntimeError) and str(err).startswith("Symlink loop from "):  # pathlib's resolve() (3.11)
        return f"error: {str(err)[len('Symlink loop from '):]}: a symbolic link loop", EXIT_ERROR
    if isinstance(err, MemoryError):  # an input whose declared size does not fit, or a machine too small for the job
        return (f"error: out of memory{': ' + one_line(str(err)) if str(err) else ''} (an input declaring more data "
                "than this machine holds, or a job too large for it)", EXIT_ERROR)
    if isinstance(err, EXPECTED) or getattr(err, "user_error", False):
        return f"error: {one_line(str(err))}", EXIT_ERROR
    return (f"error: {type(err).__name__}: {one_line(str(err))} (unexpected; rerun with {DEBUG_FLAG} for the "
            "traceback)", EXIT_INTERNAL)


def run_command(main: Callable[[list[str]], int | None], argv: Sequence[str] | None = None) -> int:
    """Runs `main(argv)` and returns its exit status; an exception becomes one line on stderr and a
    non-zero status, unless `--debug` is given."""
    keep_freed_memory()  # before the command allocates anything large (qa_data.runtime.allocator)
    args = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in args
    args = [a for a in args if a != DEBUG_FLAG]
    if debug:
        return int(main(args) or 0)
    try:
        return int(main(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as e:  # argparse's usage errors and --help, and explicit exits, keep their status
        if isinstance(e.code, str):
            message = e.code[len("error: "):] if e.code.startswith("error: ") else e.code
            print(f"error: {one_line(message)}", file=sys.stderr)
            return EXIT_ERROR
        return int(e.code or 0)
    except Exception as e:  # noqa: BLE001 - every failure ends in one line; --debug shows the traceback
        line, status = error_line(e)
        print(line, file=sys.stderr)
        return status
