"""The dataset doctor on generated data with planted defects: each is reported with the stage it stops."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.video_io import read_video, write_video
from qa_data.reports.cli import check_data_main as check_main
from qa_data.reports.data_check import check_dataset, git_blob_id
from qa_data.runtime.command import run_command


def test_a_clean_dataset_has_nothing_to_report(qa_root, capsys):
    report = check_dataset(qa_root, decode="all", progress=False)
    assert not len(report.problems) and not report.stopping
    assert report.table.missing.sum() == 0 and set(report.table.item) == {"videos", "annotations", "proposals"}
    assert (report.questions.status == "not CLEVRER (generated)").all()
    assert run_command(check_main, ["--data", str(qa_root), "--no-progress", "--workers", "1"]) == 0
    assert "nothing that stops a stage" in capsys.readouterr().out


def test_planted_defects_are_each_reported(qa_root, tmp_path, capsys):
    root = Path(shutil.copytree(qa_root, tmp_path / "data", ignore=shutil.ignore_patterns(".lock")))
    layout = ClevrerLayout(root)
    write_video(layout.video_path("train", 3), read_video(layout.video_path("train", 3))[:104])  # short (9777)
    layout.annotation_path("train", 4).unlink()  # missing annotation
    proposal = json.loads(layout.proposal_path(5).read_text())
    frame = next(fr for fr in proposal["frames"] if fr["objects"])
    frame["objects"][0]["mask"]["counts"] = frame["objects"][0]["mask"]["counts"][:3]  # malformed RLE
    layout.proposal_path(5).write_text(json.dumps(proposal))
    crowded = json.loads(layout.proposal_path(6).read_text())
    crowded["frames"][10]["objects"] = (crowded["frames"][10]["objects"] * 8)[:8]  # 8 objects (8182)
    layout.proposal_path(6).write_text(json.dumps(crowded))
    cut = json.loads(layout.proposal_path(7).read_text())
    cut["frames"] = cut["frames"][:104]  # 104 frames of masks (7648)
    layout.proposal_path(7).write_text(json.dumps(cut))
    (root / "videos" / "validation").rename(root / "videos" / "dev")  # a renamed split

    report = check_dataset(root, decode="sample", progress=False)
    found = {(r.problem, r.video) for r in report.problems.itertuples()}
    assert {("video short", 3), ("annotation missing", 4), ("proposal malformed", 5),
            ("proposal too many objects", 6), ("proposal short", 7)} <= found
    assert {("video missing", v) for v in (10, 11, 12)} <= found  # the validation videos, under another name
    assert any(p == "unexpected folder" for p, _ in found) and ("questions without video", 10) in found
    assert report.stopping
    short = report.problems[report.problems.problem == "video short"].iloc[0]
    assert "104 frames" in short.detail and "frames.skip_bad=true" in short["what to do"]
    table = report.table.set_index(["split", "item"])
    assert table.loc[("validation", "videos"), "missing"] == 3 and table.loc[("train", "videos"), "short"] == 1
    assert table.loc[("train", "proposals"), "malformed"] == 1

    assert run_command(check_main, ["--data", str(root), "--no-progress", "--json", str(tmp_path / "r.json")]) == 1
    out = capsys.readouterr().out
    assert "stops a stage" in out and "perception evaluation (FG-ARI)" in out
    saved = json.loads((tmp_path / "r.json").read_text())
    assert {p["problem"] for p in saved["problems"]} >= {"video short", "proposal too many objects"}


def test_git_blob_ids_are_gits(qa_root):
    path = qa_root / "questions" / "train.json"
    assert git_blob_id(path) == subprocess.run(["git", "hash-object", str(path)], capture_output=True,
                                               text=True, check=True).stdout.strip()
    assert len(np.unique([git_blob_id(p) for p in (qa_root / "questions").glob("*.json")])) >= 3


def test_question_texts_the_qa_stage_refuses_are_reported(qa_root, tmp_path):
    """The doctor checks every question and choice with the QA stage's default tokenizer, and the stage refuses
    exactly what the doctor reports."""
    from qa_data.clevrer.vocab import VocabError
    from qa_data.config import load_config
    from reasoning.config import QAConfig
    from reasoning.tokenizer import QuestionTokenizer

    root = Path(shutil.copytree(qa_root, tmp_path / "data", ignore=shutil.ignore_patterns(".lock")))
    path = ClevrerLayout(root).questions_path("validation")
    scenes = json.loads(path.read_text())
    qs = scenes[0]["questions"]
    mc = next(q for q in qs if q.get("choices"))
    qs[0]["question"] = "What color is the zorblax?"  # an unknown word
    qs[1]["question"] = "?!"  # no words
    mc["choices"][0]["choice"] = " ".join(["the cube"] * 10)  # 20 tokens, the choice limit is 12
    path.write_text(json.dumps(scenes))
    report = check_dataset(root, decode="none", progress=False)
    texts = report.problems[report.problems.problem.str.startswith("question text")]
    assert sorted(texts.problem) == ["question text outside the vocabulary", "question text too long",
                                     "question text without words"]
    assert report.stopping and "zorblax" in " ".join(texts.detail)
    tokenizer = QuestionTokenizer.train(load_config(QAConfig).tokenizer, [])
    for text, encode in ((qs[0]["question"], tokenizer.question), (qs[1]["question"], tokenizer.question),
                         (mc["choices"][0]["choice"], tokenizer.choice)):
        with pytest.raises(VocabError):  # what train_qa stops on
            encode(text)


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie or a vanished process does not)."""
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.slow
def test_ctrl_c_with_workers_ends_the_command(qa_root):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while two workers decode: the command
    exits with 130 every time, within seconds, and leaves no worker behind. Marked slow (run with `pytest -m slow`):
    on an idle machine the 16-video check ends in about 3 s, often before the signal lands, so it needs a busy
    machine (or more videos) to interrupt the workers at all."""
    import os
    import signal
    import sys
    import time

    repo = Path(__file__).resolve().parents[2]
    interrupted = 0
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, str(repo / "scripts/check_data.py"), "--data", str(qa_root),
                                 "--decode", "all", "--workers", "2", "--no-progress"], cwd=repo,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        start = time.time()
        while len(_children(proc.pid)) < 2 and proc.poll() is None and time.time() - start < 60:
            time.sleep(0.05)
        time.sleep(0.5 * attempt)  # while the workers start, and while they decode
        workers = _children(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            status = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"attempt {attempt}: still running 60 s after Ctrl-C") from None
        # 0: the check ended before the signal came (a busy machine starts the workers late); never a hang
        assert status in (0, 130), (attempt, status, proc.stderr.read()[-500:])
        if status == 130:
            interrupted += 1
            assert "interrupted" in proc.stderr.read()
        time.sleep(0.5)
        assert not [w for w in workers if _alive(w)], attempt
    assert interrupted >= 1  # at least one interrupt came while the workers ran
