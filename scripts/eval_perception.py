"""`python scripts/eval_perception.py --run RUN --data DIR --split validation`."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from perception.cli import eval_main

    raise SystemExit(run_command(eval_main))
