"""`python scripts/check_data.py --data ROOT [--decode none|sample|all] [--json FILE]`: the dataset doctor; exit
status 1 when anything would stop a stage."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from qa_data.reports.cli import check_data_main as main

    raise SystemExit(run_command(main))
