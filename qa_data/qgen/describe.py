"""How questions name things: objects by their shortest unique description (as CLEVRER does),
sets of objects by plural phrases, and events by clauses; each with its program fragment."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from qa_data.programs.events import Event, SceneFacts

ATTRS = ("color", "material", "shape")
PLURAL = {"cube": "cubes", "sphere": "spheres", "cylinder": "cylinders", "object": "objects"}


@dataclass(frozen=True)
class Phrase:
    """Words and the program fragment that computes what they denote."""

    text: str
    program: tuple[str, ...]


def _filters(attrs: dict[str, str]) -> tuple[str, ...]:
    out: list[str] = []
    for a in ATTRS:  # CLEVRER's order: color, material, shape
        if a in attrs:
            out += [attrs[a], f"filter_{a}"]
    return tuple(out)


def _words(attrs: dict[str, str]) -> list[str]:
    return [attrs[a] for a in ("color", "material") if a in attrs] + [attrs.get("shape", "object")]


def matches(facts: SceneFacts, attrs: dict[str, str]) -> list[int]:
    return [o for o in facts.objects if all(getattr(facts.properties[o], a) == v for a, v in attrs.items())]


@dataclass(frozen=True)
class ObjectName:
    """An object's unique description: "red metal sphere" -> the, possessive, comma forms."""

    object_id: int
    attrs: tuple[tuple[str, str], ...]

    @property
    def words(self) -> list[str]:
        return _words(dict(self.attrs))

    def the(self, suffix: str = "") -> str:
        """'the red sphere', or with suffix "'s" / ",": "the red sphere's"."""
        return "the " + " ".join(self.words) + suffix

    @property
    def program(self) -> tuple[str, ...]:
        return ("objects",) + _filters(dict(self.attrs)) + ("unique",)


def name_objects(facts: SceneFacts, rng: np.random.Generator) -> dict[int, ObjectName]:
    """Each visible object's shortest description that no other visible object fits (a random
    one among equally short ones)."""
    names = {}
    for o in facts.objects:
        p = facts.properties[o]
        for k in range(len(ATTRS) + 1):
            unique = [c for c in combinations(ATTRS, k)
                      if matches(facts, {a: getattr(p, a) for a in c}) == [o]]
            if unique:
                chosen = unique[rng.integers(len(unique))]
                names[o] = ObjectName(o, tuple((a, getattr(p, a)) for a in chosen))
                break
        else:  # two visible objects alike in every attribute: CLEVRER never has this
            raise ValueError(f"scene {facts.scene_index}: object {o} has no unique description")
    return names


@dataclass(frozen=True)
class ObjectSet:
    """A set of objects by up to two attributes: 'red spheres', 'metal objects', 'objects'."""

    attrs: tuple[tuple[str, str], ...]
    members: tuple[int, ...]

    def plural(self) -> str:
        w = _words(dict(self.attrs))
        return " ".join(w[:-1] + [PLURAL[w[-1]]])

    def singular(self) -> str:
        return " ".join(_words(dict(self.attrs)))

    @property
    def program(self) -> tuple[str, ...]:
        return ("objects",) + _filters(dict(self.attrs))

    def has(self, attr: str) -> bool:
        return any(a == attr for a, _ in self.attrs)


def object_sets(facts: SceneFacts, max_attrs: int = 2) -> list[ObjectSet]:
    """Every set named by at most `max_attrs` attribute values that holds a visible object."""
    seen: dict[tuple, ObjectSet] = {}
    for o in facts.objects:
        p = facts.properties[o]
        for k in range(max_attrs + 1):
            for c in combinations(ATTRS, k):
                attrs = tuple((a, getattr(p, a)) for a in c)
                if attrs not in seen:
                    seen[attrs] = ObjectSet(attrs, tuple(matches(facts, dict(attrs))))
    return list(seen.values())


@dataclass(frozen=True)
class EventRef:
    """An event named by a clause ('the red cube enters the scene') with its program; `event` is
    the one it denotes. Only events that a clause names uniquely get a reference."""

    event: Event
    clause: str
    program: tuple[str, ...]


def event_refs(facts: SceneFacts, names: dict[int, ObjectName], with_start_end: bool) -> list[EventRef]:
    """References to the video's start/end (optional), to each enter/exit of an object that enters
    (exits) once, and to each collision of a pair that collides once."""
    refs = []
    if with_start_end:
        refs += [EventRef(facts.start, "the video begins", ("start",)),
                 EventRef(facts.end, "the video ends", ("end",))]
    evs = [e for e in facts.events if e.kind in ("in", "out", "collision")]
    for e in evs:
        if sum(x.kind == e.kind and x.objects == e.objects for x in evs) != 1:
            continue
        if e.kind in ("in", "out"):
            n = names[e.objects[0]]
            verb = "enters" if e.kind == "in" else "exits"
            refs.append(EventRef(e, f"{n.the()} {verb} the scene",
                                 ("events",) + n.program + (f"filter_{e.kind}", "unique")))
        else:
            a, b = names[e.objects[0]], names[e.objects[1]]
            refs.append(EventRef(e, f"{a.the()} collides with {b.the()}", collision_program("events", a, b)))
    return refs


def collision_program(source: str, a: ObjectName, b: ObjectName) -> tuple[str, ...]:
    """`<source> A filter_collision B filter_collision unique`: the collision of A and B."""
    return (source,) + a.program + ("filter_collision",) + b.program + ("filter_collision", "unique")
