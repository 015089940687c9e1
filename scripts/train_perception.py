"""`accelerate launch scripts/train_perception.py --config configs/perception/iodine_tiny.yaml --data DIR --out RUN`."""
from perception.cli import train_main

if __name__ == "__main__":
    raise SystemExit(train_main())
