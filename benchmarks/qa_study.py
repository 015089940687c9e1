"""What makes ALOE learn from ground-truth states within a CPU budget: named QA runs (a base preset
plus overrides, listed in `benchmarks/qa_study.yaml`), one thread each, `--jobs` at a time,
resumable (a finished run is only read back), summarised in one table with the command of each run.

    python benchmarks/qa_study.py --data DATA --states STATES --out DIR [--study benchmarks/qa_study.yaml]
                                  [--only NAME,NAME] [--jobs 2]

Writes `DIR/study.md` and `study.csv`: per run its overrides, parameters, steps, questions seen, wall
minutes, training questions/s (from the run's log `DIR/NAME.log`), and the validation accuracy of every
type (per question, with the 95 % binomial interval), plus each run's learning curves
(`DIR/NAME/learning_curves.png`) and every run's validation curves side by side against training minutes
and questions seen (`DIR/study_curves.png`, `.csv`). Runs that shared the machine (`--jobs 2`, or
`shared: true` in the study file) say so in the `shared` column: their times are not those of a run alone.

A run with `minutes: M` in the study file trains for a wall-clock budget instead of a fixed step count
(the capacity study at equal compute): a short calibration run of the same command (`DIR/NAME.calibration`,
under the same `--jobs`) measures its questions/s, and the run gets the steps that fill M minutes at that
rate (its cosine schedule ends there), with `evals` evaluations on the way (default 6). The steps are
kept in `DIR/NAME.steps.json`, so a rerun resumes the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import yaml

from reasoning.curves import runs_figure

REPO = Path(__file__).resolve().parents[1]
TRAINED = re.compile(r"trained QA to step \d+ in (\d+) s \(([\d.]+) questions/s\)")
CALIBRATION_STEPS = 300
TYPES = ("descriptive", "explanatory", "predictive", "counterfactual")  # study.md's accuracy columns


def run_command(base: str, data: Path, states: Path, out: Path, overrides: list[str]) -> list[str]:
    return [sys.executable, str(REPO / "scripts" / "train_qa.py"), "--config", base, "--slots", str(states),
            "--data", str(data), "--out", str(out), *overrides]


def train(cmd: list[str], log: Path) -> float:
    """Runs one training command with one thread; returns its wall seconds (0 when already finished)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t = time.perf_counter()
    with open(log, "a") as f:
        done = subprocess.run(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode:
        raise RuntimeError(f"{shlex.join(cmd)} failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - t


def budget_steps(entry: dict, cmd: list[str], out: Path) -> list[str]:
    """The step overrides that fill `entry["minutes"]` of training at the rate a calibration run measures."""
    name, kept = entry["name"], out / f"{entry['name']}.steps.json"
    if kept.is_file():
        steps = json.loads(kept.read_text())["steps"]
    else:
        calib = out / f"{name}.calibration"
        calib_cmd = [*cmd[:cmd.index("--out") + 1], str(calib), *cmd[cmd.index("--out") + 2:],
                     f"train.steps={CALIBRATION_STEPS}", "train.eval_every=0",
                     f"train.checkpoint_every={CALIBRATION_STEPS}"]
        log = out / f"{name}.calibration.log"
        train(calib_cmd, log)
        found = TRAINED.findall(log.read_text())
        if not found:
            raise RuntimeError(f"{log}: no 'trained QA to step' line to read the calibration's rate from")
        rate = float(found[-1][1])  # questions/s
        batch = yaml.safe_load((calib / "config.yaml").read_text())["train"]["batch_size"]
        steps = max(CALIBRATION_STEPS, int(entry["minutes"] * 60 * rate / batch))
        kept.write_text(json.dumps({"steps": steps, "questions_per_second": rate, "minutes": entry["minutes"]}))
    every = max(1, steps // int(entry.get("evals", 6)))
    steps = every * (steps // every)  # the last evaluation is the final one, not one a few steps before it
    return [f"train.steps={steps}", f"train.eval_every={every}", f"train.checkpoint_every={every}"]


def parameters(run: Path) -> int:
    """The trained model's parameter count."""
    from reasoning.train import load_qa_run

    model = load_qa_run(run)[0]
    return sum(p.numel() for p in model.parameters())


def row_of(name: str, run: Path, entry: dict, cmd: list[str], shared: bool) -> dict:
    """The summary row of a finished run, read from its files."""
    steps = max(int(p.name.split("_")[-1]) for p in (run / "eval").glob("validation_step_*"))
    acc = pd.read_csv(run / "eval" / f"validation_step_{steps}" / "accuracy.csv").set_index("type")
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines() if line.strip()]
    trained = TRAINED.findall((run.parent / f"{name}.log").read_text())  # the first: the training run
    seconds, rate = (float(trained[0][0]), float(trained[0][1])) if trained else (float("nan"), float("nan"))
    row = {"run": name, "note": entry.get("note", ""), "overrides": " ".join(entry.get("overrides", [])),
           "parameters": parameters(run), "budget minutes": entry.get("minutes", float("nan")), "steps": steps,
           "questions seen": max(r.get("questions_seen", 0) for r in log),
           "minutes": round(seconds / 60, 1), "questions/s": round(rate), "shared": shared,
           "command": shlex.join([Path(cmd[0]).name, *[str(c).replace(str(REPO) + "/", "") for c in cmd[1:]]])}
    for t in TYPES:
        if t in acc.index:
            r = acc.loc[t]
            row[t] = f"{r.per_question:.1f} [{r.per_question_lo:.1f}, {r.per_question_hi:.1f}]"
            row[f"{t} n"] = int(r.questions)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="CLEVRER(-sim) root with questions")
    ap.add_argument("--states", type=Path, required=True, help="state cache (scripts/extract_states.py)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--study", type=Path, default=REPO / "benchmarks" / "qa_study.yaml",
                    help="the runs (benchmarks/qa_capacity.yaml: width and depth at equal minutes)")
    ap.add_argument("--only", help="comma-separated run names (default: all)")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once, one thread each")
    args = ap.parse_args()
    study = yaml.safe_load(args.study.read_text())
    entries = study["runs"]
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - {e["name"] for e in entries})
        if unknown:
            raise SystemExit(f"--only: no runs named {unknown} in {args.study}")
        entries = [e for e in entries if e["name"] in wanted]
    args.out.mkdir(parents=True, exist_ok=True)
    cmds = {e["name"]: run_command(e.get("base", study["base"]), args.data, args.states, args.out / e["name"],
                                   [*study.get("overrides", []), *e.get("overrides", [])]) for e in entries}

    def one(entry: dict) -> None:
        name = entry["name"]
        run = args.out / name
        run.mkdir(parents=True, exist_ok=True)
        if "minutes" in entry:
            cmds[name] += budget_steps(entry, cmds[name], args.out)
        seconds = train(cmds[name], args.out / f"{name}.log")  # a finished run is only evaluated again
        print(f"{name}: done in {seconds:.0f} s", flush=True)

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        list(pool.map(one, entries))
    rows = [row_of(e["name"], args.out / e["name"], e, cmds[e["name"]], args.jobs > 1) for e in entries]
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "study.csv", index=False)
    curves = runs_figure({e["name"]: args.out / e["name"] / "train_log.jsonl" for e in entries},
                         args.out / "study_curves.png", "validation", ("minutes", "questions_seen"))
    if curves is not None:
        curves.to_csv(args.out / "study_curves.csv", index=False)
    show = table.drop(columns=["command"])
    study = args.study.relative_to(REPO) if args.study.is_relative_to(REPO) else args.study
    md = ["# QA study on ground-truth states\n",
          f"Data `{args.data}`, states `{args.states}`, study `{study}`; "
          "validation accuracy per question (%) with its 95 % binomial interval.\n",
          show.to_markdown(index=False), "\n## Commands\n"]
    md += [f"- `{r['run']}`: `{r['command']}`" for r in rows]
    (args.out / "study.md").write_text("\n".join(md) + "\n")
    print(show.to_markdown(index=False))


if __name__ == "__main__":
    main()
