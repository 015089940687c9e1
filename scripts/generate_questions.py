#!/usr/bin/env python
"""Generate CLEVRER questions (all four types) for a CLEVRER-sim dataset; see qa_data/qgen/."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from qa_data.qgen.cli import main

    raise SystemExit(run_command(main))
