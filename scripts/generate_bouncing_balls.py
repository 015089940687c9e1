"""Generate a Bouncing Balls dataset (one HDF5 file per split, with instance masks).

    python scripts/generate_bouncing_balls.py --preset tiny --out DIR [key=value ...]
    python scripts/generate_bouncing_balls.py --preset paper --out DIR colour=true
"""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from qa_data.balls.cli import main

    raise SystemExit(run_command(main))
