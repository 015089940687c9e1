#!/usr/bin/env python
"""Generate CLEVRER questions (all four types) for a CLEVRER-sim dataset; see qa_data/qgen/."""
from qa_data.qgen.cli import main
from qa_data.runtime.command import run_command

if __name__ == "__main__":
    raise SystemExit(run_command(main))
