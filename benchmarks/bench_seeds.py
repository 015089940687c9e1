"""Seed spread of the ODDN variants' decomposition: does a result of one training run hold on another seed?

    python benchmarks/bench_seeds.py --data runs/reproduce/data --frame-cache runs/reproduce/frame_cache \\
        --work runs/seeds --seeds 1 --variants oddn oddn_no_relation \\
        --add "oddn seed 0=runs/reproduce/perception/oddn" \\
        --add "oddn_no_relation seed 0=runs/reproduce/perception/oddn_no_relation" --docs docs/learning/seeds

Trains `configs/perception/oddn_cpu.yaml` for every variant x seed (`oddn.variant=<variant>`,
`train.seed=<seed>`, `train.steps=<steps>`) into `<work>/<variant>_s<seed>`, one run at a time. A run whose
final evaluation is recorded is skipped, and an interrupted one continues from its newest checkpoint.
`--add NAME=RUN` puts an existing run (for example the reproduction's seed 0) into the tables.

Writes into `--docs`:
    curves.csv              every run's validation metrics against step and training minutes
    final.md                each run's last evaluation; per variant, the mean and range over its runs
    learning_curves.png     FG-ARI, ARI and MSE per frame against minutes and steps, one line per run
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from perception.evaluate import EvaluationRecord  # noqa: E402
from perception.learning_curves import curve_figure, curve_table, final_table  # noqa: E402

PRESET = REPO / "configs/perception/oddn_cpu.yaml"


def train(variant: str, seed: int, steps: int, data: Path, cache: Path | None, out: Path) -> Path:
    """One variant x seed trained to `steps` (skipped when its final evaluation is recorded)."""
    record = EvaluationRecord.load(out)
    if record is not None and record.step == steps:
        return out
    overrides = [] if variant == "oddn" else [f"oddn.variant={variant}"]
    overrides += [f"train.steps={steps}", f"train.seed={seed}"]
    if cache is not None:
        overrides.append(f"frames.cache_dir={cache}")
    cmd = [sys.executable, "scripts/train_perception.py", "--config", PRESET, "--data", data, "--out", out,
           *overrides]
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=REPO, check=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="CLEVRER-sim root (videos of the CPU regime)")
    ap.add_argument("--frame-cache", type=Path, default=None, help="frames.cache_dir shared with other runs")
    ap.add_argument("--work", type=Path, default=REPO / "runs/seeds")
    ap.add_argument("--variants", nargs="+", default=["oddn", "oddn_no_relation"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--add", action="append", default=[], metavar="NAME=RUN", help="an existing run to tabulate")
    ap.add_argument("--docs", type=Path, default=REPO / "docs/learning/seeds")
    ap.add_argument("--report-only", action="store_true", help="only rebuild the tables and figure")
    args = ap.parse_args()

    runs = {}
    for item in args.add:
        name, _, run = item.partition("=")
        if not run or not Path(run).is_dir():
            ap.error(f"--add {item!r}: expected NAME=RUN with RUN a run directory")
        runs[name] = Path(run)
    for variant in args.variants:
        for seed in args.seeds:
            out = args.work / f"{variant}_s{seed}"
            if not args.report_only:
                train(variant, seed, args.steps, args.data, args.frame_cache, out)
            runs[f"{variant} seed {seed}"] = out
    curves = curve_table(runs)
    args.docs.mkdir(parents=True, exist_ok=True)
    curves.to_csv(args.docs / "curves.csv", index=False)
    final = final_table(curves)
    (args.docs / "final.md").write_text("# Final validation metrics per run, and per variant over runs\n\n"
                                        + final.to_markdown(index=False) + "\n")
    curve_figure(curves, args.docs / "learning_curves.png", target=0.8)
    print(final.to_markdown(index=False))


if __name__ == "__main__":
    main()
