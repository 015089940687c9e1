"""Generated questions: CLEVRER's schema, vocabulary and answers, verified by the executor;
balanced sampling; scoring and baselines against hand-computed cases."""
import json
from collections import Counter

import numpy as np
import pytest

from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.questions import Choice, Question, SceneQuestions, load_questions
from qa_data.clevrer.vocab import ANSWERS, encode_question
from qa_data.programs.baselines import MajorityBaseline, oracle_predictions, text_template
from qa_data.programs.events import load_scene_facts
from qa_data.programs.executor import Executor
from qa_data.programs.scoring import predictions_from_json, predictions_to_json, score, score_questions
from qa_data.qgen.config import build_question_config
from qa_data.qgen.generate import generate_questions, questions_up_to_date
from qa_data.qgen.sampling import Sampler
from qa_data.qgen.templates import Candidate, ChoiceCandidate
from qa_data.reports.qa_report import load_split_with_answers, write_question_report

SPLIT_FILES = {"train": "train.json", "validation": "validation.json", "test": "test_answers.json"}


def _all(root):
    layout = ClevrerLayout(root)
    return {s: load_split_with_answers(layout, s) for s in SPLIT_FILES}


def test_every_answer_is_what_the_executor_computes(qa_root):
    layout = ClevrerLayout(qa_root)
    n = 0
    for split, scenes in _all(qa_root).items():
        for s in scenes:
            ex = Executor(load_scene_facts(layout, split, s.scene_index))
            for q in s.questions:
                want = q.answer if q.question_type == "descriptive" else [c.answer for c in q.choices]
                assert ex.answer(q) == want, (split, s.scene_index, q.question)
                n += 1
    assert n > 150


def test_text_is_clevrer_vocabulary_and_answers_are_clevrers(qa_root):
    types = Counter()
    for scenes in _all(qa_root).values():
        for s in scenes:
            for q in s.questions:
                types[q.question_type] += 1
                encode_question(q.question, max_len=20)  # raises outside the vocabulary or over length
                for c in q.choices:
                    encode_question(c.choice, max_len=12)
                if q.question_type == "descriptive":
                    assert q.answer in ANSWERS and q.question_subtype is not None
                    assert q.choices == []
                else:
                    assert q.answer is None and q.question_subtype is None
    assert set(types) == {"descriptive", "explanatory", "predictive", "counterfactual"}


def test_schema_order_and_test_split(qa_root):
    qdir = qa_root / "questions"
    train = json.loads((qdir / "train.json").read_text())
    for scene in train:
        assert set(scene) == {"scene_index", "video_filename", "questions"}
        assert scene["video_filename"] == f"video_{scene['scene_index']:05d}.mp4"
        ids = [q["question_id"] for q in scene["questions"]]
        assert ids == list(range(len(ids)))
        kinds = [q["question_type"] == "descriptive" for q in scene["questions"]]
        assert kinds == sorted(kinds, reverse=True)  # descriptive first, as CLEVRER orders them
        for q in scene["questions"]:
            if q["question_type"] == "descriptive":
                assert set(q) == {"question_id", "question", "question_type", "question_subtype", "program", "answer"}
            else:
                assert set(q) == {"question_id", "question", "question_type", "program", "choices"}
                assert [c["choice_id"] for c in q["choices"]] == list(range(len(q["choices"])))
                assert all(set(c) == {"choice_id", "choice", "program", "answer"} for c in q["choices"])
            if q["question_type"] == "predictive":
                assert [c["answer"] for c in q["choices"]].count("correct") == 1 and len(q["choices"]) == 2
            if q["question_type"] in ("explanatory", "counterfactual"):
                assert 2 <= len(q["choices"]) <= 4
    test = json.loads((qdir / "test.json").read_text())
    key = json.loads((qdir / "test_answers.json").read_text())
    assert len(test) == len(key) == 3
    for t, k in zip(test, key):
        for tq, kq in zip(t["questions"], k["questions"]):
            assert "program" not in tq and "answer" not in tq
            assert all(set(c) == {"choice_id", "choice"} for c in tq.get("choices", []))
            assert tq["question"] == kq["question"] and "program" in kq


def test_objects_are_named_by_their_shortest_unique_description(qa_root):
    layout = ClevrerLayout(qa_root)
    for s in _all(qa_root)["train"]:
        facts = load_scene_facts(layout, "train", s.scene_index)
        props = [facts.properties[o] for o in facts.objects]
        for q in s.questions:
            for pg in [q.program] + [c.program for c in q.choices]:
                # every `objects (v filter_x)* unique` chain names one object minimally
                for i, tok in enumerate(pg):
                    if tok != "unique" or i == 0:
                        continue
                    j = i - 1
                    attrs = {}
                    while j > 0 and pg[j].startswith("filter_") and pg[j][7:] in ("color", "material", "shape"):
                        attrs[pg[j][7:]] = pg[j - 1]
                        j -= 2
                    if pg[j] != "objects":
                        continue
                    fits = [p for p in props if all(getattr(p, a) == v for a, v in attrs.items())]
                    assert len(fits) == 1
                    for a in attrs:  # no attribute can be dropped
                        fewer = {k: v for k, v in attrs.items() if k != a}
                        assert len([p for p in props if all(getattr(p, k) == v for k, v in fewer.items())]) > 1


def test_same_seed_same_questions_and_resume_check(qa_root, tmp_path):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(qa_root, copy)
    cfg = build_question_config()
    assert questions_up_to_date(copy, cfg)
    assert not questions_up_to_date(copy, build_question_config(seed=5))
    generate_questions(copy, cfg, workers=1, progress=False)
    for name in ("train.json", "validation.json", "test.json", "test_answers.json"):
        assert (copy / "questions" / name).read_bytes() == (qa_root / "questions" / name).read_bytes()
    generate_questions(copy, build_question_config(seed=5), workers=1, progress=False)
    assert (copy / "questions" / "train.json").read_bytes() != (qa_root / "questions" / "train.json").read_bytes()


# ---------------------------------------------------------------- balance
def _desc(sub, answer, i, template="t"):
    return Candidate("descriptive", template, "How many objects are moving?", ("objects", str(i)), sub, answer)


def test_sampler_balances_skewed_answers_and_keeps_type_shares():
    cfg = build_question_config(overrides=["questions_per_video=10"])
    sampler = Sampler(cfg, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    chosen = []
    for v in range(300):
        cands = []
        for sub, answers, weights in (("count", ["0", "1", "2", "3"], [0.7, 0.2, 0.07, 0.03]),
                                      ("exist", ["yes", "no"], [0.9, 0.1]),
                                      ("query_color", ["red", "blue"], [0.8, 0.2]),
                                      ("query_material", ["metal", "rubber"], [0.5, 0.5]),
                                      ("query_shape", ["cube", "sphere", "cylinder"], [0.6, 0.3, 0.1])):
            cands += [_desc(sub, a, i) for i, a in enumerate(rng.choice(answers, 30, p=weights))]
        pool = [ChoiceCandidate(f"the presence of the {c} cube", ("objects", str(k)), k % 2 == 0, "presence")
                for k, c in enumerate(("gray", "red", "blue", "green", "brown", "purple"))]
        for k in range(3):
            cands += [Candidate("explanatory", "e", "Which of the following is responsible for the collision?",
                                ("e", str(k)), choices=pool),
                      Candidate("counterfactual", "c", "Which event will happen if the cube is removed?", ("c", str(k)),
                                choices=pool, min_correct=1)]
        if v % 2 == 0:  # predictive questions only in half the videos: quotas carry over
            colors = ("red", "blue", "green")
            cands += [Candidate("predictive", "p", "What will happen next?", ("p", str(k)),
                                choices=[ChoiceCandidate(f"The {c} cube and the sphere collide", ("c", c), True,
                                                         "collision"),
                                         ChoiceCandidate(f"The {c} cube and the cylinder collide", ("w", c), False,
                                                         "collision")],
                                key=("p", k)) for k, c in enumerate(colors)]
        chosen += sampler.select(cands)
    by_sub = {}
    for q in chosen:
        by_sub.setdefault(q.question_subtype or q.question_type, Counter())[q.answer] += 1
    # raw pools are 70-90% one answer; selected answers are close to uniform
    for sub in ("count", "exist", "query_color", "query_material", "query_shape"):
        c = by_sub[sub]
        assert max(c.values()) / sum(c.values()) < 1 / len(c) + 0.05, (sub, c)
    shares = Counter(q.question_type for q in chosen)
    total = sum(shares.values())
    for t, want in (("descriptive", 0.72), ("explanatory", 0.11), ("predictive", 0.05), ("counterfactual", 0.12)):
        assert abs(shares[t] / total - want) < 0.02, (t, shares)
    labels = Counter(c.answer for q in chosen for c in q.choices if q.question_type != "predictive")
    assert abs(labels["correct"] / sum(labels.values()) - 0.5) < 0.05
    assert all(sum(c.answer == "correct" for c in q.choices) >= 1
               for q in chosen if q.question_type == "counterfactual")


def test_a_video_never_gets_the_same_question_with_the_same_choices_twice():
    """A tail collision yields two predictive candidates (different wrong choices wanted); when the video has
    one wrong choice to draw, both used to be asked, the same two choices in swapped order."""
    cfg = build_question_config(overrides=["questions_per_video=40"])  # a quota of 2 predictive per video
    right = ChoiceCandidate("The cube and the sphere collide", ("c", "1"), True, "collision")
    wrong = ChoiceCandidate("The cube and the cylinder collide", ("c", "2"), False, "collision")
    for seed in range(20):
        sampler = Sampler(cfg, np.random.default_rng(seed))
        cands = [Candidate("predictive", "p", "What will happen next?", ("p",), choices=[right, wrong], key=("p", k))
                 for k in range(2)]
        asked = [q for q in sampler.select(cands) if q.question_type == "predictive"]
        assert len(asked) == 1, [[c.choice for c in q.choices] for q in asked]


def test_generated_questions_are_each_asked_once_per_video(qa_root):
    for split, scenes in _all(qa_root).items():
        for s in scenes:
            seen = Counter((q.question, frozenset(c.choice for c in q.choices)) for q in s.questions
                           if q.question_type != "descriptive")
            assert max(seen.values(), default=1) == 1, (split, s.scene_index)


# ---------------------------------------------------------------- scoring and baselines
def _truth():
    mc = lambda qid, qtype, answers: Question(qid, "q", qtype,
                                              choices=[Choice(i, "c", None, a) for i, a in enumerate(answers)])
    return [SceneQuestions(0, "video_00000.mp4", [
        Question(0, "q", "descriptive", "count", answer="2"),
        Question(1, "q", "descriptive", "exist", answer="yes"),
        mc(2, "explanatory", ["correct", "wrong", "wrong", "correct"]),
        mc(3, "explanatory", ["wrong", "wrong"]),  # no correct choice at all
        mc(4, "predictive", ["correct", "wrong"])]),
        SceneQuestions(1, "video_00001.mp4", [
            Question(0, "q", "descriptive", "count", answer="3"),
            mc(1, "counterfactual", ["correct", "correct", "wrong"])])]


def test_scoring_matches_hand_computed_accuracies():
    preds = {(0, 0): "2", (0, 1): "no",
             (0, 2): {0: "correct", 1: "wrong", 2: "correct", 3: "correct"},  # 3 of 4 right
             (0, 3): {0: "wrong", 1: "wrong"},  # all right
             (0, 4): {0: "correct", 1: "wrong"},
             (1, 1): {0: "correct", 1: "correct", 2: "wrong"}}  # (1, 0) missing: wrong
    table = score(_truth(), predictions_from_json(predictions_to_json(preds))).set_index("type")
    assert table.loc["descriptive", "per_question"] == pytest.approx(100 / 3)
    assert table.loc["descriptive", "missing"] == 1
    assert table.loc["descriptive: count", "per_question"] == pytest.approx(50.0)
    assert table.loc["descriptive: exist", "per_question"] == 0.0
    assert table.loc["explanatory", "per_option"] == pytest.approx(100 * 5 / 6)
    assert table.loc["explanatory", "per_question"] == pytest.approx(50.0)
    assert table.loc["predictive", "per_question"] == 100.0
    assert table.loc["counterfactual", "per_option"] == 100.0
    assert table.loc["mean over types", "per_question"] == pytest.approx((100 / 3 + 50 + 100 + 100) / 4)
    rows = score_questions(_truth(), preds)
    assert rows["correct"].tolist() == [True, False, False, True, True, False, True]


def test_majority_baseline_and_templates():
    assert text_template("Which event will not happen if the red metal cube is removed?") == \
        "which event will not happen if the <obj> is removed"
    assert text_template("Are there any moving gray spheres when the video ends?") == \
        "are there any moving <objs> when the video ends"
    assert text_template("the cylinder's entrance") == "the <obj>'s entrance"
    train = [SceneQuestions(i, "v", [Question(0, "q", "descriptive", "count", answer=a),
                                     Question(1, "What will happen next?", "predictive",
                                              choices=[Choice(0, "The cube and the red sphere collide", None, "wrong"),
                                                       Choice(1, "The sphere collides with the cube", None,
                                                              "correct")])])
             for i, a in enumerate(["1", "1", "2"])]
    base = MajorityBaseline.fit(train)
    assert base.by_subtype == {"count": "1"}
    preds = base.predict(_truth())
    assert preds[(0, 0)] == "1" and preds[(0, 1)] == "1"  # unseen subtype: the overall majority answer
    own = base.predict(train[:1])[(0, 1)]  # seen templates: their own majority label
    assert own == {0: "wrong", 1: "correct"}
    # choice templates unseen in training: the type majority (a 3-3 tie, broken alphabetically)
    assert preds[(0, 4)] == {0: "correct", 1: "correct"}


def test_baselines_on_generated_data(qa_root, tmp_path):
    tables = write_question_report(qa_root, tmp_path)
    b = tables.baselines.set_index(["split", "method", "type"])
    for split in ("validation", "test"):
        for t in ("descriptive", "explanatory", "predictive", "counterfactual"):
            assert b.loc[(split, "executor oracle", t), "per_question"] == 100.0
        assert b.loc[(split, "blind majority", "descriptive"), "per_question"] < 60.0
    assert (tmp_path / "baselines.md").read_text().count("blind majority") >= 2
    assert "CLEVRER train %" in (tmp_path / "question_stats.md").read_text()


def test_oracle_catches_a_wrong_answer(qa_root):
    layout = ClevrerLayout(qa_root)
    scenes = load_questions(qa_root / "questions" / "validation.json")
    q = scenes[0].questions[0]
    q.answer = "yes" if q.answer != "yes" else "no"  # corrupt one answer
    preds = oracle_predictions(scenes, lambda i: load_scene_facts(layout, "validation", i))
    assert score(scenes, preds).set_index("type").loc["descriptive", "per_question"] < 100.0
