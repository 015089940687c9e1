"""The results page: every table a main-job run produced, in one Markdown file, with the commands
that made them and its figures copied beside it (`scripts/results_page.py`)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

OUTPUTS = "outputs.json"  # in a main-job run's report folder: every file its stages wrote (pipeline)

COMMANDS = """```bash
make demo                                  # = python scripts/run_pipeline.py --out runs/demo (after the install)
{extra}python scripts/results_page.py --run runs/demo --out docs/demo_results.md{ablation_arg}
```"""


def _section(title: str, body: str, source: str) -> str:
    return f"## {title}\n\nSource: `{source}`\n\n{body.strip()}\n"


def _tables_of(md_file: Path) -> str:
    """A report Markdown file without its first heading (the page gives its own)."""
    lines = md_file.read_text().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).replace("\n## ", "\n### ")


def _validation_baselines(md_file: Path) -> str:
    text = md_file.read_text()
    start = text.index("## validation")
    end = text.find("\n## ", start + 1)
    return text[start + len("## validation"):end if end > 0 else None]


def build(run: Path, out: Path, ablation: Path | None = None, figures: Path | None = None,
          commands: list[str] = ()) -> Path:
    """Writes the page for the main-job run folder `run` (its `report/`, `perception/`, `qa/`) to
    `out`; `ablation`: a `scripts/ablate.py` output folder whose table is added; figures go to
    `figures` (default: `out`'s folder / figures / results); `commands`: further commands that made
    the tables (e.g. the ablation's), listed on the page."""
    run, out = Path(run), Path(out)
    report = run / "report"
    if not (report / "stage_times.csv").is_file():
        raise FileNotFoundError(f"{report}: no stage_times.csv; is {run} a finished main-job run?")
    if not (report / OUTPUTS).is_file():
        raise FileNotFoundError(f"{report}: no {OUTPUTS} (the record of what the main job wrote); rerun the main job")
    outputs = json.loads((report / OUTPUTS).read_text())
    figures = Path(figures) if figures else out.parent / "figures" / "results"
    figures.mkdir(parents=True, exist_ok=True)
    evaluation = {name: Path(p) for name, p in outputs["perception"]["evaluation"].items()}
    eval_dir = Path(outputs["perception"]["eval_dir"])
    copies = {"contact_sheet.png": report / "contact_sheet.png", "decomposition.png": evaluation["decomposition.png"],
              "rollout.png": evaluation["rollout.png"], "prediction_mse.png": evaluation["prediction_mse.png"],
              "qa_table2.png": report / "qa_table2.png"}
    if ablation is not None:
        copies["ablation_table2.png"] = Path(ablation) / "table2.png"
    for name, src in copies.items():
        shutil.copyfile(src, figures / name)
    rel = lambda name: (figures / name).relative_to(out.parent).as_posix()  # noqa: E731

    times = pd.read_csv(report / "stage_times.csv")
    parts = [
        "# Results of the tiny run\n",
        f"Every table of one `make demo` run (`{run}`), as it wrote them, with the commands that made them. Numbers "
        "are validation accuracies and metrics on tiny CLEVRER-sim; they measure the pipeline on a 2-core CPU "
        "budget, not the paper's regime (see [real_clevrer.md](real_clevrer.md) for that).\n",
        COMMANDS.format(extra="".join(f"{c}\n" for c in commands),
                        ablation_arg=f" --ablation {ablation}" if ablation else "") + "\n",
        _section("Wall time per stage", times.to_markdown(index=False, floatfmt=".1f"), "report/stage_times.md"),
        _section("Dataset",
                 _tables_of(report / "dataset_stats.md") + f"\n\n![contact sheet]({rel('contact_sheet.png')})",
                 "report/dataset_stats.md"),
        _section("Questions", _tables_of(report / "question_stats.md"), "report/question_stats.md"),
        _section("Baselines (validation)", _validation_baselines(report / "baselines.md"), "report/baselines.md"),
        _section("Perception: decomposition", _tables_of(evaluation["metrics.md"])
                 + f"\n\n![decomposition]({rel('decomposition.png')})", str(eval_dir.relative_to(run) / "metrics.md")),
        _section("Perception: prediction", _tables_of(evaluation["prediction.md"])
                 + f"\n\n![rollout]({rel('rollout.png')})\n\n![prediction MSE]({rel('prediction_mse.png')})",
                 str(eval_dir.relative_to(run) / "prediction.md")),
    ]
    for split in ("train", "validation"):  # status and feature statistics; the attributes stay in the file
        body = _tables_of(report / f"slots_{split}.md").split("\n| attribute")[0]
        parts.append(_section(f"Slot cache: {split}", body, f"report/slots_{split}.md"))
    parts.append(_section("QA: the dynamics ablation of the main job (one seed)",
                          _tables_of(report / "qa_table2.md") + f"\n\n![QA accuracy]({rel('qa_table2.png')})",
                          "report/qa_table2.md"))
    for qa_run in outputs["qa"]["runs"]:  # each run's final evaluation, as the ablation returned it
        acc = Path(qa_run["eval_dir"]) / "accuracy.md"
        parts.append(_section(f"QA per type and subtype: {qa_run['feature']}, seed {qa_run['seed']}", _tables_of(acc),
                              str(acc.relative_to(run))))
    if ablation is not None:
        parts.append(_section("QA: the representation ablation (ODDN Table 2 layout)",
                              _tables_of(Path(ablation) / "table2.md")
                              + f"\n\n![ablation]({rel('ablation_table2.png')})", str(Path(ablation) / "table2.md")))
    out.write_text("\n".join(parts))
    return out
