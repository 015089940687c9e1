"""Learning curves of perception runs: the validation metrics each run's evaluations logged during
training (`RUN/eval_curve.csv`), gathered into one table and drawn against training minutes and steps."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from perception.figures import save_figure  # noqa: E402

METRICS = ("FG-ARI (per frame)", "ARI (per frame)", "MSE (per frame)", "FG-ARI (per video)")


def curve_table(runs: dict[str, Path]) -> pd.DataFrame:
    """Long table over runs (name -> run directory): model, step, train_minutes and every metric the
    evaluations wrote. Runs without evaluations yet are left out."""
    frames = []
    for name, run in runs.items():
        path = Path(run) / "eval_curve.csv"
        if path.is_file():
            c = pd.read_csv(path)
            c.insert(0, "model", name)
            c["train_minutes"] = (c.train_seconds / 60).round(2)
            frames.append(c)
    if not frames:
        return pd.DataFrame(columns=["model", "step", "train_minutes", *METRICS])
    table = pd.concat(frames, ignore_index=True)
    return table[["model", "step", "train_minutes"] + [m for m in METRICS if m in table]]


def final_table(curves: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
    """The last evaluation of every run, then per variant (the run name up to ' seed') the mean and range
    over the runs that reached the variant's last step; with `threshold`, also how many of those runs reach
    it in FG-ARI per frame (column `>= threshold`)."""
    last = curves.loc[curves.groupby("model", sort=False).step.idxmax()]
    rows = pd.DataFrame({"run": last.model, "step": last.step, "minutes": last.train_minutes.map("{:.1f}".format),
                         "FG-ARI": last["FG-ARI (per frame)"].map("{:.3f}".format),
                         "MSE": last["MSE (per frame)"].map("{:.5f}".format)})
    summary = []
    for variant, g in last.groupby(last.model.str.split(" seed").str[0], sort=False):
        done = g[g.step == g.step.max()]
        row = {"run": f"**{variant}: mean [min, max] of {len(done)} run(s)**", "step": int(done.step.max()),
               "minutes": ""}
        for col, metric, fmt in (("FG-ARI", "FG-ARI (per frame)", "{:.3f}"), ("MSE", "MSE (per frame)", "{:.5f}")):
            v = done[metric]
            row[col] = f"{fmt.format(v.mean())} [{fmt.format(v.min())}, {fmt.format(v.max())}]"
        if threshold is not None:
            row[f">= {threshold:g}"] = f"{int((done['FG-ARI (per frame)'] >= threshold).sum())} of {len(done)}"
        summary.append(row)
    table = pd.concat([rows, pd.DataFrame(summary)], ignore_index=True)
    return table.fillna("") if threshold is not None else table


DIAGNOSTICS = ("diag/slots_used", "diag/largest_share", "diag/mask_entropy", "diag/latent_spread",
               "train/kl", "train/grad_norm", "diag/grad_decoder", "diag/grad_refiner")


def diagnostic_table(runs: dict[str, Path], window: int = 250) -> pd.DataFrame:
    """The training diagnostics each run logged (`RUN/train_log.jsonl`, perception.diagnostics), averaged over
    windows of `window` steps: model, step (the window's end) and one column per logged diagnostic."""
    frames = []
    for name, run in runs.items():
        path = Path(run) / "train_log.jsonl"
        if not path.is_file() or path.stat().st_size == 0:
            continue
        log = pd.read_json(path, lines=True)
        cols = [c for c in DIAGNOSTICS if c in log]
        if not cols:
            continue
        log["step"] = ((log.step - 1) // window + 1) * window
        means = log.groupby("step")[cols].mean().reset_index()
        means.insert(0, "model", name)
        frames.append(means)
    if not frames:
        return pd.DataFrame(columns=["model", "step"])
    return pd.concat(frames, ignore_index=True)


def diagnostic_figure(table: pd.DataFrame, path: Path) -> Path:
    """Every diagnostic of `diagnostic_table` against steps, one line per run (log scale for gradient norms)."""
    cols = [c for c in DIAGNOSTICS if c in table]
    ncol = 4
    nrow = max(1, -(-len(cols) // ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.0 * ncol, 3.2 * nrow), squeeze=False)
    for ax, col in zip(axes.flat, cols):
        for model, rows in table.groupby("model", sort=False):
            ax.plot(rows.step, rows[col], lw=1.2, label=model)
        if "grad" in col:
            ax.set_yscale("log")
        ax.set_title(col, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    axes[0][0].legend(fontsize=6)
    return save_figure(fig, path)


def curve_figure(table: pd.DataFrame, path: Path, target: float | None = None) -> Path:
    """Three metrics against training minutes (top) and steps (bottom), one line per model; `target`
    draws a dashed line on the FG-ARI panels."""
    panels = [m for m in METRICS[:3] if m in table]
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 6.4), squeeze=False)
    for row, (x, label) in enumerate([("train_minutes", "training minutes (2 CPU cores)"), ("step", "step")]):
        for ax, metric in zip(axes[row], panels):
            for model, rows in table.groupby("model", sort=False):
                ax.plot(rows[x], rows[metric], marker="o", ms=3, label=model)
            if target is not None and metric.startswith("FG-ARI"):
                ax.axhline(target, color="grey", ls="--", lw=0.8, label=f"target {target:.2f}")
            ax.set_xlabel(label)
            ax.set_title(metric, fontsize=9)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, path)
