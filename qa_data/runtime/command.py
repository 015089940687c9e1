"""How every command line starts and ends: the allocator is set once (qa_data.runtime.allocator); an error is
one clear line on stderr and a non-zero exit, not a traceback.

`scripts/*.py` call `run_command(main)`. `--debug` anywhere on the command line lets the traceback
through instead (the flag is removed before the command parses its arguments).
"""
from __future__ import annotations

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
EXPECTED = (DataError, ConfigError, FileNotFoundError, PermissionError, IsADirectoryError)


def one_line(message: str) -> str:
    """A message of several lines (e.g. every attribute that differs) folded into one."""
    parts = [p.strip() for p in str(message).splitlines() if p.strip()]
    return "; ".join(parts) if parts else "(no message)"


def error_line(err: BaseException) -> tuple[str, int]:
    """(the line printed for an error, the exit status)."""
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
