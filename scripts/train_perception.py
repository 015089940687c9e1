"""`accelerate launch scripts/train_perception.py --config configs/perception/iodine_tiny.yaml --data DIR --out RUN`."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from perception.cli import train_main

    raise SystemExit(run_command(train_main))
