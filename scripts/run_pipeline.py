"""The README's main job: `python scripts/run_pipeline.py --out runs/demo`."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from pipelines.cli import pipeline_main as main

    raise SystemExit(run_command(main))
