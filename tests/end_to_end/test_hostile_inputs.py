"""Hostile but realistic input against the command lines and readers: every case asserts its exact
outcome (the error's content and the exit status, a counted skip, or output left unchanged). No case
may end in a traceback, a silent result, lost data or code run from a file."""
from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from perception.cli import eval_main as perception_eval_main
from perception.cli import extract_main
from perception.cli import train_main as perception_train_main
from perception.config import PerceptionConfig
from perception.registry import build_model
from qa_data.clevrer.annotations import parse_annotation
from qa_data.clevrer.masks import decode_proposals
from qa_data.clevrer.questions import parse_questions
from qa_data.config import ConfigError, load_config
from qa_data.errors import DataError
from qa_data.programs.events import scene_facts
from qa_data.programs.scoring import predictions_from_json
from qa_data.qgen.cli import main as questions_main
from qa_data.runtime.checkpoints import write_model_file
from qa_data.runtime.command import EXIT_ERROR, EXIT_INTERNAL, run_command
from qa_data.runtime.run_lock import RunLocked, run_lock
from qa_data.sim.cli import main as generate_main
from qa_data.sim.generate import GenerationFailed
from reasoning.cli import eval_main as qa_eval_main
from reasoning.cli import train_main as qa_train_main

REPO = Path(__file__).resolve().parents[2]
QA_SMALL = ["aloe.d_model=32", "aloe.layers=1", "aloe.heads=2", "aloe.ffn=32", "aloe.head_hidden=16",
            "data.num_frames=4", "train.batch_size=8", "train.log_every=1", "train.eval_batch_size=16"]
MARKER_ENV = "HOSTILE_MARKER"


# -- helpers -----------------------------------------------------------------------------------------------------------


def fails(capsys, main, *argv: str) -> str:
    """Runs a command line that must fail cleanly: exit status 2 and exactly one line on stderr, no traceback.
    Returns that line."""
    status = run_command(main, [str(a) for a in argv])
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]  # logs and progress bars aside
    assert status == EXIT_ERROR, (status, stderr[-2000:])
    assert len(errors) == 1 and stderr.strip().splitlines()[-1] == errors[0] and "Traceback" not in stderr, stderr
    return errors[0]


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` (but the lock) with its bytes: to show that a refused command changed nothing."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


class Payload:
    """A pickle that creates a marker file when it is unpickled: code run from a file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def hold_lock_elsewhere(directory: Path) -> subprocess.Popen:
    """Another process holding the directory's lock (until killed)."""
    code = ("import sys, time\nfrom qa_data.runtime.run_lock import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "held"
    return proc


# -- fixtures ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def data(qa_root, tmp_path) -> Path:
    """A private copy of the 16-video dataset with questions, free to damage."""
    return Path(shutil.copytree(qa_root, tmp_path / "data", ignore=shutil.ignore_patterns(".lock")))


@pytest.fixture(scope="module")
def perception_run(tmp_path_factory) -> Path:
    """A run directory with one untrained oddn_tiny checkpoint."""
    root = tmp_path_factory.mktemp("hostile_run")
    cfg = load_config(PerceptionConfig, REPO / "configs/perception/oddn_tiny.yaml", ["iodine.num_iters=2"])
    torch.manual_seed(0)
    (root / "checkpoints/step_0000000").mkdir(parents=True)
    write_model_file(build_model(cfg), cfg, root / "checkpoints/step_0000000/model.pt", 0)
    return root


@pytest.fixture(scope="module")
def slots(qa_root, perception_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile_slots") / "slots"
    for split in ("train", "validation"):
        assert run_command(extract_main, ["--run", str(perception_run), "--data", str(qa_root), "--out", str(out),
                                          "--split", split, "--frame-stride", "32", "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def qa_run(qa_root, slots, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile_qa") / "run"
    assert run_command(qa_train_main, ["--config", str(REPO / "configs/qa/aloe_tiny.yaml"), "--slots", str(slots),
                                       "--data", str(qa_root), "--out", str(out), *QA_SMALL, "train.steps=2"]) == 0
    return out


def questions_file(data: Path) -> Path:
    return data / "questions" / "validation.json"


def edit_json(path: Path, change) -> None:
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


def first_mc(scenes: list) -> dict:
    return next(q for q in scenes[0]["questions"] if q["question_type"] != "descriptive")


# -- 1. nothing loaded from disk runs code -----------------------------------------------------------------------------


def test_a_perception_checkpoint_carrying_code_is_refused_unrun(capsys, perception_run, qa_root, tmp_path):
    run = Path(shutil.copytree(perception_run, tmp_path / "run"))
    marker = tmp_path / "ran"
    torch.save({"model": {}, "config": {}, "model_name": "oddn", "step": 0, "x": Payload(marker)},
               run / "checkpoints/step_0000000/model.pt")
    line = fails(capsys, extract_main, "--run", run, "--data", qa_root, "--out", tmp_path / "slots")
    assert "not a plain checkpoint" in line and "model.pt" in line
    assert not marker.exists() and not (tmp_path / "slots").exists()


def test_a_qa_checkpoint_carrying_code_is_refused_unrun(capsys, qa_run, tmp_path):
    run = Path(shutil.copytree(qa_run, tmp_path / "qa", ignore=shutil.ignore_patterns(".lock")))
    marker = tmp_path / "ran"
    model_pt = next(run.glob("checkpoints/step_*/model.pt"))
    payload = torch.load(model_pt, weights_only=True)
    payload["run_info"] = {**payload["run_info"], "x": Payload(marker)}
    torch.save(payload, model_pt)
    line = fails(capsys, qa_eval_main, "--run", run)
    assert "not a plain checkpoint" in line and not marker.exists()


def test_qa_resume_never_unpickles_accelerates_custom_state(capsys, qa_root, slots, tmp_path):
    runs = {}
    for name in ("whole", "cut"):
        out = tmp_path / name
        args = [str(a) for a in ("--config", REPO / "configs/qa/aloe_tiny.yaml", "--slots", slots, "--data", qa_root,
                                 "--out", out, *QA_SMALL, "train.steps=4", "train.checkpoint_every=2",
                                 "train.keep_checkpoints=3")]
        assert run_command(qa_train_main, args) == 0
        runs[name] = (out, args)
    out, args = runs["cut"]
    shutil.rmtree(out / "checkpoints/step_0000004")  # killed after step 2's checkpoint
    marker = tmp_path / "ran"
    with open(out / "checkpoints/step_0000002/custom_checkpoint_0.pkl", "wb") as f:
        pickle.dump(Payload(marker), f)  # what accelerate would unpickle with weights_only=False
    capsys.readouterr()
    line = fails(capsys, qa_train_main, *args)
    assert "custom_checkpoint_0.pkl" in line and "never loaded" in line and not marker.exists()
    # an older version's checkpoint: its schedule lived in that file; without it, rebuilt from the step
    (out / "checkpoints/step_0000002/custom_checkpoint_0.pkl").unlink()
    model_pt = out / "checkpoints/step_0000002/model.pt"
    payload = torch.load(model_pt, weights_only=True)
    del payload["scheduler"]
    torch.save(payload, model_pt)
    assert run_command(qa_train_main, args) == 0 and not marker.exists()
    a = torch.load(runs["whole"][0] / "checkpoints/step_0000004/model.pt", weights_only=True)
    b = torch.load(out / "checkpoints/step_0000004/model.pt", weights_only=True)
    assert a["scheduler"] == b["scheduler"] and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_a_checkpoint_that_is_not_a_torch_file_is_a_clear_error(capsys, perception_run, qa_root, tmp_path):
    run = Path(shutil.copytree(perception_run, tmp_path / "run"))
    (run / "checkpoints/step_0000000/model.pt").write_bytes(b"\x00not a checkpoint" * 10)
    line = fails(capsys, extract_main, "--run", run, "--data", qa_root, "--out", tmp_path / "slots")
    assert "model.pt" in line and "not a readable checkpoint" in line


def test_a_plain_dict_is_not_a_model_checkpoint(capsys, perception_run, qa_root, tmp_path):
    run = Path(shutil.copytree(perception_run, tmp_path / "run"))
    torch.save({"weights": torch.zeros(2)}, run / "checkpoints/step_0000000/model.pt")
    line = fails(capsys, extract_main, "--run", run, "--data", qa_root, "--out", tmp_path / "slots")
    assert "not a model checkpoint (missing ['config', 'model', 'model_name', 'step'])" in line


def test_checkpoints_of_the_other_stage_are_refused_by_name(capsys, perception_run, qa_run, qa_root, slots, tmp_path):
    prun = Path(shutil.copytree(perception_run, tmp_path / "prun"))
    before = tree_bytes(prun)
    line = fails(capsys, qa_train_main, "--config", REPO / "configs/qa/aloe_tiny.yaml", "--slots", slots, "--data",
                 qa_root, "--out", prun, *QA_SMALL, "train.steps=2")
    assert "a perception checkpoint (oddn), not a qa one" in line and tree_bytes(prun) == before
    line = fails(capsys, extract_main, "--run", qa_run, "--data", qa_root, "--out", tmp_path / "slots")
    assert "a qa checkpoint (aloe), not a perception one" in line


# -- 2, 3. question files: every field checked, ids unique -------------------------------------------------------------

QUESTION_CASES = {
    "empty choices": (lambda s: first_mc(s).update(choices=[]), "needs at least one choice, got 'choices': []"),
    "duplicate question id": (lambda s: s[0]["questions"][1].update(question_id=s[0]["questions"][0]["question_id"]),
                              "duplicate question_id [0]"),
    "all question ids equal": (lambda s: [q.update(question_id=7) for q in s[0]["questions"]],
                               "duplicate question_id [7]"),
    "question id as a string": (lambda s: s[0]["questions"][0].update(question_id="0"),
                                "question_id must be an integer, got '0'"),
    "question id as a bool": (lambda s: s[0]["questions"][0].update(question_id=True),
                              "question_id must be an integer, got True"),
    "negative question id": (lambda s: s[0]["questions"][0].update(question_id=-1), "question_id must be >= 0"),
    "duplicate scene": (lambda s: s.append(s[0]), "appears twice"),
    "scene index as a float": (lambda s: s[0].update(scene_index=13.5), "scene_index must be an integer, got 13.5"),
    "choice answer not correct|wrong": (lambda s: first_mc(s)["choices"][0].update(answer="maybe"),
                                        "answer must be correct|wrong, got 'maybe'"),
    "duplicate choice id": (lambda s: first_mc(s)["choices"][1].update(choice_id=first_mc(s)["choices"][0]["choice_id"])
                            if len(first_mc(s)["choices"]) > 1
                            else first_mc(s)["choices"].append(first_mc(s)["choices"][0]),
                            "duplicate choice_id"),
    "unknown question type": (lambda s: s[0]["questions"][0].update(question_type="hypothetical"),
                              "unknown question_type 'hypothetical'"),
    "some choices unanswered": (lambda s: first_mc(s)["choices"][0].pop("answer"),
                                "some choices have an answer and some do not"),
    "empty question text": (lambda s: s[0]["questions"][0].update(question="  "), "the question text is empty"),
    "question text not a string": (lambda s: s[0]["questions"][0].update(question=["what"]),
                                   "question must be a string, got list"),
}


@pytest.mark.parametrize("case", list(QUESTION_CASES))
def test_bad_question_files_are_refused_naming_the_field(case, qa_root):
    change, message = QUESTION_CASES[case]
    scenes = json.loads(questions_file(qa_root).read_text())
    change(scenes)
    with pytest.raises(DataError) as err:
        parse_questions(scenes, "validation.json")
    assert message in str(err.value) and str(err.value).startswith("validation.json: ")
    if "scene" not in case:
        assert f"scene {scenes[0]['scene_index']}" in str(err.value)  # names the scene (and the question)


def test_empty_choices_no_longer_score_as_correct_at_evaluation(capsys, qa_run, data):
    edit_json(questions_file(data), lambda s: first_mc(s).update(choices=[]))
    line = fails(capsys, qa_eval_main, "--run", qa_run, "--data", data, "--out", data / "eval")
    assert "validation.json" in line and "needs at least one choice" in line and not (data / "eval").exists()


def test_keyed_layout_with_a_non_integer_scene_key_is_refused():
    with pytest.raises(DataError, match="scene key 'video_10000' is not an integer"):
        parse_questions({"video_10000": {"questions": []}}, "humans.json")


def test_a_prediction_given_twice_is_refused():
    preds = [{"scene_index": 3,
              "questions": [{"question_id": 1, "answer": "red"}, {"question_id": 1, "answer": "blue"}]}]
    with pytest.raises(DataError, match="scene 3: question 1 is predicted twice"):
        predictions_from_json(preds, "submission.json")
    with pytest.raises(DataError, match="question_id must be an integer, got '1'"):
        predictions_from_json([{"scene_index": 3, "questions": [{"question_id": "1", "answer": "red"}]}], "s.json")


# -- 7. annotations: finite numbers, right lengths and types, known ids ------------------------------------------------

ANNOTATION_CASES = {
    "NaN location": (lambda a: a["motion_trajectory"][5]["objects"][0].update(location=[math.nan, 0.0, 0.2]),
                     "motion_trajectory[5].objects[0].location must be finite"),
    "infinite velocity": (lambda a: a["motion_trajectory"][9]["objects"][1].update(velocity=[math.inf, 0.0, 0.0]),
                          "motion_trajectory[9].objects[1].velocity must be finite"),
    "location of two numbers": (lambda a: a["motion_trajectory"][0]["objects"][0].update(location=[0.0, 1.0]),
                                "location must be a list of 3 numbers"),
    "location with a string": (lambda a: a["motion_trajectory"][0]["objects"][0].update(location=[0.0, "1", 0.2]),
                               "location must be a list of 3 numbers"),
    "object id as a string": (lambda a: a["object_property"][0].update(object_id="0"),
                              "'object_id' must be int, got str"),
    "unknown colour": (lambda a: a["object_property"][0].update(color="magenta"), "'color' must be one of"),
    "duplicate object ids": (lambda a: a["object_property"][1].update(object_id=a["object_property"][0]["object_id"]),
                             "object_id values are not unique"),
    "frames out of order": (lambda a: a["motion_trajectory"][3].update(frame_id=1), "frame_id 1 does not follow 2"),
    "negative frame id": (lambda a: a["motion_trajectory"][0].update(frame_id=-1), "'frame_id' must be >= 0, got -1"),
    "an object twice in a frame": (lambda a: a["motion_trajectory"][0]["objects"].append(
                                       a["motion_trajectory"][0]["objects"][0]),
                                   "appears twice in frame 0"),
    "collision of an object with itself": (lambda a: a["collision"].append({"object_ids": [0, 0], "frame_id": 3,
                                                                            "location": [0, 0, 0]}),
                                           "object_ids must be 2 different ids"),
    "negative scene index": (lambda a: a.update(scene_index=-4), "'scene_index' must be >= 0, got -4"),
    "visibility as a number": (lambda a: a["motion_trajectory"][0]["objects"][0].update(inside_camera_view=1),
                               "'inside_camera_view' must be bool, got int"),
}


@pytest.mark.parametrize("case", list(ANNOTATION_CASES))
def test_bad_annotations_are_refused_naming_the_field(case, qa_root):
    change, message = ANNOTATION_CASES[case]
    path = qa_root / "annotation_00000-01000" / "annotation_00000.json"
    if not path.is_file():
        path = next(qa_root.rglob("annotation_00000.json"))
    ann = json.loads(path.read_text())
    change(ann)
    with pytest.raises(DataError) as err:
        parse_annotation(ann, "annotation_00000.json")
    assert message in str(err.value) and str(err.value).startswith("annotation_00000.json: ")


def test_nan_in_an_annotation_stops_question_generation_and_keeps_the_questions(capsys, data):
    before = tree_bytes(data / "questions")
    path = next(data.rglob("annotation_00002.json"))
    edit_json(path, lambda a: a["motion_trajectory"][40]["objects"][0].update(location=[0.1, math.nan, 0.2]))
    line = fails(capsys, questions_main, "--data", data, "--workers", "1")
    assert "annotation_00002.json" in line and "location must be finite" in line
    # the question files are untouched; the manifest that marks them up to date is gone until a run completes
    assert tree_bytes(data / "questions") == {k: v for k, v in before.items() if k != "questions_manifest.json"}


def test_tail_events_naming_an_unknown_object_are_refused(qa_root):
    ann = parse_annotation(json.loads(next(qa_root.rglob("annotation_00001.json")).read_text()))
    tail = {"collision": [{"object_ids": [0, 99], "frame_id": 140}], "enter": [], "exit": []}
    with pytest.raises(DataError, match=r"tail.json: collision\[0\]: expected 2 different object ids"):
        scene_facts(ann, tail, None, "tail.json")
    with pytest.raises(DataError, match=r"cf.json: counterfactuals\[0\]: expected 1 different object ids"):
        scene_facts(ann, None, {"counterfactuals": [{"removed_object_id": "0", "collision": []}]}, "t", "cf.json")


# -- 4. instance masks (COCO RLE) --------------------------------------------------------------------------------------


def proposal(qa_root: Path) -> dict:
    return json.loads((qa_root / "derender_proposals" / "proposal_00000.json").read_text())


def first_object(p: dict) -> tuple[int, dict]:
    t = next(t for t, fr in enumerate(p["frames"]) if fr["objects"])
    return t, p["frames"][t]["objects"][0]


def counts_of(height: int, width: int) -> str:
    """The RLE string of a mask of another size: a proposal made at another resolution."""
    from pycocotools import mask as mask_utils

    m = np.zeros((height, width), dtype=np.uint8)
    m[10:20, 10:20] = 1
    return mask_utils.encode(np.asfortranarray(m))["counts"].decode("ascii")


@pytest.mark.parametrize("damage, message", [
    (lambda m: m.update(counts=counts_of(m["size"][0], m["size"][1] - 1)), "RLE run lengths add up to 6080 pixels, but "
                                                                          "the mask size 64x96 has 6144"),
    (lambda m: m.update(counts=counts_of(m["size"][0] + 1, m["size"][1])), "RLE run lengths add up to 6240 pixels"),
    (lambda m: m.update(counts=m["counts"][:3] + " " + m["counts"][4:]), "is not an RLE code"),
    (lambda m: m.update(size=[0, 96]), "mask size must be [height, width] of positive integers"),
    (lambda m: m.update(size=[64, 96, 3]), "mask size must be [height, width] of positive integers"),
    (lambda m: m.update(counts=[10, 20]), "mask counts must be a compressed RLE string"),
], ids=["short counts", "long counts", "bad character", "zero size", "three dims", "uncompressed counts"])
def test_malformed_rle_masks_are_refused_naming_file_frame_and_object(damage, message, qa_root):
    p = proposal(qa_root)
    t, obj = first_object(p)
    damage(obj["mask"])
    with pytest.raises(DataError) as err:
        decode_proposals(p, "proposal_00000.json")
    text = str(err.value)
    assert text.startswith("proposal_00000.json: ") and f"frames[{t}].objects[0]" in text and message in text
    assert obj["color"] in text  # the object, by its attributes


def test_a_malformed_mask_file_stops_perception_evaluation_in_one_line(capsys, perception_run, data, tmp_path):
    run = Path(shutil.copytree(perception_run, tmp_path / "run"))
    path = data / "derender_proposals" / "proposal_00010.json"  # the first validation video
    p = json.loads(path.read_text())
    _, obj = first_object(p)
    obj["mask"]["counts"] = counts_of(64, 95)  # a mask made at another width
    path.write_text(json.dumps(p))
    line = fails(capsys, perception_eval_main, "--run", run, "--data", data, "eval.num_videos=1")
    assert "proposal_00010.json" in line and "RLE run lengths add up to" in line


# -- 5. one writer per directory ---------------------------------------------------------------------------------------


def test_a_second_qa_training_in_the_same_directory_is_refused_at_once(capsys, qa_root, slots, qa_run, tmp_path):
    run = Path(shutil.copytree(qa_run, tmp_path / "qa", ignore=shutil.ignore_patterns(".lock")))
    before = tree_bytes(run)
    holder = hold_lock_elsewhere(run)
    try:
        t0 = time.perf_counter()
        line = fails(capsys, qa_train_main, "--config", REPO / "configs/qa/aloe_tiny.yaml", "--slots", slots,
                     "--data", qa_root, "--out", run, *QA_SMALL, "train.steps=4")
        assert time.perf_counter() - t0 < 60  # refused, not queued
    finally:
        holder.kill()
        holder.wait()
    assert f"is in use by another command (pid {holder.pid}" in line and str(run) in line
    assert tree_bytes(run) == before  # neither log nor checkpoints touched


@pytest.mark.parametrize("command", ["train_perception", "generate_questions", "extract_slots", "generate_data"])
def test_every_writing_command_refuses_a_held_directory(command, capsys, perception_run, data, tmp_path):
    target = {"train_perception": tmp_path / "run", "generate_questions": data, "extract_slots": tmp_path / "slots",
              "generate_data": tmp_path / "gen"}[command]
    target.mkdir(exist_ok=True)
    before = tree_bytes(target)
    argv = {"train_perception": (perception_train_main, "--config", REPO / "configs/perception/iodine_tiny.yaml",
                                 "--data", data, "--out", target, "train.steps=1"),
            "generate_questions": (questions_main, "--data", data, "--workers", "1"),
            "extract_slots": (extract_main, "--run", perception_run, "--data", data, "--out", target),
            "generate_data": (generate_main, "--out", target, "--num-videos", "3")}[command]
    holder = hold_lock_elsewhere(target)
    try:
        line = fails(capsys, *argv)
    finally:
        holder.kill()
        holder.wait()
    assert "is in use by another command" in line and tree_bytes(target) == before


def test_a_lock_dies_with_its_holder(tmp_path):
    holder = hold_lock_elsewhere(tmp_path)
    with pytest.raises(RunLocked, match=f"pid {holder.pid}"):
        with run_lock(tmp_path):
            pass
    holder.kill()  # kill -9: the kernel releases the lock
    holder.wait()
    with run_lock(tmp_path):
        with run_lock(tmp_path):  # re-entrant within a process (a stage of the main job)
            pass
    assert (tmp_path / ".lock").read_text() == ""  # released, naming no holder


# -- 6, 9. caches: identity and attributes -----------------------------------------------------------------------------


def test_a_resumed_extraction_from_another_dataset_is_refused(capsys, perception_run, qa_root, data, tmp_path):
    out = tmp_path / "slots"
    args = ["--run", perception_run, "--out", out, "--split", "validation", "--frame-stride", "32", "--no-progress"]
    assert run_command(extract_main, [str(a) for a in (*args, "--data", qa_root)]) == 0
    capsys.readouterr()
    before = tree_bytes(out)
    line = fails(capsys, extract_main, *args, "--data", data)
    assert "refusing to add to it" in line and "data_root" in line and tree_bytes(out) == before


def test_a_cache_of_another_dataset_or_split_is_refused(capsys, qa_root, no_render, slots, qa_run, tmp_path):
    """A slot cache trains and evaluates only the questions of the dataset and split it was made from."""
    config = REPO / "configs/qa/aloe_tiny.yaml"
    line = fails(capsys, qa_train_main, "--config", config, "--slots", slots, "--data", no_render, "--out",
                 tmp_path / "q", *QA_SMALL, "train.steps=1")
    assert "train.h5" in line and "was made from another dataset" in line and "clevrer-sim:" in line
    assert not (tmp_path / "q").exists()  # refused before anything is written
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    shutil.copy(slots / "train.h5", swapped / "validation.h5")
    shutil.copy(slots / "validation.h5", swapped / "train.h5")
    line = fails(capsys, qa_train_main, "--config", config, "--slots", swapped, "--data", qa_root, "--out",
                 tmp_path / "q2", *QA_SMALL, "train.steps=1")
    assert "train.h5" in line and "holds the 'validation' split, not 'train'" in line
    line = fails(capsys, qa_eval_main, "--run", qa_run, "--slots", swapped, "--out", tmp_path / "eval")
    assert "validation.h5" in line and "holds the 'train' split, not 'validation'" in line
    assert not (tmp_path / "eval").exists()
    copy = Path(shutil.copytree(qa_root, tmp_path / "copy", ignore=shutil.ignore_patterns(".lock")))
    assert run_command(qa_eval_main, ["--run", str(qa_run), "--data", str(copy), "--out", str(tmp_path / "e2")]) == 0


def test_evaluating_on_a_cache_from_another_checkpoint_is_refused(capsys, qa_run, qa_root, tmp_path):
    cfg = load_config(PerceptionConfig, REPO / "configs/perception/oddn_tiny.yaml", ["iodine.num_iters=2"])
    torch.manual_seed(1)  # another checkpoint of the same model
    other = tmp_path / "other"
    (other / "checkpoints/step_0000000").mkdir(parents=True)
    write_model_file(build_model(cfg), cfg, other / "checkpoints/step_0000000/model.pt", 0)
    assert run_command(extract_main, ["--run", str(other), "--data", str(qa_root), "--out", str(tmp_path / "slots"),
                                      "--split", "validation", "--frame-stride", "32", "--no-progress"]) == 0
    capsys.readouterr()
    line = fails(capsys, qa_eval_main, "--run", qa_run, "--slots", tmp_path / "slots", "--out", tmp_path / "eval")
    assert "another producer" in line and "producer_id" in line and not (tmp_path / "eval").exists()


@pytest.mark.parametrize("attr, value, message", [
    ("d_static", 3, "dataset slots has shape"),
    ("frames_per_video", 128, "dataset slots has shape"),
    ("num_videos", 99, "dataset slots has shape"),
    ("num_slots", 0, "num_slots, frame_stride and d_static + d_dyn must be >= 1"),
    ("video_index_first", 5, "video_index is not ascending from video_index_first"),
    ("d_dyn", -2, "attribute d_dyn must be an integer >= 0"),
])
def test_tampered_cache_attributes_are_refused_on_open(attr, value, message, slots, tmp_path):
    path = Path(shutil.copy(slots / "validation.h5", tmp_path / "validation.h5"))
    with h5py.File(path, "r+") as f:
        f.attrs[attr] = value
    from qa_data.slots.slot_cache import SlotFrames, SlotSampling

    with pytest.raises(DataError, match=message.replace("+", r"\+")):
        SlotFrames(path, SlotSampling(num_frames=2))


def test_a_status_value_outside_the_format_is_refused(slots, tmp_path):
    path = Path(shutil.copy(slots / "validation.h5", tmp_path / "validation.h5"))
    with h5py.File(path, "r+") as f:
        f["status"][0] = 7
    from qa_data.slots.slot_cache import SlotFrames

    with pytest.raises(DataError, match="status holds values other than"):
        SlotFrames(path)


def test_non_finite_features_in_a_done_row_are_refused(capsys, qa_run, slots, tmp_path):
    cache = Path(shutil.copytree(slots, tmp_path / "slots", ignore=shutil.ignore_patterns(".lock")))
    with h5py.File(cache / "validation.h5", "r+") as f:
        row = f["slots"][1]
        row[0, 0, 0] = np.nan
        f["slots"][1] = row
        video = int(f["video_index"][1])
    line = fails(capsys, qa_eval_main, "--run", qa_run, "--slots", cache, "--out", tmp_path / "eval")
    assert f"validation.h5: video {video}: non-finite features in a row marked done" in line


# -- 8. silent no-ops --------------------------------------------------------------------------------------------------


def test_questions_for_a_missing_path_are_an_error_that_creates_nothing(capsys, tmp_path):
    line = fails(capsys, questions_main, "--data", tmp_path / "nowhere")
    assert "nowhere: directory not found" in line and not (tmp_path / "nowhere").exists()


def test_questions_for_an_empty_directory_write_no_manifest(capsys, tmp_path):
    line = fails(capsys, questions_main, "--data", tmp_path)
    assert "no annotated videos found" in line and not (tmp_path / "questions").exists()


def test_a_deleted_annotation_is_an_error_naming_the_video(capsys, data):
    before = tree_bytes(data / "questions")
    next(data.rglob("annotation_00004.json")).unlink()
    line = fails(capsys, questions_main, "--data", data, "--workers", "1")
    assert "annotation_00004.json: annotation not found, so train video 4 would get no questions" in line
    assert tree_bytes(data / "questions") == before  # found before any work: even the manifest stays


@pytest.mark.parametrize("steps", ["0", "-3"])
def test_training_for_no_steps_is_refused_before_writing(steps, capsys, qa_root, slots, tmp_path):
    line = fails(capsys, perception_train_main, "--config", REPO / "configs/perception/iodine_tiny.yaml", "--data",
                 qa_root, "--out", tmp_path / "p", f"train.steps={steps}")
    assert f"train.steps must be a number >= 1, got {steps}" in line
    line = fails(capsys, qa_train_main, "--config", REPO / "configs/qa/aloe_tiny.yaml", "--slots", slots, "--data",
                 qa_root, "--out", tmp_path / "q", f"train.steps={steps}")
    assert f"train.steps must be a number >= 1, got {steps}" in line
    assert not (tmp_path / "p").exists() and not (tmp_path / "q").exists()


# -- 9. configs checked before any file is written ---------------------------------------------------------------------


@pytest.mark.parametrize("override, message", [
    ("fps=0", "fps must be an integer >= 1, got 0"),
    ("fps=-25", "fps must be an integer >= 1, got -25"),
    ("splits.train=-1", "splits must be video counts >= 0"),
    ("camera.width=0", "camera width and height must be even and >= 2"),
    ("duration_s=0", "duration_s must be > 0"),
    ("scene.max_objects=0", "need 1 <= scene.min_objects <= scene.max_objects <= 48"),
    ("physics.hz=30", "physics.hz (30) must be a positive multiple of fps (25)"),
])
def test_bad_generator_settings_write_nothing(override, message, capsys, tmp_path):
    line = fails(capsys, generate_main, "--out", tmp_path / "gen", override)
    assert message in line and not (tmp_path / "gen").exists()


def test_the_corrected_rerun_after_a_failed_start_proceeds(capsys, tmp_path, monkeypatch):
    import qa_data.sim.generate as gen

    def broken_world(cfg):
        raise RuntimeError("no renderer on this machine")

    monkeypatch.setattr(gen, "World", broken_world)
    line = fails(capsys, generate_main, "--out", tmp_path / "gen", "--num-videos", "3", "--no-questions",
                 "--workers", "1", "camera.width=32", "camera.height=32")
    assert "train video 0 failed: the worker could not start: RuntimeError: no renderer on this machine" in line
    monkeypatch.undo()
    # corrected settings (another config than the manifest's): nothing was written, so it may proceed
    assert run_command(generate_main, ["--out", str(tmp_path / "gen"), "--num-videos", "3", "--no-questions",
                                       "--workers", "1", "camera.width=32", "camera.height=24"]) == 0
    assert json.loads((tmp_path / "gen" / "manifest.json").read_text())["complete"] is True


def test_a_dataset_with_videos_is_not_overwritten_by_other_settings(capsys, sim_data, tmp_path):
    root = Path(shutil.copytree(sim_data, tmp_path / "d", ignore=shutil.ignore_patterns(".lock")))
    before = tree_bytes(root)
    line = fails(capsys, generate_main, "--out", root, "--num-videos", "6", "--seed", "5", "--no-questions")
    assert "generated with another config" in line and "holds 6 videos" in line and tree_bytes(root) == before


def test_skip_bad_survives_a_video_that_decodes_partly(qa_root, tmp_path, monkeypatch):
    import qa_data.clevrer.datasets as datasets
    from perception.config import FramesConfig
    from perception.frames import build_frame_store

    real = datasets.read_video

    def partly(path, max_frames=None):
        video = real(path, max_frames)
        return video[:50] if "video_00003" in str(path) else video  # the header says 128 frames

    monkeypatch.setattr(datasets, "read_video", partly)
    cfg = FramesConfig(frame_stride=16, skip_bad=True)
    path = build_frame_store(qa_root, "train", cfg, tmp_path / "cache", show_progress=False)
    with h5py.File(path, "r") as f:
        assert 3 not in f["video_index"][:].tolist() and len(f["video_index"]) == len(f["frames"]) == 9
        assert "1 item(s) skipped" in f.attrs["skipped"] and "video_00003.mp4" in f.attrs["skipped"]
    with pytest.raises(DataError, match="video_00003.mp4: decoded 50 frames"):
        build_frame_store(qa_root, "train", FramesConfig(frame_stride=16), tmp_path / "strict", show_progress=False)


# -- 10. failures in workers end the command at once -------------------------------------------------------------------


def test_a_bad_annotation_in_a_question_worker_ends_the_command(data):
    edit_json(next(data.rglob("annotation_00005.json")), lambda a: a["object_property"][0].update(shape="torus"))
    done = subprocess.run([sys.executable, str(REPO / "scripts/generate_questions.py"), "--data", str(data),
                           "--workers", "2"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == EXIT_ERROR, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "annotation_00005.json" in last and "'shape' must be one of" in last


@pytest.mark.parametrize("err", [DataError("a.json", "bad field"), ConfigError("x must be > 0"),
                                 RunLocked("/runs/a", "pid 1 on host"), GenerationFailed("train", 4, "boom\ntrace")])
def test_project_errors_cross_process_boundaries_intact(err):
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err)


# -- 11. logs after a resume -------------------------------------------------------------------------------------------


def test_a_resumed_qa_run_logs_each_step_once(qa_root, slots, tmp_path):
    out = tmp_path / "qa"
    args = [str(a) for a in ("--config", REPO / "configs/qa/aloe_tiny.yaml", "--slots", slots, "--data", qa_root,
                             "--out", out, *QA_SMALL, "train.steps=4", "train.checkpoint_every=2")]
    assert run_command(qa_train_main, args) == 0
    shutil.rmtree(out / "checkpoints/step_0000004")  # killed after logging steps 3 and 4
    with open(out / "train_log.jsonl", "a") as f:
        f.write('{"step": 4, "train/lo')  # and in the middle of a line
    assert run_command(qa_train_main, args) == 0
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in rows if "train/loss" in r]
    assert train_steps == [1, 2, 3, 4]


def test_a_resumed_perception_run_logs_each_step_once(sim_data, tmp_path):
    out = tmp_path / "run"
    args = [str(a) for a in ("--config", REPO / "configs/perception/iodine_tiny.yaml", "--data", sim_data, "--out",
                             out, "train.steps=4", "train.checkpoint_every=2", "train.log_every=1",
                             "iodine.num_iters=1", "eval.num_videos=1", "eval.frames_per_video=1")]
    assert run_command(perception_train_main, args) == 0
    shutil.rmtree(out / "checkpoints/step_0000004")
    assert run_command(perception_train_main, args) == 0
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


# -- configs and files of the wrong kind -------------------------------------------------------------------------------


def test_a_yaml_preset_that_builds_objects_is_refused_unrun(capsys, qa_root, tmp_path):
    preset = tmp_path / "evil.yaml"
    preset.write_text(f"model: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path "
                      f"['{tmp_path / 'ran'}']]\n")
    line = fails(capsys, perception_train_main, "--config", preset, "--data", qa_root, "--out", tmp_path / "run")
    assert "evil.yaml: not a plain YAML config" in line and not (tmp_path / "ran").exists()
    assert not (tmp_path / "run").exists()


def test_a_malformed_yaml_preset_is_one_line(capsys, qa_root, tmp_path):
    preset = tmp_path / "bad.yaml"
    preset.write_text("train: {steps: 3\n")
    line = fails(capsys, perception_train_main, "--config", preset, "--data", qa_root, "--out", tmp_path / "run")
    assert "bad.yaml: not a plain YAML config" in line


def test_an_unknown_config_key_is_refused(capsys, qa_root, slots, tmp_path):
    line = fails(capsys, qa_train_main, "--config", REPO / "configs/qa/aloe_tiny.yaml", "--slots", slots, "--data",
                 qa_root, "--out", tmp_path / "q", "train.stepz=3")
    assert "stepz" in line and "QAConfig" in line and not (tmp_path / "q").exists()


def test_a_tampered_saved_run_config_is_refused_on_resume(capsys, sim_data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("- a list\n- not a config\n")
    line = fails(capsys, perception_train_main, "--config", REPO / "configs/perception/iodine_tiny.yaml", "--data",
                 sim_data, "--out", run, "train.steps=1")
    assert "config.yaml: not a saved run config" in line


def test_a_question_file_that_is_not_text_is_refused(capsys, qa_run, data):
    questions_file(data).write_bytes(b"\xff\xfe\x00binary")
    line = fails(capsys, qa_eval_main, "--run", qa_run, "--data", data, "--out", data / "eval")
    assert "validation.json: not a UTF-8 text file" in line


def test_a_slot_cache_that_is_not_hdf5_is_refused(capsys, qa_run, tmp_path):
    (tmp_path / "slots").mkdir()
    (tmp_path / "slots" / "validation.h5").write_text("not hdf5")
    line = fails(capsys, qa_eval_main, "--run", qa_run, "--slots", tmp_path / "slots", "--out", tmp_path / "eval")
    assert "validation.h5: cannot open as HDF5" in line


@pytest.mark.parametrize("case", ["unknown split", "zero batch", "negative ball videos", "zero length"])
def test_bad_arguments_are_one_line_and_create_nothing(case, capsys, perception_run, qa_root, tmp_path):
    from perception.cli import lengths_main
    from qa_data.balls.cli import main as balls_main

    out = tmp_path / "out"
    main, argv, message = {
        "unknown split": (extract_main, ["--run", perception_run, "--data", qa_root, "--out", out, "--split", "dev"],
                          "unknown split 'dev'"),
        "zero batch": (extract_main, ["--run", perception_run, "--data", qa_root, "--out", out, "--batch-size", "0"],
                       "--batch-size must be >= 1"),
        "negative ball videos": (balls_main, ["--out", out, "splits.train.videos=-1"],
                                 "splits.train.videos must be >= 0, got -1"),
        "zero length": (lengths_main, ["--runs", perception_run, "--data", qa_root, "--out", out, "--lengths", "0"],
                        "--lengths must be >= 1"),
    }[case]
    assert message in fails(capsys, main, *argv) and not out.exists()


# -- the command line itself -------------------------------------------------------------------------------------------


def test_debug_lets_the_traceback_through(qa_root, tmp_path):
    with pytest.raises(DataError, match="directory not found"):
        run_command(questions_main, ["--data", str(tmp_path / "nowhere"), "--debug"])


def test_an_unexpected_failure_is_one_line_that_points_to_debug(capsys):
    def broken(argv):
        return {}["missing"]

    assert run_command(broken, []) == EXIT_INTERNAL
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: KeyError: 'missing' (unexpected; rerun with --debug for the traceback)"]


def test_usage_errors_keep_argparses_status(capsys):
    assert run_command(generate_main, []) == 2  # --out missing
    assert "the following arguments are required: --out" in capsys.readouterr().err


# -- round 2 (issue 33): settings checked when the config is built, OS errors and long inputs in one line -------------


@pytest.mark.parametrize("override, message", [
    ("data.num_frames=0", "data.num_frames must be a number >= 1, got 0"),
    ("aloe.heads=5", "aloe.heads (5) must divide aloe.d_model (32)"),
    ("train.seed=-1", "train.seed must be a number >= 0, got -1"),
    ("aloe.dropout=1.5", "aloe.dropout is a probability in [0, 1), got 1.5"),
    ("tokenizer.kind=sentencepiece tokenizer.sp_vocab_size=4", "tokenizer.sp_vocab_size=4: sentencepiece cannot"),
])
def test_qa_settings_out_of_range_are_user_errors(override, message, capsys, qa_root, slots, tmp_path):
    line = fails(capsys, qa_train_main, "--config", REPO / "configs/qa/aloe_tiny.yaml", "--slots", slots, "--data",
                 qa_root, "--out", tmp_path / "q", *QA_SMALL, *override.split())
    assert message in line and not (tmp_path / "q").exists()


def test_tokenizer_report_settings_are_user_errors(capsys, qa_root):
    from reasoning.cli import tokenize_main as tokens_main

    questions = qa_root / "questions" / "train.json"
    assert "min_count, question_len and choice_len must be >= 1" in fails(
        capsys, tokens_main, "--questions", questions, "--tokenizer", "words", "--min-count", "0")
    assert "sp_vocab_size=4: sentencepiece cannot" in fails(
        capsys, tokens_main, "--questions", questions, "--tokenizer", "sentencepiece", "--sp-vocab-size", "4")


def test_a_negative_generator_seed_writes_nothing(capsys, tmp_path):
    line = fails(capsys, generate_main, "--preset", "tiny", "--num-videos", "3", "--seed", "-1", "--no-render",
                 "--workers", "1", "--out", tmp_path / "d")
    assert "seed must be an integer in [0, 2**32), got -1" in line and not (tmp_path / "d").exists()


def test_an_output_path_that_is_a_file_is_a_user_error(capsys, qa_root, slots, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")
    line = fails(capsys, qa_train_main, "--config", REPO / "configs/qa/aloe_tiny.yaml", "--slots", slots, "--data",
                 qa_root, "--out", taken, *QA_SMALL, "train.steps=1")
    assert str(taken) in line and "exists" in line.lower() and taken.read_text() == "a file, not a folder"


def test_a_huge_unknown_question_is_one_short_line(capsys, qa_root, slots, tmp_path):
    data = Path(shutil.copytree(qa_root, tmp_path / "data", ignore=shutil.ignore_patterns(".lock")))
    scenes = json.loads(questions_file(data).read_text())
    scenes[0]["questions"][0]["question"] = " ".join(["zorblax"] * 200_000) + "?"
    questions_file(data).write_text(json.dumps(scenes))
    line = fails(capsys, qa_train_main, "--config", REPO / "configs/qa/aloe_tiny.yaml", "--slots", slots, "--data",
                 data, "--out", tmp_path / "q", *QA_SMALL, "train.steps=1")
    assert "zorblax" in line and "outside the CLEVRER question vocabulary" in line and len(line) < 1000


@pytest.mark.parametrize("err, expected", [
    (OSError(30, "Read-only file system", "/mnt/ro/run"), "error: /mnt/ro/run: Read-only file system"),
    (OSError(40, "Too many levels of symbolic links", "/data/loop"),
     "error: /data/loop: Too many levels of symbolic links"),
    (OSError(28, "No space left on device", "/full/slots/train.h5"), "error: /full/slots/train.h5: No space left"),
    (MemoryError(), "error: out of memory"),
])
def test_os_and_memory_errors_are_one_line_user_errors(err, expected):
    from qa_data.runtime.command import error_line

    line, status = error_line(err)
    assert status == EXIT_ERROR and line.startswith(expected) and "unexpected" not in line


def test_a_symlink_loop_as_data_is_a_user_error(capsys, slots, tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    line = fails(capsys, qa_train_main, "--config", REPO / "configs/qa/aloe_tiny.yaml", "--slots", slots, "--data",
                 tmp_path / "a", "--out", tmp_path / "q", *QA_SMALL, "train.steps=1")
    assert str(tmp_path / "a") in line and not (tmp_path / "q").exists()


@pytest.mark.parametrize("args, message", [
    (["--source", "ODDN={slots}", "--source", "ODDN={slots}"], "the row 'ODDN' is given twice"),
    (["--source", "ODDN={slots}", "--seeds", "0,0"], "seed 0 is given twice"),
    (["--source", "ODDN={slots}", "--source", "again={slots}"], "'ODDN' and 'again' are the same features"),
])
def test_an_ablation_refuses_a_row_or_seed_given_twice(args, message, capsys, qa_root, slots, tmp_path):
    from reasoning.cli import ablate_main

    line = fails(capsys, ablate_main, "--config", REPO / "configs/qa/aloe_tiny.yaml", "--data", qa_root, "--out",
                 tmp_path / "ab", *[a.format(slots=slots) for a in args], *QA_SMALL, "train.steps=1")
    assert message in line and not (tmp_path / "ab").exists()


@pytest.mark.parametrize("args, message", [
    (["--frame-stride", "0"], "--frame-stride and --max-objects must be at least 1 and --future at least 0, got 0"),
    (["--max-objects", "0"], "--frame-stride and --max-objects must be at least 1"),
    (["--future", "-1"], "--future at least 0, got 1, 6 and -1"),
    (["--frame-stride", "1000"], "--frame-stride 1000 leaves one frame of the video's 128"),
    (["--frame-stride", "4", "--future", "40"], "every video of the train split was skipped"),
])
def test_state_extraction_settings_are_user_errors(args, message, capsys, no_render, tmp_path):
    from qa_data.slots.cli import extract_states_main as states_main

    line = fails(capsys, states_main, "--data", no_render, "--out", tmp_path / "s", "--no-progress", *args)
    assert message in line


def test_an_ablation_row_needs_a_label_and_jobs_at_least_one(capsys, qa_root, slots, tmp_path):
    from reasoning.cli import ablate_main

    common = ["--config", REPO / "configs/qa/aloe_tiny.yaml", "--data", qa_root, "--seeds", "0", *QA_SMALL]
    assert "with a label and a folder" in fails(capsys, ablate_main, *common, "--out", tmp_path / "a",
                                                "--source", f"={slots}")
    assert "--jobs must be at least 1, got 0" in fails(capsys, ablate_main, *common, "--out", tmp_path / "b",
                                                       "--source", f"ODDN={slots}", "--jobs", "0")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_more_frames_than_the_cache_holds_is_a_user_error(capsys, qa_root, slots, tmp_path):
    line = fails(capsys, qa_train_main, "--config", REPO / "configs/qa/aloe_tiny.yaml", "--slots", slots, "--data",
                 qa_root, "--out", tmp_path / "q", *QA_SMALL, "data.num_frames=64")
    assert "train.h5: cannot sample 64 frames (data.num_frames) from its 4 observed frames" in line


def test_a_bad_later_split_or_source_is_found_before_anything_is_written(capsys, no_render, qa_root, slots, tmp_path):
    """Issue 33, 12: errors found late. A bad validation split stops extract_states and import_slots before the
    train split is written; a bad last source stops an ablation before the first trains."""
    from qa_data.slots.cli import extract_states_main as states_main
    from qa_data.slots.cli import import_slots_main as import_main
    from reasoning.cli import ablate_main

    data = Path(shutil.copytree(no_render, tmp_path / "data", ignore=shutil.ignore_patterns(".lock")))
    shutil.rmtree(data / "annotations" / "validation")
    line = fails(capsys, states_main, "--data", data, "--out", tmp_path / "s", "--split", "train,validation",
                 "--frame-stride", "32", "--no-progress")
    assert "no annotations for split 'validation'" in line and not (tmp_path / "s" / "train.h5").exists()

    layout_videos = sorted(int(p.stem.split("_")[1]) for p in (qa_root / "annotations" / "train").rglob("*.json"))
    with open(tmp_path / "only_train.pkl", "wb") as f:
        pickle.dump({"train": {f"video_{i:05d}.mp4": np.zeros((4, 3, 5), np.float32) for i in layout_videos}}, f)
    line = fails(capsys, import_main, "--input", tmp_path / "only_train.pkl", "--data", qa_root, "--out",
                 tmp_path / "i", "--split", "train,validation")
    assert "no 'validation' entry" in line and not (tmp_path / "i" / "train.h5").exists()
    np.save(tmp_path / "one.npy", np.zeros((4, 3, 5)))
    line = fails(capsys, import_main, "--input", tmp_path / "one.npy", "--data", qa_root, "--out", tmp_path / "i2")
    assert "a .npy file holds one array" in line

    line = fails(capsys, ablate_main, "--config", REPO / "configs/qa/aloe_tiny.yaml", "--data", qa_root, "--out",
                 tmp_path / "ab", "--source", f"ODDN={slots}", "--source", f"late={tmp_path / 'nowhere'}", "--seeds",
                 "0", *QA_SMALL)
    assert "nowhere/train.h5" in line and not (tmp_path / "ab").exists()
