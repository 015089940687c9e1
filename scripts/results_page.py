"""`python scripts/results_page.py --run runs/demo --out docs/results.md [--ablation runs/demo/qa]`."""
from reasoning.cli import results_page_main

if __name__ == "__main__":
    raise SystemExit(results_page_main())
