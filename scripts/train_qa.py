"""QA training:

    accelerate launch scripts/train_qa.py --config configs/qa/aloe_tiny.yaml --slots SLOTS_DIR --data DIR --out QA_RUN
"""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from reasoning.cli import train_main

    raise SystemExit(run_command(train_main))
