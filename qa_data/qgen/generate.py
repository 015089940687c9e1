"""Writes `questions/{train,validation,test}.json` for a CLEVRER(-sim) dataset: candidates per
video (in parallel), balanced selection (streaming, in video order), and a check of every answer
by the program executor. The test file has neither programs nor answers; the full test questions
go to `questions/test_answers.json`, our answer key."""
from __future__ import annotations

import json
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa_data.clevrer.annotations import write_json_atomic
from qa_data.clevrer.layout import SPLITS, ClevrerLayout, video_filename
from qa_data.clevrer.questions import SceneQuestions
from qa_data.config import config_to_dict, save_config
from qa_data.errors import DataError
from qa_data.programs.events import SceneFacts, load_scene_facts
from qa_data.programs.executor import Executor
from qa_data.qgen.config import QUESTIONS_VERSION, QuestionConfig
from qa_data.qgen.sampling import Sampler
from qa_data.qgen.templates import Candidate, video_candidates
from qa_data.runtime.run_lock import holds_lock

SPLIT_SEEDS = {s: i for i, s in enumerate(SPLITS)}


class AnswerMismatch(AssertionError):
    """A generated answer that the executor does not reproduce (a bug, never written out)."""


def _video_rng(cfg: QuestionConfig, index: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, 7919, index])


_ROOT: ClevrerLayout | None = None
_CFG: QuestionConfig | None = None


def _init(root: str, cfg: QuestionConfig) -> None:
    global _ROOT, _CFG
    _ROOT, _CFG = ClevrerLayout(root), cfg


class QuestionsFailed(RuntimeError):
    """Questions of a video could not be made; the run stopped (no question file was written)."""

    user_error = True


def _candidates(task: tuple[str, int]) -> tuple[int, SceneFacts, list[Candidate]]:
    split, index = task
    try:
        facts = load_scene_facts(_ROOT, split, index)
        return index, facts, video_candidates(facts, _video_rng(_CFG, index))
    except DataError:
        raise  # names the file, so the video
    except Exception as e:  # noqa: BLE001 - a bug or a bad file: end the run naming the video
        raise QuestionsFailed(f"{split} video {index}: {type(e).__name__}: {e}") from None


def verify(facts: SceneFacts, scene: SceneQuestions) -> None:
    """Raises AnswerMismatch unless the executor reproduces every answer of the scene."""
    ex = Executor(facts)
    for q in scene.questions:
        got = ex.answer(q, f"scene {scene.scene_index} ")
        want = q.answer if not q.is_multiple_choice else [c.answer for c in q.choices]
        if got != want:
            raise AnswerMismatch(f"scene {scene.scene_index} question {q.question_id} {q.question!r}: "
                                 f"generated {want}, executor says {got}")


@dataclass
class QuestionReport:
    videos: dict[str, int] = field(default_factory=dict)
    questions: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)


def annotated_videos(layout: ClevrerLayout, split: str) -> list[int]:
    """Videos of a split to ask about: with pixels, every video, each of which must have its annotation
    (a missing one is an error naming it, never a silent drop of its questions); a dataset generated
    without pixels (`--no-render`) asks about every annotation."""
    if not layout.rendered:
        return layout.annotation_indices(split)
    videos = layout.video_indices(split)
    missing = [i for i in videos if not layout.annotation_path(split, i).is_file()]
    if missing:
        raise DataError(layout.annotation_path(split, missing[0]),
                        f"annotation not found, so {split} video {missing[0]} would get no questions "
                        f"({len(missing)} of {len(videos)} {split} videos lack one); regenerate them "
                        "(scripts/generate_data.py resumes) or remove those videos")
    return videos


def questions_up_to_date(root: str | Path, cfg: QuestionConfig) -> bool:
    """Whether `root` has question files made with this config from its current videos."""
    layout = ClevrerLayout(root)
    manifest = layout.questions_manifest_path
    if not manifest.is_file():
        return False
    with open(manifest) as f:
        m = json.load(f)
    if m.get("version") != QUESTIONS_VERSION or m.get("config") != config_to_dict(cfg):
        return False
    for split, n in m.get("videos", {}).items():
        if not layout.questions_path(split).is_file():
            return False
        try:
            present = annotated_videos(layout, split)
        except (FileNotFoundError, DataError):  # the generation says what is wrong
            return False
        if len(present) != n:
            return False
    return bool(m.get("videos"))


@holds_lock("root", must_exist=True)
def generate_questions(root: str | Path, cfg: QuestionConfig, workers: int = 1,
                       progress: bool = True) -> QuestionReport:
    """Generates the question files of every split with annotated videos under `root`."""
    cfg.validate()
    layout = ClevrerLayout(root)
    report = QuestionReport()
    t0 = time.perf_counter()
    found = {}
    for split in SPLITS:
        try:
            found[split] = annotated_videos(layout, split)
        except FileNotFoundError:
            continue
    if not any(found.values()):
        raise DataError(layout.root, "no annotated videos found in any split; is this a dataset root? "
                                     "(scripts/generate_data.py makes one)")
    # the manifest marks a finished run: drop the old one until this run is done
    layout.questions_manifest_path.unlink(missing_ok=True)
    pool = None
    if workers > 1:  # a worker that cannot start breaks the pool at once (never restarted for ever)
        pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init,
                                   initargs=(str(layout.root), cfg))
    else:
        _init(str(layout.root), cfg)
    try:
        for split, indices in found.items():
            if not indices:
                continue
            sampler = Sampler(cfg, np.random.default_rng([cfg.seed, SPLIT_SEEDS[split]]))
            tasks = [(split, i) for i in indices]
            results = pool.map(_candidates, tasks, chunksize=4) if pool else map(_candidates, tasks)
            scenes = []
            try:
                for index, facts, cands in tqdm(results, total=len(tasks), desc=f"questions {split}",
                                                unit="video", disable=not progress):
                    scene = SceneQuestions(index, video_filename(index), sampler.select(cands))
                    verify(facts, scene)
                    scenes.append(scene)
            except BrokenProcessPool as e:
                raise QuestionsFailed(f"a question worker could not start or died ({e})") from None
            report.files += _write(layout, split, scenes)
            report.videos[split] = len(scenes)
            report.questions[split] = sum(len(s.questions) for s in scenes)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    save_config(cfg, layout.root / "questions" / "question_config.yaml")
    write_json_atomic(layout.questions_manifest_path, {
        "version": QUESTIONS_VERSION, "config": config_to_dict(cfg),
        "videos": report.videos, "questions": report.questions})
    report.seconds = time.perf_counter() - t0
    return report


def _write(layout: ClevrerLayout, split: str, scenes: list[SceneQuestions]) -> list[Path]:
    full = [s.to_json() for s in scenes]
    if split != "test":
        path = layout.root / "questions" / f"{split}.json"
        write_json_atomic(path, full)
        return [path]
    public = []
    for s in full:  # CLEVRER's test file: no programs, no answers
        qs = []
        for q in s["questions"]:
            q = {k: v for k, v in q.items() if k not in ("program", "answer")}
            if "choices" in q:
                q["choices"] = [{"choice_id": c["choice_id"], "choice": c["choice"]} for c in q["choices"]]
            qs.append(q)
        public.append({**s, "questions": qs})
    path, key = layout.root / "questions" / "test.json", layout.answer_key_path("test")
    write_json_atomic(path, public)
    write_json_atomic(key, full)
    return [path, key]
