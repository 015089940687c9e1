"""The program executor: each module on a hand-built scene, real CLEVRER programs, errors."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from qa_data.clevrer.annotations import ObjectProperty
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.questions import Choice, Question, load_questions
from qa_data.clevrer.vocab import ANSWER_VOCAB, QUESTION_VOCAB, encode_question, tokenize
from qa_data.programs.events import Event, SceneFacts, collision_event
from qa_data.programs.executor import MODULES, Executor, ProgramError, check_program, check_question
from qa_data.programs.scoring import accuracy_table, binomial_ci

RED_CUBE = ["objects", "red", "filter_color", "cube", "filter_shape", "unique"]
BLUE = ["objects", "blue", "filter_color", "unique"]
SPHERE = ["objects", "sphere", "filter_shape", "unique"]
GREEN = ["objects", "green", "filter_color", "unique"]


def toy_scene() -> SceneFacts:
    """red cube (0), blue metal sphere (1), green cylinder (2), yellow sphere (3, never seen).

    frame 0 start; 10: green enters; 20: red-blue collide; 40: blue-green collide; 60: red
    exits; 127 end. Tail: red-green collide at 140. Without blue, green and red collide at 50.
    Speeds: red moves until frame 60, blue is still until frame 20, green always moves.
    """
    props = {0: ObjectProperty(0, "red", "rubber", "cube"), 1: ObjectProperty(1, "blue", "metal", "sphere"),
             2: ObjectProperty(2, "green", "rubber", "cylinder"), 3: ObjectProperty(3, "yellow", "rubber", "sphere")}
    T = 128
    speed = np.zeros((T, 4))
    speed[:60, 0] = 1.0
    speed[20:, 1] = 0.5
    speed[:, 2] = 0.8
    visible = np.ones((T, 4), dtype=bool)
    visible[:10, 2] = False
    visible[60:, 0] = False
    visible[:, 3] = False
    events = [Event("start", (), 0), Event("in", (2,), 10), collision_event(0, 1, 20), collision_event(1, 2, 40),
              Event("out", (0,), 60), Event("end", (), 127)]
    return SceneFacts(
        scene_index=7, properties=props, objects=[0, 1, 2], events=events,
        unseen=[collision_event(0, 2, 140)],
        counterfactual={0: [collision_event(1, 2, 45)], 1: [collision_event(0, 2, 50)], 2: [collision_event(0, 1, 20)]},
        speed=speed, visible=visible, column={0: 0, 1: 1, 2: 2, 3: 3}, num_frames=T)


@pytest.fixture
def ex():
    return Executor(toy_scene())


def test_descriptive_modules(ex):
    assert ex.run(["objects", "count"]) == "3"  # the never-seen yellow sphere is not an object
    assert ex.run(["objects", "sphere", "filter_shape", "count"]) == "1"
    assert ex.run(["objects", "rubber", "filter_material", "count"]) == "2"
    # moving when the video begins: red and green is not visible yet; blue is still
    assert ex.run(["objects", "start", "get_frame", "filter_moving", "count"]) == "1"
    assert ex.run(["objects", "start", "get_frame", "filter_stationary", "unique", "query_color"]) == "blue"
    # when the video ends the red cube has left: moving are blue and green
    assert ex.run(["objects", "end", "get_frame", "filter_moving", "count"]) == "2"
    assert ex.run(["objects", "null", "filter_stationary", "exist"]) == "no"
    # the object to collide with the red cube; the second object to collide with the blue sphere
    assert ex.run(["events"] + RED_CUBE + ["filter_collision", "unique"] + RED_CUBE +
                  ["get_col_partner", "query_shape"]) == "sphere"
    assert ex.run(["events"] + BLUE + ["filter_collision", "second", "filter_order"] + BLUE +
                  ["get_col_partner", "query_color"]) == "green"
    assert ex.run(["events"] + BLUE + ["filter_collision", "first", "filter_order"] + BLUE +
                  ["get_col_partner", "query_color"]) == "red"
    # the object that enters; collisions after it enters; before the red cube exits
    assert ex.run(["events", "objects", "filter_in", "unique", "get_object", "query_material"]) == "rubber"
    enter = ["events", "objects", "filter_in", "unique"]
    assert ex.run(["events", "objects", "filter_collision"] + enter + ["filter_after", "count"]) == "2"
    assert ex.run(["events", "objects", "filter_collision", "events"] + RED_CUBE +
                  ["filter_out", "unique", "filter_before", "count"]) == "2"
    assert ex.run(["events", "objects", "filter_out", "exist"]) == "yes"
    # moving when the last collision happens (frame 40): all three
    assert ex.run(["objects", "events", "objects", "filter_collision", "last", "filter_order", "get_frame",
                   "filter_moving", "count"]) == "3"


def test_explanatory_counterfactual_predictive(ex):
    target = ["events"] + BLUE + ["filter_collision"] + GREEN + ["filter_collision", "unique"]
    responsible = ["events"] + target + ["filter_ancestor", "belong_to"]
    # causes of blue-green at 40: blue's previous event (red-blue at 20) and green's (enter at 10)
    col_rb = ["events"] + RED_CUBE + ["filter_collision"] + BLUE + ["filter_collision", "unique"]
    green_in = ["events"] + GREEN + ["filter_in", "unique"]
    assert ex.run(col_rb + responsible) == "yes"
    assert ex.run(green_in + responsible) == "yes"
    assert ex.run(RED_CUBE + responsible) == "yes"  # presence: in an ancestor event
    assert ex.run(RED_CUBE + responsible + ["negate"]) == "no"
    # causes of the red cube's exit: red-blue (its previous event), then nothing before it
    exit_ = ["events", "events"] + RED_CUBE + ["filter_out", "unique", "filter_ancestor", "belong_to"]
    assert ex.run(col_rb + exit_) == "yes" and ex.run(green_in + exit_) == "no" and ex.run(GREEN + exit_) == "no"
    # without the blue sphere: red and green collide, red and blue cannot
    cf = ["all_events"] + BLUE + ["get_counterfact", "belong_to"]
    rg = ["all_events"] + RED_CUBE + ["filter_collision"] + GREEN + ["filter_collision", "unique"]
    bg = ["all_events"] + BLUE + ["filter_collision"] + GREEN + ["filter_collision", "unique"]
    assert ex.run(rg + cf) == "yes" and ex.run(bg + cf) == "no" and ex.run(rg + cf + ["negate"]) == "no"
    # what happens next: red and green collide in the tail
    assert ex.run(rg + ["unseen_events", "belong_to"]) == "yes"
    assert ex.run(bg + ["unseen_events", "belong_to"]) == "no"
    assert len(ex.facts.all_events()) == 3


def test_counterfactual_outcomes_count_within_the_video():
    facts = toy_scene()
    facts.counterfactual[1] = [collision_event(0, 2, 130)]  # would happen, but after the video
    rg = ["all_events"] + RED_CUBE + ["filter_collision"] + GREEN + ["filter_collision", "unique"]
    assert Executor(facts).run(rg + ["all_events"] + BLUE + ["get_counterfact", "belong_to"]) == "no"


def test_multiple_choice_runs_choice_then_question(ex):
    q = Question(3,
                 "Which of the following is responsible for the collision between the blue object and the "
                 "green object?",
                 "explanatory", program=["events", "events"] + BLUE + ["filter_collision"] + GREEN +
                 ["filter_collision", "unique", "filter_ancestor", "belong_to"],
                 choices=[Choice(0, "the presence of the red cube", RED_CUBE),
                          Choice(1, "the red cube's exiting the scene",
                                 ["events"] + RED_CUBE + ["filter_out", "unique"])])
    assert ex.answer(q) == ["correct", "wrong"]


@pytest.mark.parametrize("program, module, words", [
    (["objects", "unique", "query_color"], "unique", "exactly one item, got 3"),
    (["objects", "red", "filter_shape", "count"], "filter_shape", "must be shape, got color"),
    (["objects", "filter_color", "count"], "filter_color", "needs 2 argument(s), the stack holds 1"),
    (["events", "count", "exist"], "exist", "must be events|objects, got answer"),
    (["events", "objects", "filter_in", "fourth", "filter_order"], None, "'fourth' is neither"),
    (["objects", "count", "objects"], None, "exactly one answer"),
    (["events", "objects", "filter_collision", "unique"], "unique", "got 2"),
])
def test_malformed_programs_name_question_and_module(ex, program, module, words):
    with pytest.raises(ProgramError) as err:
        ex.run(program, "scene 7 question 4")
    msg = str(err.value)
    assert msg.startswith("scene 7 question 4:") and words in msg
    if module is not None:
        assert f"module {module!r}" in msg


def test_static_check_agrees_with_execution():
    assert check_program(["objects", "red", "filter_color", "count"]) == "answer"
    assert check_program(["objects", "red", "filter_color", "exist", "negate"]) == "bool"
    with pytest.raises(ProgramError, match="exactly one answer"):
        check_program(["objects", "count", "objects", "count"])
    with pytest.raises(ProgramError, match="'get_col_partner'"):
        check_program(["events", "objects", "filter_collision", "unique", "objects", "get_col_partner", "query_color"])
    with pytest.raises(ProgramError, match="no program"):
        check_question(Question(0, "What will happen next?", "predictive", choices=[Choice(0, "x")]))


# ---------------------------------------------------------------- real CLEVRER files
@pytest.mark.real_samples
def test_vocabulary_matches_both_aloe_implementations(samples_dir):
    deepmind = json.loads((samples_dir / "vocab.json").read_text())
    slotformer = json.loads((samples_dir / "CLEVRER_vocab.json").read_text())
    assert QUESTION_VOCAB == deepmind["question_vocab"]
    assert ANSWER_VOCAB == deepmind["answer_vocab"]
    assert {"PAD": 0, **QUESTION_VOCAB} == slotformer["q_vocab"]
    assert {"PAD": 0, **ANSWER_VOCAB} == slotformer["a_vocab"]


def _synthesize_scene(programs: list[list[str]], rng: np.random.Generator) -> SceneFacts:
    """A scene in which every object description of the programs picks out exactly one object,
    and every collision / entrance / exit they name happens once (the matching annotations of the
    real samples are not public)."""
    descs, evs = [], []
    for tok in (t for pg in programs for t in ["<new program>"] + pg):
        if tok == "<new program>":
            stack = []
        elif tok == "objects":
            stack.append(("objs", {}))
        elif tok.startswith("filter_") and tok[7:] in ("color", "material", "shape"):
            v = stack.pop()
            kind, attrs = stack.pop()
            stack.append((kind, {**attrs, tok[7:]: v}))
        elif tok in ("events", "all_events", "unseen_events"):
            stack.append(("evs", []))
        elif tok in ("filter_collision", "filter_in", "filter_out"):
            _, obj = stack.pop()
            _, spec = stack.pop()
            stack.append(("evs", spec + [(tok[7:], obj)]))
        elif tok == "unique":
            kind, x = stack.pop()
            if kind == "objs":
                descs.append(x)
                stack.append(("obj", x))
            else:
                evs.append(x)
                stack.append(("ev", x))
        elif tok in ("filter_ancestor", "belong_to", "get_counterfact"):
            stack.pop(), stack.pop()
            stack.append(("x", None))
        elif tok == "negate":
            pass
        else:
            stack.append(tok)
    # objects: each description merged into a compatible object or given its own, at random,
    # until an assignment makes every description pick out exactly one object
    values = {"color": ["gray", "red", "blue", "green", "brown", "cyan", "purple", "yellow"],
              "material": ["metal", "rubber"], "shape": ["cube", "sphere", "cylinder"]}
    distinct = list({tuple(sorted(d.items())): d for d in descs}.values())
    for _ in range(5000):
        objs: list[dict] = []
        for i in rng.permutation(len(distinct)):
            d = distinct[i]
            fits = [o for o in objs if all(o.get(a, v) == v for a, v in d.items())]
            if fits and rng.random() < 0.7:
                fits[rng.integers(len(fits))].update(d)
            else:
                objs.append(dict(d))
        full = [{a: o.get(a) or values[a][rng.integers(len(values[a]))] for a in values} for o in objs]
        owner = [[i for i, f in enumerate(full) if all(f[a] == v for a, v in d.items())] for d in descs]
        if all(len(o) == 1 for o in owner) and all(  # the two objects of a collision differ
                len({tuple(sorted(d.items())) for _, d in spec}) == 1 or
                len({next(i for i, f in enumerate(full) if all(f[a] == v for a, v in d.items())) for _, d in spec}) == 2
                for spec in evs if len(spec) == 2):
            break
    else:
        raise AssertionError(f"no attribute assignment makes every description unique: {descs}")

    def find(d):
        return next(i for i, f in enumerate(full) if all(f[a] == v for a, v in d.items()))
    found, frame = [], 1
    for spec in evs:
        kinds = {k for k, _ in spec}
        ids = tuple(sorted(find(d) for _, d in spec))
        e = collision_event(*ids, frame) if kinds == {"collision"} else Event(spec[0][0], ids, frame)
        if all(not x.same_as(e) for x in found):
            found.append(e)
            frame += 1
    props = {i: ObjectProperty(i, f["color"], f["material"], f["shape"]) for i, f in enumerate(full)}
    return SceneFacts(scene_index=0, properties=props, objects=list(props),
                      events=[Event("start", (), 0)] + found + [Event("end", (), 127)])


@pytest.mark.real_samples
def test_every_real_sample_program_checks_and_executes(samples_dir):
    rng = np.random.default_rng(0)
    n = 0
    for name in ("train-orig-small.json", "valid-orig-small.json"):
        for scene in load_questions(samples_dir / name):
            for q in scene.questions:
                check_question(q, f"{name} scene {scene.scene_index} ")
                facts = _synthesize_scene([c.program + q.program for c in q.choices], rng)
                answers = Executor(facts).answer(q, f"{name} scene {scene.scene_index} ")
                assert set(answers) <= {"correct", "wrong"} and len(answers) == len(q.choices)
                # and all their text is in the vocabulary
                for text in [q.question] + [c.choice for c in q.choices]:
                    encode_question(text)
                n += 1
    assert n == 1128


def test_every_module_of_clevrer_is_registered():
    expected = {"objects", "events", "unseen_events", "all_events", "start", "end", "filter_color",
                "filter_material", "filter_shape", "filter_moving", "filter_stationary", "filter_in",
                "filter_out", "filter_collision", "filter_before", "filter_after", "filter_order",
                "filter_ancestor", "get_frame", "get_counterfact", "get_col_partner", "get_object", "unique",
                "query_color", "query_material", "query_shape", "count", "exist", "belong_to", "negate"}
    assert set(MODULES) == expected
    assert tokenize("Without the cube, which event will happen?") == ["without", "the", "cube,", "which", "event",
                                                                     "will", "happen"]


# ---------------------------------------------------------------- the straight-line reference
def test_closest_approach_of_straight_paths():
    from qa_data.programs.extrapolation import closest_approach

    assert closest_approach([0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 0, 0], 5.0) == pytest.approx(0.0)  # head on
    assert closest_approach([0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 0, 0], 1.0) == pytest.approx(1.0)  # not yet
    assert closest_approach([0, 0, 0], [-1, 0, 0], [2, 0, 0], [0, 0, 0], 5.0) == pytest.approx(2.0)  # moving away
    assert closest_approach([0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], 5.0) == pytest.approx(1.0)  # side by side
    assert closest_approach([0, 0, 0], [1, 1, 0], [2, 0, 0], [0, 0, 0], 5.0) == pytest.approx(2 ** 0.5)  # passes by
    assert closest_approach([0, 0, 9], [0, 0, 0], [0, 0, 0], [0, 0, 0], 5.0) == pytest.approx(0.0)  # ground plane


def test_the_straight_line_reference_takes_the_pair_whose_paths_meet():
    """Red cube (0) and green cylinder (2) one unit apart, the blue sphere (1) one unit above the red cube: which
    pair collides next depends on the velocities at the last frame, not on where the objects stand."""
    from qa_data.clevrer.annotations import Annotation, FrameState, ObjectState
    from qa_data.clevrer.questions import SceneQuestions
    from qa_data.programs.extrapolation import extrapolation_predictions

    facts = toy_scene()
    rg = ["all_events"] + RED_CUBE + ["filter_collision"] + GREEN + ["filter_collision", "unique"]
    bg = ["all_events"] + BLUE + ["filter_collision"] + GREEN + ["filter_collision", "unique"]
    question = Question(0, "What will happen next?", "predictive", None, ["unseen_events", "belong_to"], None,
                        [Choice(0, "The red cube collides with the green cylinder", rg, None),
                         Choice(1, "The blue sphere collides with the green cylinder", bg, None)])
    scene = SceneQuestions(7, "video_00007.mp4", [question])

    def state(oid, loc, vel):
        return ObjectState(oid, loc, (0.0, 0.0, 0.0), vel, (0.0, 0.0, 0.0), True)

    def frame(k, red_velocity, blue_velocity):
        return FrameState(k, (state(0, (0.0, 0.0, 0.2), red_velocity), state(1, (0.0, 1.0, 0.2), blue_velocity),
                              state(2, (1.0, 0.0, 0.2), (0.0, 0.0, 0.0))))

    def answers(*frames, start=-1):
        ann = Annotation(7, "video_00007.mp4", [facts.properties[i] for i in range(3)], list(frames))
        return extrapolation_predictions([scene], lambda i: ann, lambda i: facts, frame=start)[(7, 0)]

    assert answers(frame(127, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))) == {0: "correct", 1: "wrong"}  # red heads for green
    assert answers(frame(127, (-1.0, 0.0, 0.0), (1.0, -1.0, 0.0))) == {0: "wrong", 1: "correct"}  # blue does
    # started from an earlier frame, the rule sees the motion of that frame (here red's, before it turned)
    turned = [frame(126, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)), frame(127, (-1.0, 0.0, 0.0), (1.0, -1.0, 0.0))]
    assert answers(*turned, start=0) == {0: "correct", 1: "wrong"}
    assert answers(*turned) == {0: "wrong", 1: "correct"}


def test_intervals_match_a_hand_computed_wilson_interval():
    def wilson(k, n, z=1.959963984540054):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return 100 * (centre - half), 100 * (centre + half)

    for k, n in ((45, 50), (0, 12), (7, 7), (300, 1000)):
        assert binomial_ci(k, n) == pytest.approx(wilson(k, n), abs=1e-9)
    assert binomial_ci(45, 50) == pytest.approx((78.64, 95.65), abs=0.01)  # a textbook value
    # the accuracy table: 3 of 4 descriptive right, 1 of 2 explanatory questions (3 of 4 options)
    rows = [("descriptive", "count", 1, 1, True)] * 3 + [("descriptive", "count", 1, 0, False)]
    rows += [("explanatory", None, 2, 2, True), ("explanatory", None, 2, 1, False)]
    per_q = pd.DataFrame([{"question_type": t, "question_subtype": s, "options": o, "options_right": r,
                           "correct": c, "missing": False} for t, s, o, r, c in rows])
    table = accuracy_table(per_q).set_index("type")
    assert (table.loc["descriptive", "per_question_lo"], table.loc["descriptive", "per_question_hi"]) == \
        pytest.approx(wilson(3, 4))
    assert (table.loc["explanatory", "per_option_lo"], table.loc["explanatory", "per_option_hi"]) == \
        pytest.approx(wilson(3, 4))
    assert (table.loc["explanatory", "per_question_lo"], table.loc["explanatory", "per_question_hi"]) == \
        pytest.approx(wilson(1, 2))


def test_frame_ceiling_sees_only_the_sampled_frames(no_render):
    from qa_data.programs.events import Event, load_scene_facts
    from qa_data.programs.frame_ceiling import frame_ceiling_table, sample_frames, sampled_facts
    from qa_data.reports.qa_report import load_split_with_answers

    layout = ClevrerLayout(no_render)
    facts = load_scene_facts(layout, "train", 0)
    # an object seen only between two samples, and two collisions between the same two samples
    facts.visible[:] = True
    extra = max(facts.column, key=facts.column.get)
    facts.visible[:, facts.column[extra]] = False
    facts.visible[20:23, facts.column[extra]] = True
    a, b = facts.objects[0], facts.objects[1]
    facts.events = [Event("start", (), 0), Event("collision", (a, b), 33), Event("collision", (a, b), 40),
                    Event("end", (), 127)]
    seen = sampled_facts(facts, sample_frames(8))  # frames 0, 16, ..., 112
    assert extra in facts.objects and extra not in seen.objects and seen.num_frames == 8 and seen.speed.shape[0] == 8
    collisions = [e for e in seen.events if e.kind == "collision"]
    assert [e.frame for e in collisions] == [3, 3]  # both seen at frame 48, the first sample after them
    assert seen.end.frame == 7
    # with every frame the executor is the oracle: 100 % on every type
    scenes = load_split_with_answers(layout, "train")
    table = frame_ceiling_table(scenes, lambda i: load_scene_facts(layout, "train", i), [128])
    assert all(v == 100.0 for k, v in table.iloc[0].items() if "per" in k)
