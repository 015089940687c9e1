"""`python scripts/eval_perception.py --run RUN --data DIR --split validation`."""
from perception.cli import eval_main
from qa_data.runtime.command import run_command

if __name__ == "__main__":
    raise SystemExit(run_command(eval_main))
