"""`python scripts/eval_qa.py --run QA_RUN --split validation`."""
from qa_data.runtime.command import run_command
from reasoning.cli import eval_main

if __name__ == "__main__":
    raise SystemExit(run_command(eval_main))
