"""`python scripts/eval_prediction.py --runs RUN_A RUN_B ... --data DIR --out DIR [eval.k=v ...]`."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from perception.cli import prediction_main

    raise SystemExit(run_command(prediction_main))
