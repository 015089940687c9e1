"""`python scripts/results_page.py --run runs/demo --out docs/demo_results.md [--ablation runs/demo/qa]`."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from pipelines.cli import results_page_main

    raise SystemExit(run_command(results_page_main))
