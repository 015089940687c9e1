"""The main job (README's first command): every stage of the system on the embedded default,
resumable stage by stage. Today: CLEVRER-sim generation, questions, dataset and question
statistics, contact sheet, the baseline accuracy tables, the tiny perception model (ODDN)
trained and evaluated (decomposition metrics, prediction table and rollout figure), its
per-frame slot features extracted for the train and validation splits, the ground-truth object states
in the same cache format, and the tiny ALOE QA model trained on the slots with and without the dynamics
dims, on the states (the upper bound), and blind (text only)."""
from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import pandas as pd

from perception.config import PerceptionConfig
from perception.evaluate import EvaluationRecord, evaluate_run
from perception.extract import ExtractConfig, extract
from perception.loaded_run import load_run
from perception.pretrained import install_pretrained
from perception.registry import is_video_model, model_label
from perception.train import train as train_perception
from pipelines.results_page import OUTPUTS
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.config import load_config, save_config
from qa_data.qgen.config import build_question_config
from qa_data.qgen.generate import generate_questions, questions_up_to_date
from qa_data.reports.contact_sheet import contact_sheet
from qa_data.reports.qa_report import wide_accuracy, write_question_report
from qa_data.reports.stats import summary_table, video_table
from qa_data.runtime.run_lock import holds_lock
from qa_data.sim.config import build_config
from qa_data.sim.generate import generate_dataset, split_ranges
from qa_data.slots.slot_cache import summary as slot_summary
from qa_data.slots.state_cache import StateExtractConfig, extract_states
from reasoning.ablate import FeatureSource, run_ablation

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
PERCEPTION_PRESET = REPO / "configs" / "perception" / "oddn_tiny.yaml"
QA_PRESET = REPO / "configs" / "qa" / "aloe_tiny.yaml"
# The tiny dataset has 200 training videos, each of which costs perception and extraction time;
# questions cost nothing, so the main job asks 60 per video (the generator finds ~50 distinct ones;
# CLEVRER has 15) to feed the QA model.
QUESTION_OVERRIDES = ("questions_per_video=60",)


class StageTimer:
    """Wall time of each stage of one run of the main job (a resumed stage takes ~0 s)."""

    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.rows = []

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.rows.append({"stage": stage, "seconds": now - self.last})
        self.last = now

    def write(self, stem: Path) -> pd.DataFrame:
        """`stem.csv` and `stem.md`: seconds and minutes per stage, and the total."""
        table = pd.DataFrame(self.rows + [{"stage": "total", "seconds": time.perf_counter() - self.start}])
        table["minutes"] = table.seconds / 60
        table.to_csv(stem.with_suffix(".csv"), index=False)
        stem.with_suffix(".md").write_text("# Wall time per stage of the main job\n\n"
                                           + table.to_markdown(index=False, floatfmt=".1f") + "\n")
        return table


def qa_jobs(runs: int) -> int:
    """QA runs trained at once: on a CPU-only machine all of them, one thread each (small models use
    threads poorly, and the light blind run fills the gaps); one at a time with a GPU."""
    import torch

    return 1 if torch.cuda.is_available() else runs


def write_outputs(path: Path, run_dir: Path, evaluation, extracted: dict, ablation) -> None:
    """Records what the stages returned: the perception run and its evaluation's files, the slot caches, the
    QA ablation's files and each QA run's evaluation folder."""
    qa_runs = [{"feature": r.feature, "seed": int(r.seed), "run_dir": r.run_dir, "eval_dir": r.eval_dir}
               for r in ablation.runs.itertuples()]
    record = {"perception": {"run": str(run_dir), "evaluation": {k: str(v) for k, v in evaluation.files.items()},
                             "eval_dir": str(evaluation.dir), "step": evaluation.step},
              "slots": {split: str(res.path) for split, res in extracted.items()},
              "qa": {"files": {k: str(v) for k, v in ablation.files.items()}, "runs": qa_runs}}
    path.write_text(json.dumps(record, indent=1))


@holds_lock("out")
def run(out: Path, preset: str = "tiny", num_videos: int | None = None, workers: int = 2, seed: int = 0,
        perception_overrides: list[str] | tuple[str, ...] = (), extract_stride: int = 0,
        qa_overrides: list[str] | tuple[str, ...] = (),
        question_overrides: list[str] | tuple[str, ...] = QUESTION_OVERRIDES, jobs: int | None = None,
        pretrained: Path | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    data, report_dir = out / "data", out / "report"
    report_dir.mkdir(exist_ok=True)
    timer = StageTimer()

    # 1. Data: CLEVRER-sim (resumes: complete videos are kept).
    cfg = build_config(preset, num_videos, seed, [])
    save_config(cfg, report_dir / "generator_config.yaml")
    gen = generate_dataset(cfg, data, workers=workers)
    rate = gen.generated / gen.seconds if gen.generated else float("nan")
    print(f"data: {gen.generated} videos generated, {gen.already_done} already there ({rate:.2f} videos/s)")

    timer.lap("data generation")

    # 2. Questions (kept when already generated from this data with this config).
    qcfg = build_question_config("clevrer_sim", seed, list(question_overrides))
    if questions_up_to_date(data, qcfg):
        print("questions: already generated")
    else:
        qrep = generate_questions(data, qcfg, workers=workers)
        print(f"questions: {sum(qrep.questions.values())} over {sum(qrep.videos.values())} videos "
              f"in {qrep.seconds:.1f} s")

    timer.lap("questions")

    # 3. Dataset statistics.
    videos = video_table(ClevrerLayout(data))
    videos.to_csv(report_dir / "dataset_videos.csv", index=False)
    table = summary_table(videos)
    table.to_csv(report_dir / "dataset_stats.csv", index=False)
    md = table.to_markdown(index=False)
    (report_dir / "dataset_stats.md").write_text(
        "# CLEVRER-sim dataset statistics\n\nPer video: mean [min-max]. CLEVRER train has 4-6 objects "
        "and 2-4 collisions per video.\n\n" + md + "\n")
    print(md)

    # 4. Question statistics and baselines (blind majority = the floor; executor oracle = 100%).
    qtables = write_question_report(data, report_dir)
    print("\nquestions per type (share %, CLEVRER train for reference):")
    print(qtables.types.to_markdown(index=False))
    baselines = wide_accuracy(qtables.baselines, "validation")
    print("\nbaselines on validation (accuracy %):")
    print(baselines.to_markdown(index=False))

    # 5. Contact sheet of a few validation videos.
    first = split_ranges(cfg)["validation"][0]
    sheet = contact_sheet(data, "validation", [first + k for k in range(min(4, cfg.splits.validation))],
                          report_dir / "contact_sheet.png")
    print(f"contact sheet: {sheet}")

    timer.lap("statistics, baselines, contact sheet")

    # 6. Perception: the pretrained CPU-regime ODDN (`make pretrain`), evaluated on this data; or, with
    # `pretrained=None`, the tiny ODDN preset trained here (resumes from its checkpoints). Either way
    # evaluated: decomposition metrics, and for video models the prediction table and rollout figure.
    # The run's evaluation record (RUN/evaluation.json) names the files the evaluation wrote; a record of the
    # final step means the stage is done.
    if pretrained is not None:
        pcfg, pstep = install_pretrained(pretrained, out / "perception" / "pretrained")
        run_dir = out / "perception" / "pretrained"
        evaluation = EvaluationRecord.load(run_dir)
        if evaluation is None or evaluation.step != pstep or evaluation.split != pcfg.eval.split:
            evaluation = evaluate_run(run_dir, data, pcfg.eval.split)
        print(f"perception: pretrained {model_label(pcfg)} ({pretrained.name}, step {pstep}), not trained here")
    else:
        pcfg = load_config(PerceptionConfig, PERCEPTION_PRESET,
                           [f"frames.cache_dir={out / 'cache'}", f"train.seed={seed}", *perception_overrides])
        run_dir = out / "perception" / model_label(pcfg).replace("/", "_")
        evaluation = EvaluationRecord.load(run_dir)
        if evaluation is not None and evaluation.step == pcfg.train.steps:
            print(f"perception: {pcfg.model} already trained ({pcfg.train.steps} steps)")
        else:
            result = train_perception(pcfg, data, run_dir)
            evaluation = result.evaluation
            print(f"perception: {pcfg.model} trained to step {result.step} in {result.seconds:.0f} s "
                  f"({result.frames_per_second:.1f} frames/s)")
    metrics, files = evaluation.metrics, evaluation.files
    print(f"\nperception on {pcfg.eval.split} ({evaluation.dir}):")
    print(metrics.to_markdown(index=False, floatfmt=".4f"))
    shutil.copyfile(files["decomposition.png"], report_dir / "perception_decomposition.png")
    shutil.copyfile(files["metrics.md"], report_dir / "perception_metrics.md")
    prediction = None
    if is_video_model(pcfg):
        prediction = pd.read_csv(files["prediction.csv"])
        print(f"\nprediction MSE per step ({files['prediction.md']}):")
        print(prediction.to_markdown(index=False, floatfmt=".5f"))
        for name in ("rollout.png", "prediction_mse.png", "prediction.md"):
            shutil.copyfile(files[name], report_dir / f"perception_{name}")
        print(f"rollout figure: {report_dir / 'perception_rollout.png'}")

    timer.lap("perception training and evaluation")

    # 7. Slot extraction: per-frame features of every train and validation video (resumes: rows
    # already done are kept).
    slots_dir = out / "slots" / run_dir.name
    loaded = load_run(run_dir)
    extracted = {}
    for split in ("train", "validation"):
        res = extract(loaded, data, slots_dir, ExtractConfig(split=split, frame_stride=extract_stride))
        extracted[split] = res
        rate = f" ({res.videos_per_second:.2f} videos/s)" if res.computed else ""
        print(f"slots {split}: {res.computed} videos extracted{rate}, {res.already_done} already done, "
              f"{len(res.skipped)} skipped -> {res.path}")
        attrs_table, status_table, stats_table = slot_summary(res.path)
        (report_dir / f"slots_{split}.md").write_text(
            f"# Slot cache {res.path}\n\n" + status_table.to_markdown(index=False) + "\n\n"
            + stats_table.to_markdown(index=False, floatfmt=".4f") + "\n\n"
            + attrs_table.to_markdown(index=False) + "\n")

    # 7b. Ground-truth object states in the same cache format, at the slots' frame stride: the QA
    # model's upper bound.
    states_dir = out / "slots" / "states"
    stride = extracted["train"].layout.frame_stride
    for split in ("train", "validation"):
        res = extract_states(data, states_dir, StateExtractConfig(split=split, frame_stride=stride), progress=False)
        print(f"states {split}: {res.written} videos written, {res.already_done} already done, "
              f"{len(res.skipped)} skipped -> {res.path}")

    timer.lap("slot extraction")

    # 8. QA: the tiny ALOE on the slots (static + dynamics), on the static dims only, and blind
    # (resumes: finished runs are evaluated again, not retrained).
    label = model_label(pcfg).upper()
    sources = [FeatureSource(label, slots_dir, False), FeatureSource(f"{label} -dyn", slots_dir, True),
               FeatureSource("states", states_dir, False), FeatureSource("blind", None, False)]
    qa_dir = out / "qa"
    ablation = run_ablation(QA_PRESET, data, qa_dir, sources, [seed], list(qa_overrides),
                            jobs=qa_jobs(len(sources)) if jobs is None else jobs)
    qa_table = ablation.table
    for name in ("table2.md", "table2.csv", "table2.png"):
        shutil.copyfile(ablation.files[name], report_dir / f"qa_{name}")
    print(f"\nQA accuracy (%) on validation, {QA_PRESET.name} ({report_dir / 'qa_table2.md'}):")
    print(qa_table.drop(columns=["seeds"]).to_markdown(index=False))
    timer.lap("QA training and evaluation")
    times = timer.write(report_dir / "stage_times")
    print(f"\nwall time per stage ({report_dir / 'stage_times.md'}):")
    print(times.to_markdown(index=False, floatfmt=".1f"))
    write_outputs(report_dir / OUTPUTS, run_dir, evaluation, extracted, ablation)
    return {"data": data, "stats": table, "contact_sheet": sheet, "questions": qtables,
            "perception": {"run": run_dir, "metrics": metrics, "prediction": prediction},
            "slots": {"dir": slots_dir, "extracted": extracted}, "qa": {"dir": qa_dir, "table": qa_table},
            "times": times}
