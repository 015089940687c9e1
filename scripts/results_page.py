"""`python scripts/results_page.py --run runs/demo --out docs/demo_results.md [--ablation runs/demo/qa]`."""
from qa_data.runtime.command import run_command
from reasoning.cli import results_page_main

if __name__ == "__main__":
    raise SystemExit(run_command(results_page_main))
