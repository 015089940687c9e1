"""`make reproduce`: every table the project claims, regenerated on a CPU from freshly generated
CLEVRER-sim with the CPU-regime presets, resumably and one heavy job at a time:

- balls: PROVIDE Table 1 on binary Bouncing Balls (where the paper's claim is sharpest): IODINE and PROVIDE
  trained over several seeds, per-video F-ARI at 10 / 20 / 30 / 40 frames for IODINE, SEQ-IODINE and PROVIDE;
- learning: IODINE, ODDN, ODDN w/o relation and PROVIDE trained from scratch (their learning curves);
- table1: PROVIDE Table 1 (tiny): ARI, F-ARI, MSE at several lengths for IODINE per frame, SEQ-IODINE, PROVIDE;
- table3: ODDN Table 3 (tiny): decomposition of ODDN against IODINE and PROVIDE, and prediction MSE per step
  against "repeat the last frame";
- table2: ODDN Table 2 (tiny): QA per type over the slots of every model, ground-truth states and blind, and
  ODDN's rolled-out future, over seeds, with the QA learning curves;
- oracle: Table 2's ground-truth state rows (states, states -dyn, the simulator's future) and blind on their own
  render-free CLEVRER-sim, large enough for the states to beat blind: what the QA stage can learn at all;
- page: `results.md` (`pipelines.claims_page`) in WORK/results or the folder `--docs` names (`make reproduce`:
  docs/), every table next to the paper's, one line per claim.

Every stage resumes: training continues from its newest checkpoint, extraction fills its pending rows,
finished evaluations are read back. `only` runs one table and what it needs. Wall time per stage accumulates
across resumes in `WORK/stage_times.json`."""
from __future__ import annotations

import json
import logging
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from perception.config import PerceptionConfig
from perception.evaluate import EvaluationRecord
from perception.learning_curves import curve_figure, curve_table
from qa_data.config import ConfigError, config_from_dict, load_config, require_min, save_config
from qa_data.qgen.config import build_question_config
from qa_data.qgen.generate import questions_up_to_date
from qa_data.runtime.run_lock import holds_lock
from qa_data.slots.slot_cache import SlotLayout

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
PRESETS = REPO / "configs" / "reproduce"
STAGES = ("data", "balls", "oracle", "learning", "table1", "table3", "table2", "page")
TABLES = ("balls", "oracle", "table1", "table3", "learning", "table2")  # run in this order: the cheapest first
OWN_DATA = ("balls", "oracle")  # stages that generate their own data set, not WORK/data


def repo_path(path: str) -> Path:
    """A preset path as configured: absolute, or relative to the repository."""
    return Path(path) if Path(path).is_absolute() else REPO / path


@dataclass(frozen=True)
class PerceptionRun:
    """One perception model of the reproduction: its folder name, preset, extra overrides and row label."""

    name: str
    preset: str
    overrides: tuple[str, ...]
    label: str
    steps_field: str  # the ReproducePerceptionConfig field with its step budget


RUNS = (PerceptionRun("iodine", "iodine_cpu", (), "IODINE", "iodine_steps"),
        PerceptionRun("oddn", "oddn_cpu", (), "ODDN", "oddn_steps"),
        PerceptionRun("oddn_no_relation", "oddn_cpu", ("oddn.variant=oddn_no_relation",), "ODDN w/o relation",
                      "oddn_steps"),
        PerceptionRun("provide", "provide_cpu", (), "PROVIDE", "provide_steps"))
TABLE2_SOURCES = ("ODDN", "ODDN -dyn", "ODDN w/o relation", "IODINE", "PROVIDE", "states", "blind",
                  "ODDN + rollout")
STATE_ROWS = ("states",)  # Table 2's row read from a ground-truth state cache
ORACLE_SOURCES = ("states", "states -dyn", "states + future", "blind")
NEEDS = {"balls": (), "oracle": (), "learning": ("iodine", "oddn", "oddn_no_relation", "provide"),
         "table1": ("iodine", "provide"),
         "table3": ("iodine", "oddn", "oddn_no_relation", "provide"),
         "table2": ("iodine", "oddn", "oddn_no_relation", "provide")}


@dataclass
class ReproduceDataConfig:
    preset: str = "cpu"  # generator preset (configs/data/clevrer_sim_<preset>.yaml) or a YAML path
    num_videos: int = 0  # 0: the preset's splits
    seed: int = 1
    questions_per_video: int = 60  # questions cost nothing next to videos (docs/qa.md)
    workers: int = 2

    def __post_init__(self):
        require_min("data", self, {"num_videos": 0, "questions_per_video": 1, "workers": 1})


@dataclass
class ReproducePerceptionConfig:
    iodine_steps: int = 10000  # iodine_cpu's budget (SEQ-IODINE is this run over videos)
    oddn_steps: int = 5000  # oddn_cpu's budget; ODDN w/o relation trains as long
    provide_steps: int = 4000  # provide_cpu's budget
    overrides: list[str] = field(default_factory=list)  # for every model (the toy test shrinks them)
    lengths: list[int] = field(default_factory=lambda: [8, 16, 32])  # Table 1 lengths (frames, stride 4)
    length_videos: int = 20  # validation videos of Table 1
    extract_stride: int = 0  # slots for QA: 0 = the models' training stride (every 4th frame, ODDN A.2)
    extract_videos: int = 0  # the first N videos of each split get slots (0: all)
    # frames rolled out past the video for the "ODDN + rollout" row, at its training stride (8 x 4 = 32 frames,
    # SlotFormer's rollout)
    rollout: int = 8

    def __post_init__(self):
        require_min("perception", self, {"iodine_steps": 1, "oddn_steps": 1, "provide_steps": 1,
                                         "length_videos": 0, "extract_stride": 0, "extract_videos": 0,
                                         "rollout": 1})
        if not self.lengths or min(self.lengths) < 1:
            raise ValueError(f"perception.lengths must be lengths >= 1, got {self.lengths}")


@dataclass
class ReproduceQAConfig:
    preset: str = "configs/qa/aloe_tiny.yaml"
    # Table 2's ground-truth state row trains this preset instead ("": `preset`), with `state_overrides` after
    # `overrides`: its cache knows which object each slot is, which the grounded preset's grounding loss needs.
    # 8,000 steps: the oracle stage's recipe
    state_preset: str = "configs/qa/aloe_cpu_grounded.yaml"
    state_overrides: list[str] = field(default_factory=lambda: ["train.steps=8000"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    overrides: list[str] = field(default_factory=list)
    jobs: int = 2  # QA runs at once, one thread each (small models use threads poorly)

    def __post_init__(self):
        require_min("qa", self, {"jobs": 1})
        for name in ("preset", "state_preset"):
            path = getattr(self, name)
            if path and not repo_path(path).is_file():
                raise ValueError(f"qa.{name}: {path}: no such file")
        if bad := [o for o in self.state_overrides if "=" not in o]:
            raise ValueError(f"qa.state_overrides must be key=value, got {bad}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"qa.seeds must be distinct seeds, got {self.seeds}")


@dataclass
class ReproduceBallsConfig:
    """PROVIDE's Table 1 on binary Bouncing Balls: its own data, IODINE and PROVIDE over `seeds`."""

    data_preset: str = "tiny"  # scripts/generate_bouncing_balls.py --preset (configs/data/bouncing_balls_<preset>.yaml)
    data_overrides: list[str] = field(default_factory=list)  # generator overrides (the toy test: fewer videos)
    iodine_preset: str = "configs/perception/iodine_bouncing_balls_tiny.yaml"  # SEQ-IODINE is this run over videos
    provide_preset: str = "configs/perception/provide_bouncing_balls_tiny.yaml"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # training seeds of both models
    overrides: list[str] = field(default_factory=list)  # for both models (the toy test shrinks them)
    lengths: list[int] = field(default_factory=lambda: [10, 20, 30, 40])  # the paper's lengths (consecutive frames)
    split: str = "test"
    num_videos: int = 20  # first N videos of the split (0: all)

    def __post_init__(self):
        require_min("balls", self, {"num_videos": 0})
        for name in ("iodine_preset", "provide_preset"):
            path = getattr(self, name)
            if not repo_path(path).is_file():
                raise ValueError(f"balls.{name}: {path}: no such file")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"balls.seeds must be distinct seeds, got {self.seeds}")
        if not self.lengths or min(self.lengths) < 1:
            raise ValueError(f"balls.lengths must be lengths >= 1, got {self.lengths}")


@dataclass
class ReproduceOracleConfig:
    """Table 2's ground-truth state rows on a render-free CLEVRER-sim of their own: states need no pixels, so
    this data set can be over three times the perception stages' and hold enough questions for the states to beat the
    blind model (docs/qa.md: at 400 training videos they do not, at 1,334 they do on three types)."""

    preset: str = "cpu"  # generator preset (configs/data/clevrer_sim_<preset>.yaml) or a YAML path
    num_videos: int = 2000  # split in the preset's proportions: 1,334 train, 333 validation
    seed: int = 7
    workers: int = 2
    frame_stride: int = 4  # every 4th annotated frame, as the perception models read them
    future: int = 12  # the simulator's continuation after the video for "states + future" (12 x 4 = 48 frames)
    qa_preset: str = "configs/qa/aloe_cpu_grounded.yaml"
    overrides: list[str] = field(default_factory=lambda: ["train.steps=8000"])  # issue 30's recipe (docs/qa.md)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    jobs: int = 2  # QA runs at once, one thread each

    def __post_init__(self):
        require_min("oracle", self, {"num_videos": 1, "workers": 1, "frame_stride": 1, "future": 1, "jobs": 1})
        if not repo_path(self.qa_preset).is_file():
            raise ValueError(f"oracle.qa_preset: {self.qa_preset}: no such file")
        if bad := [o for o in self.overrides if "=" not in o]:
            raise ValueError(f"oracle.overrides must be key=value, got {bad}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"oracle.seeds must be distinct seeds, got {self.seeds}")


@dataclass
class ReproduceConfig:
    data: ReproduceDataConfig = field(default_factory=ReproduceDataConfig)
    balls: ReproduceBallsConfig = field(default_factory=ReproduceBallsConfig)
    oracle: ReproduceOracleConfig = field(default_factory=ReproduceOracleConfig)
    perception: ReproducePerceptionConfig = field(default_factory=ReproducePerceptionConfig)
    qa: ReproduceQAConfig = field(default_factory=ReproduceQAConfig)


def ablation_done(runs: Path, sources: tuple[str, ...], seeds: list[int]) -> bool:
    """Whether an ablation's runs.csv holds every source x seed."""
    if not runs.is_file():
        return False
    have = set(map(tuple, pd.read_csv(runs)[["feature", "seed"]].astype(str).values))
    return {(f, str(s)) for f in sources for s in seeds} <= have


class StageClock:
    """Wall seconds per stage, added up over every invocation of one work directory."""

    def __init__(self, path: Path):
        self.path = path
        self.seconds = json.loads(path.read_text()) if path.is_file() else {}

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.seconds, indent=1))
        tmp.replace(self.path)

    def table(self) -> pd.DataFrame:
        rows = [{"stage": s, "seconds": self.seconds[s]} for s in STAGES if s in self.seconds]
        t = pd.DataFrame(rows + [{"stage": "total", "seconds": sum(r["seconds"] for r in rows)}])
        t["minutes"] = t.seconds / 60
        return t


class Reproduction:
    """The stages over one work directory: WORK/data, WORK/perception/<run>, WORK/table1, WORK/table3,
    WORK/slots/<run>, WORK/table2. Every heavy step runs as its own command (a fresh process, as a user
    would type it); the commands are kept in WORK/commands.json for the results page."""

    def __init__(self, cfg: ReproduceConfig, work: Path):
        self.cfg, self.work = cfg, Path(work)
        self.data = self.work / "data"
        self.clock = StageClock(self.work / "stage_times.json")
        self.commands_path = self.work / "commands.json"
        self.commands = json.loads(self.commands_path.read_text()) if self.commands_path.is_file() else {}

    def _timed(self, stage: str, fn):
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self.clock.add(stage, time.perf_counter() - t)

    def _run(self, stage: str, script: str, *args) -> None:
        """Runs `scripts/<script>` with `args` in a fresh process; records the command under `stage`."""
        cmd = [sys.executable, str(REPO / "scripts" / script), *[str(a) for a in args]]
        shown = shlex.join(["python", f"scripts/{script}", *[str(a) for a in args]])
        print(f"+ {shown}", flush=True)
        if shown not in self.commands.setdefault(stage, []):
            self.commands[stage].append(shown)
            tmp = self.commands_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.commands, indent=1))
            tmp.replace(self.commands_path)
        proc = subprocess.Popen(cmd, cwd=REPO)
        try:
            code = proc.wait()
        finally:  # stopped (Ctrl-C, SIGTERM): the step stops too, and resumes with the next invocation
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
        if code:
            raise RuntimeError(f"{shown} failed (exit {code})")

    # -- data ---------------------------------------------------------------------------------------
    def make_data(self) -> Path:
        d = self.cfg.data
        size = ["--num-videos", d.num_videos] if d.num_videos else []
        self._run("data", "generate_data.py", "--preset", d.preset, "--out", self.data, "--seed", d.seed, *size,
                  "--workers", d.workers, "--no-questions")  # resumes; a complete dataset is only checked
        qcfg = build_question_config("clevrer_sim", d.seed, [f"questions_per_video={d.questions_per_video}"])
        if not questions_up_to_date(self.data, qcfg):
            self._run("data", "generate_questions.py", "--data", self.data, "--seed", d.seed, "--workers", d.workers,
                      f"questions_per_video={d.questions_per_video}")
        return self.data

    # -- perception ---------------------------------------------------------------------------------
    def run_dir(self, name: str) -> Path:
        return self.work / "perception" / name

    def _preset(self, run: PerceptionRun) -> Path:
        return REPO / "configs" / "perception" / f"{run.preset}.yaml"

    def _overrides(self, run: PerceptionRun) -> list[str]:
        p = self.cfg.perception
        return [*run.overrides, f"train.steps={getattr(p, run.steps_field)}",
                f"frames.cache_dir={self.work / 'frame_cache'}", *p.overrides]

    def trained(self, name: str) -> Path:
        """The run trained to its budget (resumed, or skipped when its final evaluation is recorded)."""
        run = next(r for r in RUNS if r.name == name)
        return self._train("learning", self._preset(run), self._overrides(run), self.data, self.run_dir(name))

    def _train(self, stage: str, preset: Path, overrides: list[str], data: Path, out: Path) -> Path:
        """Trains `preset` with `overrides` on `data` into `out` unless its final evaluation is recorded."""
        cfg = load_config(PerceptionConfig, preset, overrides)
        record = EvaluationRecord.load(out)
        if record is None or record.step != cfg.train.steps:
            self._run(stage, "train_perception.py", "--config", preset, "--data", data, "--out", out, *overrides)
        return out

    def decomposition_figures(self) -> dict[str, Path]:
        """The final evaluation's decomposition figure of every trained run, by run name."""
        out = {}
        for r in RUNS:
            record = EvaluationRecord.load(self.run_dir(r.name))
            if record is not None and "decomposition.png" in record.files:
                out[r.name] = record.files["decomposition.png"]
        return out

    def learning(self) -> dict:
        for r in RUNS:
            self.trained(r.name)
        return self.write_curves()

    def write_curves(self) -> dict:
        """learning/curves.csv and learning_curves.png from the evaluations of every run so far."""
        table = curve_table({r.label: self.run_dir(r.name) for r in RUNS})
        out = self.work / "learning"
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "curves.csv", index=False)
        curve_figure(table, out / "learning_curves.png", target=0.8)
        return {"table": table, "curves": out / "curves.csv", "figure": out / "learning_curves.png"}

    # -- Table 1 on Bouncing Balls ---------------------------------------------------------------------
    def balls(self) -> Path:
        """balls/lengths.csv: every seed's length table (model, length, seed, F-ARI, ARI, MSE, per frame too)."""
        b = self.cfg.balls
        out = self.work / "balls"
        data = out / "data"
        self._run("balls", "generate_bouncing_balls.py", "--preset", b.data_preset, "--out", data,
                  *b.data_overrides)  # splits already made with the same settings are kept
        tables = []
        for seed in b.seeds:
            overrides = [f"train.seed={seed}", f"frames.cache_dir={out / 'frame_cache'}", *b.overrides]
            runs = [self._train("balls", REPO / preset, overrides, data, out / "perception" / f"{name}_s{seed}")
                    for name, preset in (("iodine", b.iodine_preset), ("provide", b.provide_preset))]
            table = out / f"table1_s{seed}"
            if not (table / "lengths.csv").is_file():
                self._run("balls", "eval_video_decomposition.py", "--runs", *runs, "--data", data, "--split", b.split,
                          "--lengths", *b.lengths, "--num-videos", b.num_videos, "--out", table)
            tables.append(pd.read_csv(table / "lengths.csv").assign(seed=seed))
        pd.concat(tables, ignore_index=True).to_csv(out / "lengths.csv", index=False)
        return out

    # -- Table 1 --------------------------------------------------------------------------------------
    def table1(self) -> Path:
        out = self.work / "table1"
        if not (out / "table1.csv").is_file():
            p = self.cfg.perception
            self._run("table1", "eval_video_decomposition.py", "--runs",
                      *[self.trained(n) for n in NEEDS["table1"]], "--data", self.data, "--split", "validation",
                      "--lengths", *p.lengths, "--num-videos", p.length_videos, "--out", out)
        return out

    # -- Table 3 --------------------------------------------------------------------------------------
    def table3(self) -> Path:
        out = self.work / "table3"
        out.mkdir(parents=True, exist_ok=True)
        rows = []
        for name in NEEDS["table3"]:
            run = next(r for r in RUNS if r.name == name)
            record = EvaluationRecord.load(self.trained(name))
            m = record.metrics.set_index("metric")["mean"]
            rows.append({"model": run.label, "step": record.step, "MSE": m["MSE (per frame)"],
                         "ARI": m["ARI (per frame)"], "F-ARI": m["FG-ARI (per frame)"]})
        pd.DataFrame(rows).to_csv(out / "decomposition.csv", index=False)
        if not (out / "prediction" / "prediction.csv").is_file():
            self._run("table3", "eval_prediction.py", "--runs", self.run_dir("oddn"), self.run_dir("oddn_no_relation"),
                      "--data", self.data, "--split", "validation", "--out", out / "prediction")
        pred = pd.read_csv(out / "prediction" / "prediction.csv")
        # the command labels columns by model and variant (registry.model_label)
        pred.columns = [c.replace("oddn/oddn_no_relation", "ODDN w/o relation").replace("oddn", "ODDN")
                        for c in pred.columns]
        pred.to_csv(out / "prediction.csv", index=False)
        return out

    # -- Table 2 --------------------------------------------------------------------------------------
    def slots(self, name: str, rollout: int = 0) -> Path:
        p = self.cfg.perception
        out = self.work / "slots" / (f"{name}_rollout" if rollout else name)
        for split in ("train", "validation"):
            self._run("table2", "extract_slots.py", "--run", self.trained(name), "--data", self.data, "--split", split,
                      "--out", out, "--frame-stride", p.extract_stride, "--num-videos", p.extract_videos,
                      *(("--rollout", rollout) if rollout else ()))
        return out

    def table2(self) -> Path:
        if ablation_done(self.work / "table2" / "runs.csv", TABLE2_SOURCES, self.cfg.qa.seeds):
            return self.work / "table2"
        caches = {r.label: self.slots(r.name) for r in RUNS}
        stride = SlotLayout.read(caches["ODDN"] / "train.h5").frame_stride  # the stage's extraction command wrote it
        states = self.work / "slots" / "states"
        self._run("table2", "extract_states.py", "--data", self.data, "--split", "train,validation", "--out", states,
                  "--frame-stride", stride, "--no-progress")
        rollout = self.slots("oddn", rollout=self.cfg.perception.rollout)
        sources = [f"ODDN={caches['ODDN']}", f"ODDN -dyn={caches['ODDN']}:static",
                   f"ODDN w/o relation={caches['ODDN w/o relation']}", f"IODINE={caches['IODINE']}",
                   f"PROVIDE={caches['PROVIDE']}", f"states={states}", f"ODDN + rollout={rollout}"]
        q = self.cfg.qa
        preset = repo_path(q.preset)
        per_row = []
        if q.state_preset:
            state_preset = repo_path(q.state_preset)
            per_row = [a for label in STATE_ROWS
                       for a in ("--preset", " ".join([f"{label}={state_preset}", *q.state_overrides]))]
        self._run("table2", "ablate.py", "--config", preset, "--data", self.data, "--out", self.work / "table2",
                  *[a for s in sources for a in ("--source", s)], *per_row, "--seeds", ",".join(map(str, q.seeds)),
                  "--jobs", q.jobs, *q.overrides)
        return self.work / "table2"

    # -- Table 2's oracle rows ------------------------------------------------------------------------
    def oracle(self) -> Path:
        """oracle/qa: states, states -dyn, states + future and blind over seeds, on oracle/data."""
        o, out = self.cfg.oracle, self.work / "oracle"
        if ablation_done(out / "qa" / "runs.csv", ORACLE_SOURCES, o.seeds):
            return out / "qa"
        data = out / "data"
        self._run("oracle", "generate_data.py", "--preset", o.preset, "--out", data, "--seed", o.seed,
                  "--num-videos", o.num_videos, "--workers", o.workers, "--no-render", "--no-questions")
        if not questions_up_to_date(data, build_question_config("clevrer_sim", o.seed, [])):
            self._run("oracle", "generate_questions.py", "--data", data, "--seed", o.seed, "--workers", o.workers)
        states, future = out / "slots" / "states", out / "slots" / "states_future"
        for cache, extra in ((states, ()), (future, ("--future", o.future))):
            self._run("oracle", "extract_states.py", "--data", data, "--split", "train,validation", "--out", cache,
                      "--frame-stride", o.frame_stride, *extra, "--no-progress")
        self._run("oracle", "ablate.py", "--config", repo_path(o.qa_preset), "--data", data, "--out", out / "qa",
                  "--source", f"states={states}", "--source", f"states -dyn={states}:static",
                  "--source", f"states + future={future}", "--seeds", ",".join(map(str, o.seeds)), "--jobs", o.jobs,
                  *o.overrides)
        return out / "qa"

    # -- all ------------------------------------------------------------------------------------------
    def run(self, only: str | None = None, docs: Path | None = None) -> dict:
        from pipelines.claims_page import build_page

        self.work.mkdir(parents=True, exist_ok=True)
        save_config(self.cfg, self.work / "reproduce_config.yaml")
        wanted = TABLES if only is None else () if only == "page" else (only,)
        if any(stage not in OWN_DATA for stage in wanted):
            self._timed("data", self.make_data)
        done = {}
        for stage in wanted:
            for name in NEEDS[stage]:  # training is timed as "learning", whichever table asked for it
                self._timed("learning", lambda n=name: self.trained(n))
            done[stage] = self._timed(stage, getattr(self, stage))
        page = None
        if docs is not None:
            page = self._timed("page", lambda: build_page(self, Path(docs)))
        print(self.clock.table().to_markdown(index=False, floatfmt=".1f"))
        return {"stages": done, "page": page, "times": self.clock.table()}


def check_page_folder(cfg: ReproduceConfig, work: Path, docs: Path) -> None:
    """Refuses to replace a results page that another reproduction's settings made (the committed
    docs/results.md from a toy run, say): the page shows the settings it ran with, read back here as a
    ReproduceConfig (so settings added since take their defaults), and they must be `cfg`."""
    page = Path(docs) / "results.md"
    if not page.is_file():
        return
    found = re.search(r"The settings it ran with.*?```yaml\n(.*?)```", page.read_text(errors="replace"), re.S)
    try:
        theirs = config_from_dict(ReproduceConfig, yaml.safe_load(found.group(1)), source=str(page))
    except (AttributeError, ValueError, yaml.YAMLError):  # no settings block, or settings no longer valid
        theirs = None
    if theirs != cfg:
        raise ConfigError(f"{page}: written from a reproduction with other settings than {work}'s; name another "
                          "--docs folder (without --docs the page goes to WORK/results)")


@holds_lock("work")
def reproduce(cfg: ReproduceConfig, work: Path, only: str | None = None, docs: Path | None = None) -> dict:
    """Runs the reproduction in `work` (holding its lock) and, with `docs`, writes the results page there."""
    if only is not None and only not in (*TABLES, "page"):
        raise ConfigError(f"--only must be one of {', '.join(TABLES)} or page, got {only!r}")
    saved = Path(work) / "reproduce_config.yaml"
    if saved.is_file():
        old = load_config(ReproduceConfig, saved)
        if old != cfg:
            raise ConfigError(f"{saved}: this work directory holds a reproduction with other settings; "
                              "use another --work")
    if docs is not None:
        check_page_folder(cfg, work, docs)  # before anything runs
    return Reproduction(cfg, work).run(only, docs)
