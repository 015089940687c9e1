"""Question templates in CLEVRER's wording and DSL: every candidate question of one video, with
its answer computed here from the facts (the executor later checks each one independently).

Descriptive: count / exist / query_{color,material,shape}, about motion at event times, the
order of collisions and entrances, collision partners, and the end of the video. Explanatory:
"Which of the following is (not) responsible for <event>?". Predictive: "What will happen next?"
with the held-out tail as truth. Counterfactual: "Which event will (not) happen if the X is
removed?" with re-simulation as truth.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from qa_data.programs.events import Event, SceneFacts
from qa_data.qgen.describe import (
    EventRef,
    ObjectName,
    ObjectSet,
    collision_program,
    event_refs,
    name_objects,
    object_sets,
)

MAX_COUNT = 5  # CLEVRER's count answers are 0-5
ORDINALS = ("first", "second", "last")


@dataclass(frozen=True)
class ChoiceCandidate:
    text: str
    program: tuple[str, ...]
    holds: bool  # whether the event/object belongs to the question's set (before any negation)
    kind: str  # presence | collision | enter


@dataclass
class Candidate:
    """One question a video supports. Descriptive: `answer`. Multiple choice: choice pools;
    a choice is correct when `holds != negated`."""

    question_type: str
    template: str
    question: str
    program: tuple[str, ...]
    subtype: str | None = None
    answer: str | None = None
    negated: bool = False
    choices: list[ChoiceCandidate] = field(default_factory=list)
    min_correct: int = 0  # fewest correct choices a drawn question may have
    key: tuple = ()  # a video gets at most one question per key (default: the program sans negate)

    def __post_init__(self):
        if not self.key:
            self.key = tuple(t for t in self.program if t != "negate")


# ------------------------------------------------------------------ descriptive
def _motion_clear(facts: SceneFacts, objs, frame: int | None) -> bool:
    return all(facts.motion_is_clear(o, frame) for o in objs)


def _moving_members(facts: SceneFacts, objs, motion: str, frame: int | None) -> list[int]:
    test = facts.is_moving if motion == "moving" else facts.is_stationary
    return [o for o in objs if test(o, frame)]


def descriptive(facts: SceneFacts, names: dict[int, ObjectName], rng) -> Iterator[Candidate]:
    sets = object_sets(facts)
    times = event_refs(facts, names, with_start_end=True)
    anchors = [r for r in times if r.event.kind in ("in", "out", "collision")]
    every = ObjectSet((), tuple(facts.objects))

    def count(template, text, program, n):
        if n <= MAX_COUNT:
            yield Candidate("descriptive", template, text, program, "count", str(n))

    def exist(template, text, program, yes):
        yield Candidate("descriptive", template, text, program, "exist", "yes" if yes else "no")

    # motion of a set at an event time, or over the whole video (frame null)
    for s in sets:
        for motion in ("moving", "stationary"):
            for ref in times + [None]:
                frame = None if ref is None else ref.event.frame
                if not _motion_clear(facts, s.members, frame):
                    continue
                n = len(_moving_members(facts, s.members, motion, frame))
                when = "" if ref is None else f" when {ref.clause}"
                frame_pg = ("null",) if ref is None else ref.program + ("get_frame",)
                pg = s.program + frame_pg + (f"filter_{motion}",)
                yield from count(f"count_{motion}", f"How many {s.plural()} are {motion}{when}?", pg + ("count",), n)
                yield from exist(f"exist_{motion}", f"Are there any {motion} {s.plural()}{when}?", pg + ("exist",),
                                 n > 0)

    # collisions, in all or before/after an event
    collisions = [e for e in facts.events if e.kind == "collision"]
    all_col = ("events",) + every.program + ("filter_collision",)
    yield from count("count_collisions", "How many collisions happen?", all_col + ("count",), len(collisions))
    for ref in anchors:
        for rel in ("before", "after"):
            sel = [e for e in collisions
                   if (e.frame < ref.event.frame if rel == "before" else e.frame > ref.event.frame)]
            pg = all_col + ref.program + (f"filter_{rel}",)
            yield from count(f"count_collisions_{rel}", f"How many collisions happen {rel} {ref.clause}?",
                             pg + ("count",), len(sel))
            yield from exist(f"exist_collisions_{rel}", f"Are there any collisions {rel} {ref.clause}?",
                             pg + ("exist",), bool(sel))

    # entering / exiting objects of a set (only when no object does it twice: then the count of
    # events is the count of objects)
    for kind, verb in (("in", "enter"), ("out", "exit")):
        evs = [e for e in facts.events if e.kind == kind]
        if len({e.objects for e in evs}) != len(evs):
            continue
        for s in sets:
            n = sum(e.objects[0] in s.members for e in evs)
            pg = ("events",) + s.program + (f"filter_{kind}",)
            yield from count(f"count_{verb}", f"How many {s.plural()} {verb} the scene?", pg + ("count",), n)
            yield from exist(f"exist_{verb}", f"Are there any {s.plural()} that {verb} the scene?", pg + ("exist",),
                             n > 0)

    yield from _queries(facts, names, sets, times, rng)


def _query_text(attr: str, subject: str, rng) -> str:
    if rng.random() < 0.5:
        return f"What is the {attr} of {subject}?"
    return f"What {attr} is {subject}?"


def _queries(facts: SceneFacts, names, sets: list[ObjectSet], times: list[EventRef], rng) -> Iterator[Candidate]:
    """query_color / query_material / query_shape of an object picked out by an event."""
    props = facts.properties

    def out(attr, template, subject, program, obj):
        yield Candidate("descriptive", template, _query_text(attr, subject, rng), program + (f"query_{attr}",),
                        f"query_{attr}", getattr(props[obj], attr))

    noun_sets = [s for s in sets if len(s.attrs) <= 1]
    for attr in ("color", "material", "shape"):
        # the <set> that enters / exits the scene
        for kind, verb in (("in", "enters"), ("out", "exits")):
            evs = [e for e in facts.events if e.kind == kind]
            for s in noun_sets:
                if s.has(attr):
                    continue
                sel = [e for e in evs if e.objects[0] in s.members]
                if len(sel) == 1:
                    pg = ("events",) + s.program + (f"filter_{kind}", "unique", "get_object")
                    yield from out(attr, f"query_{verb}", f"the {s.singular()} that {verb} the scene", pg,
                                   sel[0].objects[0])
            # the first / second / last object to enter / exit
            frames = [e.frame for e in evs]
            if len(evs) >= 2 and len(set(frames)) == len(frames):
                for k, order in enumerate(ORDINALS):
                    e = evs[-1] if order == "last" else evs[k]
                    pg = ("events", "objects", f"filter_{kind}", order, "filter_order", "get_object")
                    yield from out(attr, f"query_{order}_{verb}",
                                   f"the {order} object to {verb[:-1]} the scene", pg, e.objects[0])
        # the object to collide with X; the first / second / last object to collide with X
        for o, n in names.items():
            cols = [e for e in facts.events if e.kind == "collision" and o in e.objects]
            partners = [e.objects[1] if e.objects[0] == o else e.objects[0] for e in cols]
            base = ("events",) + n.program + ("filter_collision",)
            if len(cols) == 1:
                yield from out(attr, "query_partner", f"the object to collide with {n.the()}",
                               base + ("unique",) + n.program + ("get_col_partner",), partners[0])
            elif len(cols) >= 2 and len(set(partners)) == len(cols) and len({e.frame for e in cols}) == len(cols):
                for k, order in enumerate(ORDINALS):
                    p = partners[-1] if order == "last" else partners[k]
                    yield from out(attr, f"query_{order}_partner", f"the {order} object to collide with {n.the()}",
                                   base + (order, "filter_order") + n.program + ("get_col_partner",), p)
        # the <set> that is moving / stationary when <event>
        for s in noun_sets:
            if s.has(attr):
                continue
            for ref in times:
                frame = ref.event.frame
                if not _motion_clear(facts, s.members, frame):
                    continue
                for motion in ("moving", "stationary"):
                    sel = _moving_members(facts, s.members, motion, frame)
                    if len(sel) == 1:
                        pg = s.program + ref.program + ("get_frame", f"filter_{motion}", "unique")
                        yield from out(attr, f"query_{motion}",
                                       f"the {s.singular()} that is {motion} when {ref.clause}", pg, sel[0])


# ------------------------------------------------------------------ multiple choice
def _collision_choice(a: ObjectName, b: ObjectName, source: str, rng, capital: bool) -> tuple[str, tuple[str, ...]]:
    """'The X and the Y collide' / 'The X collides with the Y' (predictive, counterfactual) or
    'the collision between the X and the Y' / "the X's colliding with the Y" (explanatory)."""
    if capital:
        text = (f"{a.the()} and {b.the()} collide" if rng.random() < 0.5 else f"{a.the()} collides with {b.the()}")
        text = text[0].upper() + text[1:]
    else:
        text = (f"the collision between {a.the()} and {b.the()}" if rng.random() < 0.5
                else f"{a.the(chr(39) + 's')} colliding with {b.the()}")
    return text, collision_program(source, a, b)


def _unique_events(facts: SceneFacts, kind: str) -> list[Event]:
    evs = [e for e in facts.events if e.kind == kind]
    return [e for e in evs if sum(x.objects == e.objects for x in evs) == 1]


def explanatory(facts: SceneFacts, names: dict[int, ObjectName], rng) -> Iterator[Candidate]:
    """Causes of a collision or an exit: the presence of objects, earlier collisions, entrances."""
    collisions, enters = _unique_events(facts, "collision"), _unique_events(facts, "in")
    targets = collisions + _unique_events(facts, "out")
    for target in targets:
        anc = facts.ancestors(target)
        if target.kind == "collision":
            a, b = (names[o] for o in target.objects)
            what, pg = _collision_choice(a, b, "events", rng, capital=False)
        else:
            n = names[target.objects[0]]
            what = f"{n.the(chr(39) + 's')} exit" if rng.random() < 0.5 else f"{n.the(chr(39) + 's')} exiting the scene"
            pg = ("events",) + n.program + ("filter_out", "unique")
        pool = [ChoiceCandidate(f"the presence of {names[o].the()}", names[o].program,
                                any(o in e.objects for e in anc), "presence")
                for o in facts.objects if o not in target.objects]
        for e in collisions:
            if e != target and e.frame <= target.frame:
                text, cpg = _collision_choice(names[e.objects[0]], names[e.objects[1]], "events", rng, capital=False)
                pool.append(ChoiceCandidate(text, cpg, any(e.same_as(x) for x in anc), "collision"))
        for e in enters:
            if e.frame <= target.frame:
                n = names[e.objects[0]]
                owner = n.the(chr(39) + "s")
                text = f"{owner} entering the scene" if rng.random() < 0.5 else f"{owner} entrance"
                pool.append(ChoiceCandidate(text, ("events",) + n.program + ("filter_in", "unique"),
                                            any(e.same_as(x) for x in anc), "enter"))
        for negated in (False, True):
            nt = "not " if negated else ""
            yield Candidate("explanatory", f"explanatory_{target.kind}{'_not' if negated else ''}",
                            f"Which of the following is {nt}responsible for {what}?",
                            ("events",) + pg + ("filter_ancestor", "belong_to") + (("negate",) if negated else ()),
                            negated=negated, choices=pool)


def _moving_at_end(facts: SceneFacts, o: int) -> bool:
    return facts.is_moving(o, facts.num_frames - 1)


def predictive(facts: SceneFacts, names: dict[int, ObjectName], rng) -> Iterator[Candidate]:
    """'What will happen next?': collisions of the held-out tail between objects of the video."""
    happen = {e.objects for e in facts.unseen if e.kind == "collision" and set(e.objects) <= set(names)}
    if not happen:
        return
    wrong = []
    for e in facts.all_events():
        # a wrong choice involves a moving object, so it is not ruled out by stillness alone
        if e.objects not in happen and any(_moving_at_end(facts, o) for o in e.objects):
            wrong.append(ChoiceCandidate(*_collision_choice(names[e.objects[0]], names[e.objects[1]], "all_events",
                                                            rng, capital=True), False, "collision"))
    for pair in sorted(happen):
        right = ChoiceCandidate(*_collision_choice(names[pair[0]], names[pair[1]], "all_events", rng, capital=True),
                                True, "collision")
        for k in range(PREDICTIVE_PER_COLLISION):  # each asked with different wrong choices
            yield Candidate("predictive", "predictive", "What will happen next?", ("unseen_events", "belong_to"),
                            choices=[right] + wrong, key=("predictive", pair, k))


# Predictive questions are rarer than CLEVRER's 5% if each tail collision is asked about once.
PREDICTIVE_PER_COLLISION = 2
# Counterfactual collisions this close to the end of the video are too uncertain to ask about.
HORIZON_MARGIN = 4


def counterfactual(facts: SceneFacts, names: dict[int, ObjectName], rng) -> Iterator[Candidate]:
    """Which collisions happen (not) once an object is removed, from the re-simulation without it."""
    if facts.counterfactual is None:
        return
    T = facts.num_frames
    factual = {e.objects for e in facts.events if e.kind == "collision"}
    for removed in facts.objects:
        cf = facts.counterfactual.get(removed)
        if cf is None:
            continue
        happen = facts.counterfactual_pairs(removed)
        near_end = {e.objects for e in cf if abs(e.frame - T) <= HORIZON_MARGIN}
        pool = []
        for e in facts.all_events():
            if removed in e.objects or e.objects in near_end:
                continue
            # choices are events of either world, as CLEVRER's are, and (fewer) collisions of
            # neither world between objects that move at some point
            either = e.objects in happen or e.objects in factual
            if either or (any(facts.is_moving(o, None) for o in e.objects) and rng.random() < 0.5):
                text, pg = _collision_choice(names[e.objects[0]], names[e.objects[1]], "all_events", rng, capital=True)
                pool.append(ChoiceCandidate(text, pg, e.objects in happen, "collision"))
        r = names[removed]
        for negated in (False, True):
            nt = "not " if negated else ""
            form = rng.integers(3)
            if form == 0:
                text = f"Which event will {nt}happen if {r.the()} is removed?"
            elif form == 1:
                text = f"If {r.the()} is removed, which event will {nt}happen?"
            else:
                text = f"Without {r.the(',')} which event will {nt}happen?"
            yield Candidate("counterfactual", f"counterfactual{'_not' if negated else ''}", text,
                            ("all_events",) + r.program + ("get_counterfact", "belong_to")
                            + (("negate",) if negated else ()),
                            negated=negated, choices=pool, min_correct=1)


def video_candidates(facts: SceneFacts, rng: np.random.Generator) -> list[Candidate]:
    """Every candidate question of one video, all four types."""
    names = name_objects(facts, rng)
    out = list(descriptive(facts, names, rng))
    for gen in (explanatory, predictive, counterfactual):
        out += gen(facts, names, rng)
    return out
