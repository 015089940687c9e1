"""Learning curves of a QA run: training and validation accuracy per question type against the
questions seen, read from the run's `train_log.jsonl` and drawn as one PNG."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from qa_data.clevrer.questions import QUESTION_TYPES  # noqa: E402

# validation columns (summary_row names) of each type's per-question accuracy
EVAL_COLUMN = {"descriptive": "eval/Descriptive", "explanatory": "eval/Explanatory per ques.",
               "predictive": "eval/Predictive per ques.", "counterfactual": "eval/Counterfactual per ques."}


def read_log(log_path: Path) -> pd.DataFrame:
    """The run's log records, one row per (step, record kind); a later record of a step replaces an
    earlier one (a resumed run logs its final evaluation again)."""
    rows = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows)


def learning_curve_table(log_path: Path) -> pd.DataFrame:
    """Long table: questions_seen, step, minutes (training minutes at that step, evaluations excluded; NaN in
    logs written before they were recorded), type, split (train | validation), accuracy (%)."""
    log = read_log(log_path)
    if "train_seconds" not in log:
        log["train_seconds"] = float("nan")
    out = []
    for t in QUESTION_TYPES:
        for split, col in (("train", f"train/acc_{t}"), ("validation", EVAL_COLUMN[t])):
            if col not in log:
                continue
            g = log[["step", "questions_seen", "train_seconds", col]].dropna(subset=[col])
            g = g.drop_duplicates("step", keep="last")
            out += [{"questions_seen": int(r.questions_seen), "step": int(r.step), "minutes": r.train_seconds / 60,
                     "type": t, "split": split, "accuracy": float(r[col])} for _, r in g.iterrows()]
    return pd.DataFrame(out, columns=["questions_seen", "step", "minutes", "type", "split", "accuracy"])


def type_signal_table(log_path: Path) -> pd.DataFrame:
    """Long table: questions_seen, step, type, loss (mean training loss per labelled pass since the previous log
    row) and grad_norm (the global gradient norm of the type's loss at the logged step; absent in runs of several
    processes)."""
    log = read_log(log_path)
    out = []
    for t in QUESTION_TYPES:
        cols = [c for c in (f"train/loss_{t}", f"train/grad_norm_{t}") if c in log]
        if not cols:
            continue
        g = log[["step", "questions_seen", *cols]].dropna(subset=cols[:1]).drop_duplicates("step", keep="last")
        out += [{"questions_seen": int(r.questions_seen), "step": int(r.step), "type": t,
                 "loss": float(r[f"train/loss_{t}"]) if f"train/loss_{t}" in r else float("nan"),
                 "grad_norm": float(r.get(f"train/grad_norm_{t}", float("nan")))} for _, r in g.iterrows()]
    return pd.DataFrame(out, columns=["questions_seen", "step", "type", "loss", "grad_norm"])


def plot_learning_curves(log_path: Path, out_png: Path, title: str) -> pd.DataFrame:
    """Draws one column per question type: per-question accuracy (train dashed, validation solid) and, below it,
    the type's training loss and gradient norm; writes the curve tables next to the PNG as CSV (`<name>.csv`,
    `<name>_loss.csv`); returns the accuracy table."""
    table = learning_curve_table(log_path)
    signals = type_signal_table(log_path)
    fig, grid = plt.subplots(2, len(QUESTION_TYPES), figsize=(4 * len(QUESTION_TYPES), 6.2), sharex="col")
    for ax, t in zip(grid[1], QUESTION_TYPES):
        g = signals[signals.type == t]
        if len(g):
            ax.plot(g.questions_seen / 1000, g.loss, "-", color="C2", label="training loss")
            measured = g[g.grad_norm.notna()]  # a logged step whose batch held no pass of the type has none
            if len(measured):
                twin = ax.twinx()
                twin.plot(measured.questions_seen / 1000, measured.grad_norm, ":", color="C3", label="gradient norm")
                twin.set_yscale("log")
                if t == QUESTION_TYPES[-1]:
                    twin.set_ylabel("gradient norm of the type's loss (dotted)")
        ax.set_xlabel("questions seen (thousands)")
        ax.grid(alpha=0.3)
    grid[1][0].set_ylabel("training loss (solid)")
    axes = grid[0]
    for ax, t in zip(axes, QUESTION_TYPES):
        for split, style in (("train", "--"), ("validation", "-o")):
            g = table[(table.type == t) & (table.split == split)]
            if len(g):
                ax.plot(g.questions_seen / 1000, g.accuracy, style, ms=3, label=split)
        ax.set_title(t)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy per question (%)")
    for ax in axes:  # the first panel with curves carries the legend (a run may have no question of a type)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right")
            break
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    table.to_csv(Path(out_png).with_suffix(".csv"), index=False)
    signals.to_csv(Path(out_png).with_name(Path(out_png).stem + "_loss.csv"), index=False)
    return table


X_AXES = {"questions_seen": ("questions seen (thousands)", 1000), "minutes": ("training minutes", 1)}


def runs_figure(logs: dict[str, Path], out_png: Path, split: str, xs: tuple[str, ...] = ("questions_seen",)
                ) -> pd.DataFrame | None:
    """Compares runs: one column per question type, one row per x axis (`questions_seen`, `minutes`), one line per
    run (`logs`: name -> its `train_log.jsonl`; a missing log is left out) of the `split` (train | validation)
    per-question accuracy. Returns the long table drawn (with a `run` column), or None when nothing was."""
    tables = [learning_curve_table(log).assign(run=name) for name, log in logs.items() if Path(log).is_file()]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["run", "type", "split"])
    table = table[table.split == split]
    if table.empty:
        return None
    fig, grid = plt.subplots(len(xs), len(QUESTION_TYPES), figsize=(4 * len(QUESTION_TYPES), 3.2 * len(xs) + 0.2),
                             sharey=True, squeeze=False)
    for row, x in zip(grid, xs):
        label, scale = X_AXES[x]
        for ax, t in zip(row, QUESTION_TYPES):
            for name, g in table[table.type == t].groupby("run", sort=False):
                ax.plot(g[x] / scale, g.accuracy, "-o", ms=3, label=name)
            ax.set_title(f"{t} ({split}, per question)", fontsize=9)
            ax.set_xlabel(label)
            ax.set_ylim(0, 100)
            ax.grid(alpha=0.3)
        row[0].set_ylabel("accuracy (%)")
    grid[0][-1].legend(fontsize=7)
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return table
