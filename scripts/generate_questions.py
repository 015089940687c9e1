#!/usr/bin/env python
"""Generate CLEVRER questions (all four types) for a CLEVRER-sim dataset; see qa_data/qgen/."""
from qa_data.command import run_command
from qa_data.qgen.cli import main

if __name__ == "__main__":
    raise SystemExit(run_command(main))
