"""The representation ablation:

    python scripts/ablate.py --config configs/qa/aloe_tiny.yaml --data DIR --out DIR \\
        --source ODDN=SLOTS_DIR --source 'ODDN -dyn=SLOTS_DIR:static'
"""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from reasoning.cli import ablate_main

    raise SystemExit(run_command(ablate_main))
