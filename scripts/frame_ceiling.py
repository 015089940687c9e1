"""`python scripts/frame_ceiling.py --data DIR [--split validation] [--frames 8,16,25] [--out FILE]`: the executor's
accuracy from only F sampled frames."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from qa_data.reports.cli import frame_ceiling_main as main

    raise SystemExit(run_command(main))
