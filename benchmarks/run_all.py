"""Runs every benchmark and prints its table: the CLEVRER-sim generator, question generation, IODINE, ODDN and PROVIDE training, slot extraction, QA training."""
import runpy
from pathlib import Path

if __name__ == "__main__":
    for script in ["bench_generator.py", "bench_questions.py", "bench_iodine.py", "bench_oddn.py", "bench_provide.py", "bench_extract.py", "bench_qa.py"]:
        print(f"## {script}")
        runpy.run_path(str(Path(__file__).with_name(script)), run_name="__main__")
