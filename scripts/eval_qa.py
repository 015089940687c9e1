"""`python scripts/eval_qa.py --run QA_RUN --split validation`."""
from reasoning.cli import eval_main

if __name__ == "__main__":
    raise SystemExit(eval_main())
