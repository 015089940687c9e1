"""Learning benchmark: do the perception models learn to decompose scenes within a CPU budget?

    python benchmarks/bench_learning.py [--models iodine oddn provide] [--work runs/learning]
                                        [--docs docs/learning] [--report-only]

For each model, trains its CPU-regime preset (`configs/perception/<model>_cpu.yaml`) on the CPU-regime
data (`configs/data/clevrer_sim_cpu.yaml`, generated into `<work>/data` if missing), one model at a
time. Every stage resumes: rerunning the command continues an interrupted training from its newest
checkpoint and skips what is finished, so one model can be run (or extended) at a time with
`--models`. The presets evaluate on the validation split during training (`train.eval_every`), which
gives the curves.

SEQ-IODINE (PROVIDE's sequential baseline) is the trained IODINE run over videos with one refinement
per frame; it is scored with PROVIDE at `--video-frames` consecutive frames
(`scripts/eval_video_decomposition.py`).

Writes into `--docs`:
    curves.csv / curves.md        FG-ARI, ARI and MSE per frame (and FG-ARI per video) against step and
                                  training minutes, every model
    learning_curves.png           the same against training minutes and against steps
    decomposition_<model>.png     the final evaluation's decomposition figure
    prediction_oddn.md            ODDN's predicted frames against "repeat the last frame"
    video_decomposition.md        PROVIDE vs SEQ-IODINE (and IODINE) per-video F-ARI at --video-frames
    targets.md                    the issue's targets, each reached or not, with the measured figure
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from perception.learning_curves import METRICS, curve_table  # noqa: E402
from perception.learning_curves import curve_figure as draw_curves  # noqa: E402

MODELS = ("iodine", "oddn", "provide")
TARGET_FG_ARI = 0.80


def _run(cmd: list[str]) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=REPO, check=True)


def ensure_data(data: Path, preset: Path, workers: int) -> None:
    """Generates the CPU-regime dataset (videos only) unless its manifest says it is complete."""
    _run([sys.executable, "scripts/generate_data.py", "--preset", preset, "--out", data, "--no-questions",
          "--workers", workers])  # resumes; a finished dataset is only checked


def train(model: str, data: Path, work: Path, overrides: list[str]) -> Path:
    run = work / model
    _run([sys.executable, "scripts/train_perception.py", "--config", REPO / f"configs/perception/{model}_cpu.yaml",
          "--data", data, "--out", run, *overrides])
    return run


def video_eval(runs: list[Path], data: Path, work: Path, frames: int, videos: int) -> Path:
    out = work / f"video_decomposition_{frames}"
    if not (out / "table1.csv").is_file():
        _run([sys.executable, "scripts/eval_video_decomposition.py", "--runs", *runs, "--data", data,
              "--split", "validation", "--lengths", frames, "--num-videos", videos, "--out", out])
    return out


def curves(work: Path, models: list[str]) -> pd.DataFrame:
    table = curve_table({m: work / m for m in models})
    return pd.DataFrame() if table.empty else table


def curve_figure(table: pd.DataFrame, path: Path) -> None:
    """Three metrics against training minutes (top) and steps (bottom), one line per model."""
    draw_curves(table, path, TARGET_FG_ARI)


def _last(table: pd.DataFrame, model: str) -> pd.Series | None:
    rows = table[table.model == model]
    return None if rows.empty else rows.sort_values("step").iloc[-1]


def targets(table: pd.DataFrame, prediction: pd.DataFrame | None, video: pd.DataFrame | None) -> pd.DataFrame:
    """The issue's targets, each with the measured figure and whether it is reached (None: not measured)."""
    rows = []
    for m in ("iodine", "oddn"):
        last = _last(table, m)
        value = None if last is None else float(last["FG-ARI (per frame)"])
        rows.append({"target": f"{m} FG-ARI per frame >= {TARGET_FG_ARI} within its budget",
                     "measured": "not run" if value is None else f"{value:.3f} at step {int(last.step)} "
                     f"({last.train_minutes:.0f} min)", "reached": None if value is None else value >= TARGET_FG_ARI})
    both = table[table.model.isin(["iodine", "oddn"])]
    common = sorted(set(both[both.model == "iodine"].step) & set(both[both.model == "oddn"].step))
    if common:
        def pair(s):
            io = both[(both.model == "iodine") & (both.step == s)].iloc[0]
            od = both[(both.model == "oddn") & (both.step == s)].iloc[0]
            return od, io
        od, io = pair(common[-1])
        rows.append({"target": "ODDN >= IODINE on FG-ARI and MSE at equal training (steps; judged at the last "
                               "common step)",
                     "measured": "; ".join(f"step {s}: FG-ARI {pair(s)[0]['FG-ARI (per frame)']:.3f} vs "
                                           f"{pair(s)[1]['FG-ARI (per frame)']:.3f}, "
                                           f"MSE {pair(s)[0]['MSE (per frame)']:.5f} "
                                           f"vs {pair(s)[1]['MSE (per frame)']:.5f}" for s in common),
                     "reached": bool(od["FG-ARI (per frame)"] >= io["FG-ARI (per frame)"]
                                     and od["MSE (per frame)"] <= io["MSE (per frame)"])})
    else:
        rows.append({"target": "ODDN >= IODINE on FG-ARI and MSE at equal training (steps)",
                     "measured": "not run", "reached": None})
    if video is not None and {"PROVIDE", "SEQ-IODINE"} <= set(video.model):
        p = video[video.model == "PROVIDE"].iloc[0]
        q = video[video.model == "SEQ-IODINE"].iloc[0]
        rows.append({"target": "PROVIDE per-video F-ARI >= SEQ-IODINE's",
                     "measured": f"{p['fg_ari']:.3f} vs {q['fg_ari']:.3f}",
                     "reached": bool(p["fg_ari"] >= q["fg_ari"])})
    else:
        rows.append({"target": "PROVIDE per-video F-ARI >= SEQ-IODINE's", "measured": "not run", "reached": None})
    if prediction is not None and "oddn" in prediction:
        beats = prediction.oddn < prediction["repeat last frame"]
        rows.append({"target": "ODDN's predicted frames beat 'repeat the last frame' at each of 4 steps",
                     "measured": ", ".join(f"step {int(s)}: {o:.5f} vs {r:.5f}" for s, o, r in
                                           zip(prediction.step, prediction.oddn, prediction["repeat last frame"])),
                     "reached": bool(beats.all())})
    else:
        rows.append({"target": "ODDN's predicted frames beat 'repeat the last frame' at each of 4 steps",
                     "measured": "not run", "reached": None})
    out = pd.DataFrame(rows)
    out["reached"] = out.reached.map({True: "yes", False: "**no**", None: "-"})
    return out


def final_eval_dir(run: Path) -> Path | None:
    evals = sorted((run / "eval").glob("validation_step_*"), key=lambda p: int(p.name.rsplit("_", 1)[1]))
    return evals[-1] if evals else None


def video_rows(out: Path, frames: int) -> pd.DataFrame | None:
    """Per-video F-ARI, ARI and MSE of each model at `frames` frames, from the length evaluation."""
    path = out / "lengths.csv"
    if not path.is_file():
        return None
    t = pd.read_csv(path)
    t = t[t.length == frames] if "length" in t else t
    return t


def report(work: Path, docs: Path, models: list[str], frames: int) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    table = curves(work, models)
    if table.empty:
        print("nothing trained yet")
        return
    cols = ["model", "step", "train_minutes"] + [m for m in METRICS if m in table]
    table = table[cols]
    table.to_csv(docs / "curves.csv", index=False)
    (docs / "curves.md").write_text("# Learning curves (validation, during training)\n\n"
                                    + table.to_markdown(index=False, floatfmt=".4f") + "\n")
    curve_figure(table, docs / "learning_curves.png")
    prediction = None
    for m in models:
        ev = final_eval_dir(work / m)
        if ev is None:
            continue
        if (ev / "decomposition.png").is_file():
            shutil.copy(ev / "decomposition.png", docs / f"decomposition_{m}.png")
        if (ev / "prediction.md").is_file():
            shutil.copy(ev / "prediction.md", docs / f"prediction_{m}.md")
            if m == "oddn":
                prediction = pd.read_csv(ev / "prediction.csv").head(4)
    video = video_rows(work / f"video_decomposition_{frames}", frames)
    if video is not None:
        shutil.copy(work / f"video_decomposition_{frames}" / "table1.md", docs / "video_decomposition.md")
    t = targets(table, prediction, video)
    (docs / "targets.md").write_text("# Targets of the learning benchmark (2 CPU cores)\n\n"
                                     + t.to_markdown(index=False) + "\n")
    print(table.to_markdown(index=False, floatfmt=".4f"))
    print()
    print(t.to_markdown(index=False))
    print(f"written to {docs}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--work", type=Path, default=REPO / "runs/learning")
    ap.add_argument("--data", type=Path, default=None, help="dataset root (default: <work>/data, generated)")
    ap.add_argument("--data-preset", type=Path, default=REPO / "configs/data/clevrer_sim_cpu.yaml")
    ap.add_argument("--docs", type=Path, default=REPO / "docs/learning")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--video-frames", type=int, default=16, help="frames of the PROVIDE vs SEQ-IODINE comparison")
    ap.add_argument("--video-videos", type=int, default=20, help="validation videos of that comparison")
    ap.add_argument("--report-only", action="store_true", help="only rebuild the tables and figures")
    ap.add_argument("overrides", nargs="*", help="overrides for every model's preset, e.g. train.steps=100")
    args = ap.parse_args()
    data = args.data or args.work / "data"
    if not args.report_only:
        ensure_data(data, args.data_preset, args.workers)
        for m in args.models:
            train(m, data, args.work, args.overrides)
        runs = [args.work / m for m in ("iodine", "provide") if (args.work / m / "checkpoints").is_dir()]
        if len(runs) == 2:
            video_eval(runs, data, args.work, args.video_frames, args.video_videos)
    report(args.work, args.docs, list(MODELS), args.video_frames)


if __name__ == "__main__":
    main()
