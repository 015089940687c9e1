"""`python scripts/eval_perception.py --run RUN --data DIR --split validation`."""
from perception.cli import eval_main

if __name__ == "__main__":
    raise SystemExit(eval_main())
