"""PROVIDE Table 1:

    python scripts/eval_video_decomposition.py --runs IODINE_RUN PROVIDE_RUN --data DIR --split test \\
        --lengths 10 20 30 40 --out DIR
"""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from perception.cli import lengths_main

    raise SystemExit(run_command(lengths_main))
