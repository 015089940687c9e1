"""The README's main job: `python scripts/run_pipeline.py --out runs/demo`."""
from reasoning.pipeline import main

if __name__ == "__main__":
    raise SystemExit(main())
