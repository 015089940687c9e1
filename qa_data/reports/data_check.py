"""The dataset doctor (`scripts/check_data.py`): what a CLEVRER(-sim) root holds and what would stop a stage,
checked before any GPU hour is spent.

Per split it counts the videos, annotations and proposals expected, present, missing, and defective:
- videos shorter than 128 frames (container header), or that do not decode (`--decode sample|all`);
- annotations that do not parse (every field checked, `qa_data.clevrer.annotations`) or hold fewer than 128 frames;
- proposals that do not parse (every RLE mask checked), hold fewer than 128 frames of masks, or list more
  than 6 objects in a frame (CLEVRER's scenes have at most 6).
The known defects of real CLEVRER (7648 and 9777 short, 10800's annotation, 8182 and 18700's 8-object
proposals) are found by these checks, not by a list. Question files are compared by git blob id with the
files CLEVRER's authors committed. Every finding names the stage it would stop and what to do.
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import signal
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from qa_data.clevrer.annotations import load_annotation, read_json
from qa_data.clevrer.layout import CLEVRER_SPLIT_RANGES, SPLIT_ALIASES, SPLITS, ClevrerLayout
from qa_data.clevrer.masks import check_proposals
from qa_data.clevrer.questions import load_questions
from qa_data.clevrer.video_io import count_frames, read_video
from qa_data.clevrer.vocab import CHOICE_LEN, QUESTION_LEN, shown, text_problem
from qa_data.errors import DataError

logger = logging.getLogger(__name__)

FRAMES = 128
MAX_OBJECTS = 6
OFFICIAL_QUESTIONS = {  # git blob ids of the question files in CLEVRER's release
    "validation": "f5c170ed265baa35217b6cbcc7aa001c5f382e11",
    "train": "64dcc65bcfb3b37ae2fa41cfcfddb535c84cd5f9",
    "test": "1f38bc55c682f8c93667b92adc04634f0f6bcba2",
}
DECODE = ("none", "sample", "all")
SAMPLE_EVERY = 50  # --decode sample: every 50th present video (and at least the first of each split)

# problem -> (the stage it stops, what to do)
REMEDIES = {
    "video missing": ("perception training, evaluation, extraction", "re-download the videos, or frames.skip_bad=true"),
    "video short": ("perception training, evaluation, extraction", "frames.skip_bad=true (a counted skip)"),
    "video undecodable": ("perception training, evaluation, extraction", "re-download it, or frames.skip_bad=true"),
    "annotation missing": ("question generation, ground-truth states, mask evaluation", "re-download the annotations"),
    "annotation malformed": ("question generation, ground-truth states, mask evaluation",
                             "frames.skip_bad=true for evaluation; states skip it (counted)"),
    "annotation short": ("ground-truth states", "nothing: a counted skip of extract_states.py"),
    "proposal missing": ("perception evaluation (FG-ARI)", "re-download the proposals, or frames.skip_bad=true"),
    "proposal malformed": ("perception evaluation (FG-ARI)", "frames.skip_bad=true"),
    "proposal short": ("perception evaluation (FG-ARI)", "frames.skip_bad=true"),
    "proposal too many objects": ("perception evaluation (FG-ARI)", "frames.skip_bad=true (objects outside "
                                  "the annotation are refused)"),
    "question file missing": ("QA training and evaluation", "re-download the questions"),
    "question file malformed": ("QA training and evaluation", "re-download the questions"),
    "questions without video": ("QA training and evaluation", "nothing: a counted skip"),
    "question text without words": ("QA training and evaluation (every tokenizer)", "fix or remove the text"),
    "question text outside the vocabulary": ("QA training and evaluation (the default tokenizer)",
                                             "tokenizer.unknown=unk, or tokenizer.kind=words or sentencepiece"),
    "question text too long": ("QA training and evaluation (the default lengths)",
                               "raise tokenizer.question_len / tokenizer.choice_len"),
    "unexpected folder": ("-", "rename it to the split's name (train, validation or val, test)"),
}
# Problems that stop a stage (the exit status is non-zero when any is found).
STOPPING = {"video missing", "video short", "video undecodable", "annotation missing", "annotation malformed",
            "proposal missing", "proposal malformed", "proposal short", "proposal too many objects",
            "question file missing", "question file malformed", "unexpected folder", "question text without words",
            "question text outside the vocabulary", "question text too long"}


def git_blob_id(path: Path) -> str:
    """The id git gives a file's content: SHA-1 of `blob <size>\\0<bytes>`."""
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class VideoCheck:
    split: str
    index: int
    problems: list[tuple[str, str]] = field(default_factory=list)  # (problem, detail)
    present: dict[str, bool] = field(default_factory=dict)  # video / annotation / proposal -> present


def check_video(root: str, split: str, index: int, want_annotation: bool, decode: bool) -> VideoCheck:
    """Every check of one video's files."""
    layout, out = ClevrerLayout(root), VideoCheck(split, index)
    src = layout.video_source(split, index)
    out.present["video"] = src.exists()
    if not src.exists():
        out.problems.append(("video missing", str(src)))
    else:
        try:
            n = count_frames(src)
            if n < FRAMES:
                out.problems.append(("video short", f"{src.name}: {n} frames"))
            elif decode:
                got = len(read_video(src))
                if got < n:
                    out.problems.append(("video undecodable", f"{src.name}: {got} of {n} frames decode"))
        except DataError as e:
            out.problems.append(("video undecodable", str(e)))
    if want_annotation:
        ann = layout.annotation_path(split, index)
        out.present["annotation"] = ann.is_file()
        if not ann.is_file():
            out.problems.append(("annotation missing", str(ann)))
        else:
            try:
                frames = load_annotation(ann).num_frames
                if frames < FRAMES:
                    out.problems.append(("annotation short", f"{ann.name}: {frames} frames"))
            except DataError as e:
                out.problems.append(("annotation malformed", str(e)))
    prop = layout.proposal_path(index)
    out.present["proposal"] = prop.is_file()
    if not prop.is_file():
        out.problems.append(("proposal missing", str(prop)))
    else:
        out.problems += _proposal_problems(prop)
    return out


def _proposal_problems(path: Path) -> list[tuple[str, str]]:
    try:
        objects = check_proposals(read_json(path), path)  # objects per frame; every mask checked, none decoded
    except DataError as e:
        return [("proposal malformed", str(e))]
    problems = []
    if len(objects) < FRAMES:
        problems.append(("proposal short", f"{path.name}: {len(objects)} frames of masks"))
    if max(objects, default=0) > MAX_OBJECTS:
        problems.append(("proposal too many objects", f"{path.name}: {max(objects)} objects in a frame"))
    return problems


def _check(task) -> VideoCheck:
    return check_video(*task)


@dataclass
class CheckReport:
    table: pd.DataFrame  # one row per (split, item): expected, present, and each problem's count
    problems: pd.DataFrame  # split, problem, video, detail, stage, what to do
    questions: pd.DataFrame  # split, file, scenes, questions, blob id, status

    @property
    def stopping(self) -> bool:
        return bool(len(self.problems) and self.problems.problem.isin(STOPPING).any())


def expected_videos(layout: ClevrerLayout) -> dict[str, range]:
    """Each split's video indices: the generator's manifest for CLEVRER-sim, CLEVRER's ranges otherwise."""
    if layout.manifest_path.is_file():
        splits = json.loads(layout.manifest_path.read_text()).get("splits", {})
        return {s: range(v["first_index"], v["first_index"] + v["num_videos"]) for s, v in splits.items()}
    return {s: range(*CLEVRER_SPLIT_RANGES[s]) for s in SPLITS}


def check_dataset(root: Path, decode: str = "sample", workers: int = 1, progress: bool = True) -> CheckReport:
    """Checks every file of a dataset root (see the module docstring)."""
    if decode not in DECODE:
        raise ValueError(f"decode must be one of {DECODE}, got {decode!r}")
    layout = ClevrerLayout(root)
    if not layout.root.is_dir():
        raise DataError(layout.root, "dataset root not found")
    generated = layout.manifest_path.is_file()
    expected = expected_videos(layout)
    tasks = []
    for split, indices in expected.items():
        want_annotation = generated or split != "test"  # real CLEVRER's test split has no annotations
        present = [i for i in indices if layout.video_source(split, i).exists()]
        sampled = set(present[::SAMPLE_EVERY]) if decode == "sample" else set(present) if decode == "all" else set()
        tasks += [(str(layout.root), split, i, want_annotation, i in sampled) for i in indices]
    checks = _run(tasks, workers, progress)
    problems = [{"split": c.split, "problem": p, "video": c.index, "detail": d} for c in checks for p, d in c.problems]
    problems += _unexpected_folders(layout)
    questions, question_problems = _question_files(layout, expected)
    problems += question_problems
    rows = []
    for split in expected:
        mine = [c for c in checks if c.split == split]
        for item in ("video", "annotation", "proposal"):
            looked = [c for c in mine if item in c.present]
            if not looked:
                continue
            row = {"split": split, "item": item + "s", "expected": len(looked),
                   "present": sum(c.present[item] for c in looked)}
            for problem in REMEDIES:
                if problem.startswith(item + " ") and not problem.endswith("missing"):
                    row[problem.split(" ", 1)[1]] = sum(any(p == problem for p, _ in c.problems) for c in mine)
            rows.append(row)
    table = pd.DataFrame(rows).fillna(0)
    for col in table.columns[4:]:
        table[col] = table[col].astype(int)
    table.insert(4, "missing", table["expected"] - table["present"])
    problem_table = pd.DataFrame(problems, columns=["split", "problem", "video", "detail"])
    problem_table["stops"] = problem_table.problem.map(lambda p: REMEDIES[p][0])
    problem_table["what to do"] = problem_table.problem.map(lambda p: REMEDIES[p][1])
    return CheckReport(table, problem_table, questions)


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the main process, which stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(tasks: list, workers: int, progress: bool) -> list[VideoCheck]:
    bar = dict(total=len(tasks), desc="check videos", unit="video", disable=not progress)
    if workers <= 1 or len(tasks) < 2 * workers:
        return [_check(t) for t in tqdm(tasks, **bar)]
    # A worker that dies ends the command (BrokenProcessPool), never a wait for ever as with multiprocessing.Pool.
    # On Ctrl-C (or any error) the workers are terminated and not waited for: a worker holding a queue's lock
    # cannot keep the command alive.
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_ignore_interrupts)
    try:
        results = list(tqdm(pool.map(_check, tasks, chunksize=16), **bar))
    except BaseException:
        for proc in list((pool._processes or {}).values()):  # Python < 3.14 has no terminate_workers()
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results


def _unexpected_folders(layout: ClevrerLayout) -> list[dict]:
    known = set(SPLITS) | set(SPLIT_ALIASES)
    out = []
    for kind in ("videos", "annotations"):
        folder = layout.root / kind
        if folder.is_dir():
            out += [{"split": "-", "problem": "unexpected folder", "video": -1,
                     "detail": f"{p}: not a split name"} for p in sorted(folder.iterdir())
                    if p.is_dir() and p.name not in known]
    return out


def _question_files(layout: ClevrerLayout, expected: dict[str, range]) -> tuple[pd.DataFrame, list[dict]]:
    rows, problems = [], []
    generated = layout.manifest_path.is_file()
    for split in expected:
        path = layout.questions_path(split)
        if not path.is_file():
            problems.append({"split": split, "problem": "question file missing", "video": -1, "detail": str(path)})
            continue
        blob = git_blob_id(path)
        status = ("not CLEVRER (generated)" if generated else
                  "official" if blob == OFFICIAL_QUESTIONS.get(split) else "differs from the official file")
        try:
            scenes = load_questions(path)
        except DataError as e:
            problems.append({"split": split, "problem": "question file malformed", "video": -1, "detail": str(e)})
            rows.append({"split": split, "file": str(path), "scenes": 0, "questions": 0, "git blob id": blob,
                         "status": status})
            continue
        present = set(expected[split])
        orphans = [s.scene_index for s in scenes if s.scene_index not in present
                   or not layout.video_source(split, s.scene_index).exists()]
        if orphans:
            problems.append({"split": split, "problem": "questions without video", "video": orphans[0],
                             "detail": f"{len(orphans)} scenes, e.g. {orphans[:5]}"})
        problems += _text_problems(split, scenes)
        rows.append({"split": split, "file": str(path), "scenes": len(scenes),
                     "questions": sum(len(s.questions) for s in scenes), "git blob id": blob, "status": status})
    return pd.DataFrame(rows), problems


def _text_problems(split: str, scenes: list) -> list[dict]:
    """Question and choice texts the QA stage's default tokenizer refuses (qa_data.clevrer.vocab.text_problem)."""
    out = []
    for s in scenes:
        for q in s.questions:
            texts = [(f"question {q.question_id}", q.question, QUESTION_LEN)]
            texts += [(f"question {q.question_id} choice {c.choice_id}", c.choice, CHOICE_LEN) for c in q.choices]
            for where, text, limit in texts:
                why = text_problem(text, limit)
                if why is not None:
                    kind = ("question text without words" if why == "no words" else
                            "question text outside the vocabulary" if why.startswith("outside") else
                            "question text too long")
                    out.append({"split": split, "problem": kind, "video": s.scene_index,
                                "detail": f"{where}: {shown(text, 60)}: {why}"})
    return out
