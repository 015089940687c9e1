"""`accelerate launch scripts/train_perception.py --config configs/perception/iodine_tiny.yaml --data DIR --out RUN`."""
from perception.cli import train_main
from qa_data.runtime.command import run_command

if __name__ == "__main__":
    raise SystemExit(run_command(train_main))
