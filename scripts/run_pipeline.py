"""The README's main job: `python scripts/run_pipeline.py --out runs/demo`."""
from qa_data.runtime.command import run_command
from reasoning.pipeline import main

if __name__ == "__main__":
    raise SystemExit(run_command(main))
