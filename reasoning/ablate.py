"""The representation ablation (ODDN Table 2): the QA model trained and evaluated on several feature
sources, several seeds each, summarised as mean +- std per column, with a bar chart."""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from qa_data.config import ConfigError, load_config  # noqa: E402
from qa_data.runtime.accelerator import make_accelerator  # noqa: E402
from qa_data.runtime.run_lock import holds_lock  # noqa: E402
from qa_data.slots.slot_cache import SlotLayout, check_cache_belongs, read_attrs, split_file  # noqa: E402
from reasoning.config import QAConfig  # noqa: E402
from reasoning.evaluate import SUMMARY_COLUMNS, seed_cell  # noqa: E402
from reasoning.train import train_qa  # noqa: E402


@dataclass
class FeatureSource:
    label: str  # row name, e.g. "ODDN", "ODDN -dyn", "IODINE", "blind"
    slots: Path | None  # slot cache folder; None: the blind model
    static_only: bool  # drop the dynamics dims
    preset: Path | None = None  # this row's QA preset; None: the ablation's --config
    preset_overrides: list[str] = field(default_factory=list)  # this row's own overrides, after the ablation's

    @classmethod
    def parse(cls, text: str) -> "FeatureSource":
        """`LABEL=SLOTS_DIR` or `LABEL=SLOTS_DIR:static`."""
        if "=" not in text:
            raise ConfigError(f"--source {text!r}: expected LABEL=SLOTS_DIR[:static]")
        label, path = text.split("=", 1)
        if not label.strip() or not path:
            raise ConfigError(f"--source {text!r}: expected LABEL=SLOTS_DIR[:static] with a label and a folder")
        static = path.endswith(":static")
        return cls(label, Path(path[:-len(":static")] if static else path), static)

    def configure(self, cfg: QAConfig) -> QAConfig:
        """`cfg` as this row trains: without object tokens and the heads that read them (blind), or with the static
        dims only (`static_only`) or all of them. It overrides the presets' and the command line's settings."""
        if self.slots is None:
            return replace(cfg, aloe=replace(cfg.aloe, blind=True, pair_head=False, select_head=False,
                                             collision_head=False, mention_weight=0.0))
        return replace(cfg, data=replace(cfg.data, drop_dynamics=self.static_only))

    def dim(self) -> int | str:
        """Feature dims per slot the QA model sees ("-" when blind)."""
        if self.slots is None:
            return "-"
        return SlotLayout.read(split_file(self.slots, "train")).served_dim(self.static_only)

    def dirname(self) -> str:
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in self.label)


@dataclass
class AblationResult:
    """What an ablation wrote: its Table-2 (formatted), every run's row (with `run_dir` and `eval_dir`, the
    folders each QA run wrote), and its files by name (table2.md/.csv/.png, runs.csv)."""

    table: pd.DataFrame
    runs: pd.DataFrame
    files: dict[str, Path]


def set_presets(sources: list[FeatureSource], specs: list[str]) -> None:
    """Gives rows their own QA preset, and overrides for that row only, from `LABEL=PRESET.yaml [key=value ...]`
    specs (e.g. the grounded preset for the ground-truth state rows, whose object identities its grounding loss
    needs). The ablation's overrides apply to every row, these after them."""
    by_label = {s.label: s for s in sources}
    for spec in specs:
        label, sep, rest = spec.partition("=")
        if not sep or not rest.strip():
            raise ConfigError(f"--preset {spec!r}: expected LABEL=PRESET.yaml [key=value ...]")
        path, *overrides = rest.split()
        if label not in by_label:
            raise ConfigError(f"--preset {spec!r}: no --source row is labelled {label!r} "
                              f"(rows: {', '.join(map(repr, by_label))})")
        if not Path(path).is_file():
            raise ConfigError(f"--preset {spec!r}: {path}: no such file")
        if bad := [o for o in overrides if "=" not in o]:
            raise ConfigError(f"--preset {spec!r}: overrides must be key=value, got {bad}")
        by_label[label].preset, by_label[label].preset_overrides = Path(path), overrides


def _train_one(config: Path, data: Path, src: FeatureSource, seed: int, out: Path, overrides: list[str],
               progress: bool) -> dict:
    """One (source, seed) run, trained (or resumed) and evaluated: its `runs.csv` row."""
    preset = src.preset or config
    cfg = src.configure(load_config(QAConfig, preset, [*overrides, *src.preset_overrides, f"train.seed={seed}"]))
    result = train_qa(cfg, data, src.slots, out / src.dirname() / f"seed_{seed}", progress=progress)
    return {"feature": src.label, "seed": seed, "preset": " ".join([Path(preset).name, *src.preset_overrides]),
            "dim": src.dim(), "seconds": round(result.seconds, 1),
            "questions/s": round(result.questions_per_second, 1), **result.summary,
            "run_dir": str(result.out), "eval_dir": str(result.eval_dir)}


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)


def _first_repeat(keys: list):
    """The first key seen twice in `keys`, or None."""
    seen = set()
    for k in keys:
        if k in seen:
            return k
        seen.add(k)
    return None


def check_distinct(sources: list[FeatureSource], seeds: list[int]) -> None:
    """Refuses a row or a seed given twice: it would be trained once and counted as two seeds (std 0)."""
    if not seeds:
        raise ConfigError("--seeds: no seed given")
    if (seed := _first_repeat(seeds)) is not None:
        raise ConfigError(f"--seeds {','.join(map(str, seeds))}: seed {seed} is given twice; a seed counts once")
    if (name := _first_repeat([s.dirname() for s in sources])) is not None:
        raise ConfigError(f"--source: the row {name!r} is given twice (its label names its output folder)")
    # a row is its features and how it is trained: one cache read two ways (e.g. with and without the predictive
    # window shifted into a rollout, `data.future_shift`) is two rows
    what = [(("blind",) if s.slots is None else (str(Path(s.slots).resolve()), s.static_only))
            + (s.preset, tuple(s.preset_overrides)) for s in sources]
    if (twice := _first_repeat(what)) is not None:
        labels = [s.label for s, w in zip(sources, what) if w == twice]
        raise ConfigError(f"--source: {' and '.join(map(repr, labels))} are the same features trained the same way; "
                          "give one row and more --seeds")


def check_sources(sources: list[FeatureSource], data: Path) -> None:
    """Every source's train and validation caches exist and hold their split of `data`, checked before the first
    run trains (a bad last source would otherwise stop the ablation after the others trained)."""
    for src in sources:
        if src.slots is None:
            continue
        for split in ("train", "validation"):
            path = split_file(src.slots, split)
            check_cache_belongs(path, read_attrs(path), data, split)


@holds_lock("out")
def run_ablation(config: Path, data: Path, out: Path, sources: list[FeatureSource], seeds: list[int],
                 overrides: list[str] = (), progress: bool = True, jobs: int = 1) -> AblationResult:
    """Trains (or resumes) every source x seed under `out/<source>/seed_<s>`; writes `table2.md/.csv`
    (mean +- std), `runs.csv` (every run) and `table2.png`; returns the formatted table.

    `jobs` > 1 trains that many runs at once in worker processes, the CPU threads split between them
    (small CPU models use threads poorly, docs/qa.md). For GPUs and multi-process training use `accelerate launch`
    with jobs=1 instead."""
    out = Path(out)
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    check_distinct(sources, seeds)
    check_sources(sources, data)
    tasks = [(src, seed) for src in sources for seed in seeds]
    overrides = list(overrides)
    if jobs <= 1 or len(tasks) == 1:
        rows = [_train_one(config, data, src, seed, out, overrides, progress) for src, seed in tasks]
    else:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ValueError("jobs > 1 runs its own worker processes; under `accelerate launch` use jobs=1")
        threads = max(1, (os.cpu_count() or 1) // jobs)
        done = {}
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_init, initargs=(threads,)) as pool:
            futures = {pool.submit(_train_one, config, data, src, seed, out, overrides, False): i
                       for i, (src, seed) in enumerate(tasks)}
            bar = tqdm(as_completed(futures), total=len(futures), desc=f"QA runs ({jobs} at a time)",
                       unit="run", disable=not progress)
            for fut in bar:
                try:
                    row = fut.result()
                except BaseException:  # the first failed run ends the ablation; runs not started are dropped
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
                done[futures[fut]] = row
                bar.write(f"{row['feature']} seed {row['seed']}: descriptive {row['Descriptive']:.1f}, "
                          f"{row['seconds']:.0f} s")
        rows = [done[i] for i in range(len(tasks))]
    runs = pd.DataFrame(rows)
    names = [name for _, _, name in SUMMARY_COLUMNS]
    mean = runs.groupby("feature", sort=False)[names].mean()
    std = runs.groupby("feature", sort=False)[names].std(ddof=1).fillna(0.0)
    table = pd.DataFrame({"feature": mean.index,
                          "dim": runs.groupby("feature", sort=False)["dim"].first().values,
                          "preset": runs.groupby("feature", sort=False)["preset"].first().values,
                          "seeds": runs.groupby("feature", sort=False)["seed"].count().values})
    for name in names:
        table[name] = [seed_cell(m, s, n) for m, s, n in zip(mean[name], std[name], table["seeds"])]
    if make_accelerator().is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        runs.to_csv(out / "runs.csv", index=False)
        table.to_csv(out / "table2.csv", index=False)
        (out / "table2.md").write_text(
            "# QA accuracy (%) per feature source, mean ± std over seeds (layout of ODDN Table 2)\n\n"
            + table.to_markdown(index=False) + "\n")
        _bar_chart(mean, std, out / "table2.png")
    files = {name: out / name for name in ("table2.md", "table2.csv", "table2.png", "runs.csv")}
    return AblationResult(table, runs, files)


def _bar_chart(mean: pd.DataFrame, std: pd.DataFrame, path: Path) -> None:
    cols = [name for _, metric, name in SUMMARY_COLUMNS if metric == "per_question"]
    x = np.arange(len(cols))
    width = 0.8 / max(1, len(mean))
    fig, ax = plt.subplots(figsize=(2 + 1.6 * len(cols), 4))
    for i, feature in enumerate(mean.index):
        ax.bar(x + i * width - 0.4 + width / 2, mean.loc[feature, cols], width, yerr=std.loc[feature, cols],
               capsize=3, label=feature)
    ax.set_xticks(x, [c.replace(" per ques.", "") for c in cols])
    ax.set_ylabel("per-question accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title("QA accuracy per question type (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
