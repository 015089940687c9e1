"""Seed spread of a perception training recipe: does a decomposition of one training run hold on other seeds?

    # the study of issue 31: each candidate setting over 3 training seeds, 2 runs at a time
    python benchmarks/bench_seeds.py --config configs/perception/iodine_cpu.yaml --data runs/reproduce/data \\
        --frame-cache runs/reproduce/frame_cache --work runs/seed_study --seeds 0 1 2 --steps 3000 --jobs 2 \\
        --candidate "baseline=" --candidate "dm_adam=train.adam_betas=[0.95,0.999] train.lr=0.00035" \\
        --threshold 0.7 --docs docs/learning/seed_study

    # ODDN's variants (the default config is oddn_cpu): --variants is a shorthand for oddn.variant candidates
    python benchmarks/bench_seeds.py --data runs/reproduce/data --work runs/seeds --seeds 1 \\
        --variants oddn oddn_no_relation --add "oddn_no_relation seed 0=runs/reproduce/perception/oddn_no_relation"

Trains `--config` for every candidate x seed (the candidate's overrides, then `train.seed=<seed>`,
`train.steps=<steps>`) into `<work>/<candidate>_s<seed>`. A run whose final evaluation is recorded is skipped,
and an interrupted one continues from its newest checkpoint. `--jobs N` trains N runs at a time, each with
cores / N threads. `--add NAME=RUN` puts an existing run into the tables.

Writes into `--docs`:
    curves.csv              every run's validation metrics against step and training minutes
    final.md                each run's last evaluation; per candidate, the mean and range over its runs (and with
                            --threshold, how many runs reach that FG-ARI per frame)
    learning_curves.png     FG-ARI, ARI and MSE per frame against minutes and steps, one line per run
    diagnostics.csv/.png    what each run logged about its slots and gradients (perception.diagnostics), per 250 steps
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from perception.evaluate import EvaluationRecord  # noqa: E402
from perception.learning_curves import (  # noqa: E402
    curve_figure,
    curve_table,
    diagnostic_figure,
    diagnostic_table,
    final_table,
)

PRESET = REPO / "configs/perception/oddn_cpu.yaml"


def command(config: Path, overrides: list[str], seed: int, steps: int, data: Path, cache: Path | None,
            out: Path) -> list[str] | None:
    """The training command of one candidate x seed, or None when its final evaluation is recorded."""
    record = EvaluationRecord.load(out)
    if record is not None and record.step == steps:
        return None
    overrides = [*overrides, f"train.steps={steps}", f"train.seed={seed}"]
    if cache is not None:
        overrides.append(f"frames.cache_dir={cache}")
    return [sys.executable, "scripts/train_perception.py", "--config", str(config), "--data", str(data),
            "--out", str(out), *overrides]


def run_all(commands: list[tuple[list[str], Path]], jobs: int) -> None:
    """Runs the commands, `jobs` at a time (a free slot takes the next one), each with cores / jobs threads, its
    output in its log; after a failure no further command starts, and the first failure is reported."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    failed: list[str] = []

    def one(cmd: list[str], log: Path) -> None:
        if failed:
            return
        log.parent.mkdir(parents=True, exist_ok=True)
        print("+", " ".join(cmd), f"> {log}", flush=True)
        with open(log, "a") as f:
            code = subprocess.run(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
        if code:
            failed.append(f"failed (exit {code}): {' '.join(cmd)}; see {log}")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(lambda c: one(*c), commands))
    if failed:
        raise SystemExit(failed[0])


def parse_candidates(items: list[str], variants: list[str] | None) -> dict[str, list[str]]:
    """NAME=overrides (space-separated key=value) -> {name: [override, ...]}."""
    candidates: dict[str, list[str]] = {}
    for variant in variants or []:
        candidates[variant] = [] if variant == "oddn" else [f"oddn.variant={variant}"]
    for item in items:
        name, sep, rest = item.partition("=")
        if not sep or not name or " " in name:
            raise SystemExit(f"--candidate {item!r}: expected NAME=key=value key=value ... (NAME without spaces)")
        candidates[name] = rest.split()
    return candidates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=PRESET, help="the perception preset every candidate starts from")
    ap.add_argument("--data", type=Path, required=True, help="CLEVRER-sim root (videos of the CPU regime)")
    ap.add_argument("--frame-cache", type=Path, default=None, help="frames.cache_dir shared with other runs")
    ap.add_argument("--work", type=Path, default=REPO / "runs/seeds")
    ap.add_argument("--candidate", action="append", default=[], metavar="NAME=OVERRIDES",
                    help="a setting to study, e.g. 'dm_adam=train.adam_betas=[0.95,0.999] train.lr=0.00035'")
    ap.add_argument("--variants", nargs="+", default=None, help="shorthand: one candidate per oddn.variant")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--jobs", type=int, default=1, help="runs trained at a time")
    ap.add_argument("--threshold", type=float, default=None, help="count the runs that reach this FG-ARI per frame")
    ap.add_argument("--add", action="append", default=[], metavar="NAME=RUN", help="an existing run to tabulate")
    ap.add_argument("--docs", type=Path, default=REPO / "docs/learning/seeds")
    ap.add_argument("--report-only", action="store_true", help="only rebuild the tables and figures")
    args = ap.parse_args()
    if args.jobs < 1:
        ap.error("--jobs must be >= 1")
    candidates = parse_candidates(args.candidate, args.variants if args.variants or args.candidate else ["oddn"])

    runs = {}
    for item in args.add:
        name, _, run = item.partition("=")
        if not run or not Path(run).is_dir():
            ap.error(f"--add {item!r}: expected NAME=RUN with RUN a run directory")
        runs[name] = Path(run)
    commands = []
    for name, overrides in candidates.items():
        for seed in args.seeds:
            out = args.work / f"{name}_s{seed}"
            runs[f"{name} seed {seed}"] = out
            cmd = command(args.config, overrides, seed, args.steps, args.data, args.frame_cache, out)
            if cmd is not None and not args.report_only:
                commands.append((cmd, args.work / "logs" / f"{name}_s{seed}.log"))
    run_all(commands, args.jobs)

    args.docs.mkdir(parents=True, exist_ok=True)
    curves = curve_table(runs)
    curves.to_csv(args.docs / "curves.csv", index=False)
    final = final_table(curves, args.threshold)
    (args.docs / "final.md").write_text("# Final validation metrics per run, and per candidate over runs\n\n"
                                        + final.to_markdown(index=False) + "\n")
    curve_figure(curves, args.docs / "learning_curves.png", target=args.threshold or 0.8)
    diagnostics = diagnostic_table(runs)
    diagnostics.to_csv(args.docs / "diagnostics.csv", index=False)
    if len(diagnostics):
        diagnostic_figure(diagnostics, args.docs / "diagnostics.png")
    print(final.to_markdown(index=False))


if __name__ == "__main__":
    main()
