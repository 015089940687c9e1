"""CLEVRER's program executor: runs the postfix programs of the question files over SceneFacts.

A program is a list of tokens; a module token pops its arguments (in order) and pushes its result,
any other token is a literal (an attribute value, `first`/`second`/`last`, or `null`). Module names
are the ones in the real JSON (`get_frame`, `get_counterfact`, ...). For a multiple-choice
question the choice program runs first and the question program consumes its result, as in
CLEVRER's own executor (`full program = choice program + question program`).

`check_program` type-checks a program without a scene; `Executor.run` executes it. Both raise
ProgramError naming the question, the token position and the module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from qa_data.clevrer.annotations import COLORS, MATERIALS, SHAPES
from qa_data.clevrer.questions import Question
from qa_data.programs.events import Event, SceneFacts

ORDERS = {"first": 0, "second": 1, "last": -1}
LITERAL_KINDS = {**{c: "color" for c in COLORS}, **{m: "material" for m in MATERIALS},
                 **{s: "shape" for s in SHAPES}, **{o: "order" for o in ORDERS}, "null": "null"}


class _ModuleFailure(Exception):
    """Raised inside a module; _run_stack turns it into a ProgramError with the position."""


class ProgramError(ValueError):
    """A program that is malformed or cannot run on a scene; says where and why."""

    def __init__(self, where: str, position: int | None, token: str | None, problem: str):
        self.where, self.position, self.token, self.problem = where, position, token, problem
        at = "" if token is None else f" module {token!r} (token {position})"
        super().__init__(f"{where}:{at} {problem}")


# ------------------------------------------------------------------ values and their kinds
class Objects(tuple):
    """A list of object ids."""


class Events(tuple):
    """A list of events."""


@dataclass(frozen=True)
class Obj:
    id: int


@dataclass(frozen=True)
class Frame:
    index: int | None


@dataclass(frozen=True)
class Abstract:
    """A value known only by its kind (static checking)."""

    kind: str


def kind_of(v: Any) -> str:
    if isinstance(v, Abstract):
        return v.kind
    if isinstance(v, Objects):
        return "objects"
    if isinstance(v, Events):
        return "events"
    if isinstance(v, Obj):
        return "object"
    if isinstance(v, Event):
        return "event"
    if isinstance(v, Frame):
        return "frame"
    if isinstance(v, Answer):
        return "bool" if v in ("yes", "no") and v.boolean else "answer"
    if isinstance(v, str) and v in LITERAL_KINDS:
        return LITERAL_KINDS[v]
    return "unknown"


class Answer(str):
    """A result of an output module; `boolean` for exist / belong_to / negate."""

    boolean: bool = False

    @classmethod
    def yes_no(cls, value: bool) -> "Answer":
        a = cls("yes" if value else "no")
        a.boolean = True
        return a


@dataclass(frozen=True)
class Signature:
    args: tuple[frozenset[str], ...]
    out: str | Callable[[list[str]], str]


def _sig(*args: str, out) -> Signature:
    return Signature(tuple(frozenset(a.split("|")) for a in args), out)


SIGNATURES: dict[str, Signature] = {
    "objects": _sig(out="objects"), "events": _sig(out="events"),
    "unseen_events": _sig(out="events"), "all_events": _sig(out="events"),
    "start": _sig(out="event"), "end": _sig(out="event"),
    "filter_color": _sig("objects", "color", out="objects"),
    "filter_material": _sig("objects", "material", out="objects"),
    "filter_shape": _sig("objects", "shape", out="objects"),
    "filter_moving": _sig("objects", "frame|null", out="objects"),
    "filter_stationary": _sig("objects", "frame|null", out="objects"),
    "filter_in": _sig("events", "object|objects", out="events"),
    "filter_out": _sig("events", "object|objects", out="events"),
    "filter_collision": _sig("events", "object|objects", out="events"),
    "filter_before": _sig("events", "event", out="events"),
    "filter_after": _sig("events", "event", out="events"),
    "filter_order": _sig("events", "order", out="event"),
    "filter_ancestor": _sig("events", "event", out="events"),
    "get_frame": _sig("event", out="frame"),
    "get_counterfact": _sig("events", "object", out="events"),
    "get_col_partner": _sig("event", "object", out="object"),
    "get_object": _sig("event", out="object"),
    "unique": _sig("objects|events", out=lambda k: "object" if k[0] == "objects" else "event"),
    "query_color": _sig("object", out="answer"), "query_material": _sig("object", out="answer"),
    "query_shape": _sig("object", out="answer"),
    "count": _sig("objects|events", out="answer"), "exist": _sig("objects|events", out="bool"),
    "belong_to": _sig("object|event", "events", out="bool"),
    "negate": _sig("bool", out="bool"),
}
MODULES = tuple(SIGNATURES)


def _run_stack(program: list[str], where: str, apply: Callable[[str, list], Any] | None,
               results: tuple[str, ...] = ("answer", "bool")) -> Any:
    stack: list[Any] = []
    for pos, tok in enumerate(program):
        sig = SIGNATURES.get(tok)
        if sig is None:
            if tok not in LITERAL_KINDS:
                raise ProgramError(where, pos, None, f"token {pos} {tok!r} is neither a module nor a literal")
            stack.append(tok)
            continue
        n = len(sig.args)
        if len(stack) < n:
            raise ProgramError(where, pos, tok, f"needs {n} argument(s), the stack holds {len(stack)}")
        args = stack[len(stack) - n:] if n else []
        del stack[len(stack) - n:]
        kinds = [kind_of(a) for a in args]
        for i, (k, allowed) in enumerate(zip(kinds, sig.args)):
            if k not in allowed:
                raise ProgramError(where, pos, tok, f"argument {i + 1} must be {'|'.join(sorted(allowed))}, got {k}")
        if apply is None:
            stack.append(Abstract(sig.out(kinds) if callable(sig.out) else sig.out))
            continue
        try:
            stack.append(apply(tok, args))
        except _ModuleFailure as e:
            raise ProgramError(where, pos, tok, str(e)) from None
    if len(stack) != 1 or (results and kind_of(stack[0]) not in results):
        raise ProgramError(where, None, None, f"a program must leave exactly one {' or '.join(results) or 'value'}, "
                                              f"it leaves {[kind_of(v) for v in stack]}")
    return stack[0]


def check_program(program: list[str], where: str = "program") -> str:
    """Type-checks a complete program (for a choice: choice + question program); returns the
    kind of its result ('answer' or 'bool')."""
    return _run_stack(list(program), where, None).kind


def full_programs(q: Question) -> list[list[str]]:
    """The programs to run for a question: its own, or one per choice (choice + question)."""
    if q.program is None or (q.is_multiple_choice and any(c.program is None for c in q.choices)):
        raise ProgramError(f"question {q.question_id}", None, None, "has no program (test split?)")
    if not q.is_multiple_choice:
        return [q.program]
    return [c.program + q.program for c in q.choices]


def check_question(q: Question, where: str = "") -> None:
    """Type-checks every program of a question (each choice combined with the question)."""
    for i, pg in enumerate(full_programs(q)):
        choice = f" choice {q.choices[i].choice_id}" if q.is_multiple_choice else ""
        label = f"{where}question {q.question_id}{choice}"
        kind = check_program(pg, label)
        if q.is_multiple_choice and kind != "bool":
            raise ProgramError(label, None, None, "a choice program must end in yes/no")


class Executor:
    """Runs programs over one scene's facts."""

    def __init__(self, facts: SceneFacts):
        self.facts = facts

    def run(self, program: list[str], where: str = "program") -> str:
        return str(_run_stack(list(program), where, self._apply))

    def evaluate(self, program: list[str], where: str = "program") -> Any:
        """The value a partial program leaves (e.g. the event a choice's own program names)."""
        return _run_stack(list(program), where, self._apply, results=())

    def answer(self, q: Question, where: str = "") -> str | list[str]:
        """A descriptive question's answer, or 'correct'/'wrong' for each choice."""
        label = f"{where}question {q.question_id}"
        progs = full_programs(q)
        if not q.is_multiple_choice:
            return self.run(progs[0], label)
        out = []
        for c, pg in zip(q.choices, progs):
            res = self.run(pg, f"{label} choice {c.choice_id}")
            out.append("correct" if res == "yes" else "wrong")
        return out

    # ------------------------------------------------------------------ modules
    def _apply(self, tok: str, args: list) -> Any:
        f = self.facts

        def fail(problem: str):
            raise _ModuleFailure(problem)

        if tok == "objects":
            return Objects(f.objects)
        if tok == "events":
            return Events(f.events)
        if tok == "unseen_events":
            return Events(f.unseen)
        if tok == "all_events":
            return Events(f.all_events())
        if tok in ("start", "end"):
            return f.start if tok == "start" else f.end
        if tok in ("filter_color", "filter_material", "filter_shape"):
            attr = tok[len("filter_"):]
            return Objects(o for o in args[0] if getattr(f.properties[o], attr) == args[1])
        if tok in ("filter_moving", "filter_stationary"):
            frame = None if args[1] == "null" else args[1].index
            test = f.is_moving if tok == "filter_moving" else f.is_stationary
            return Objects(o for o in args[0] if test(o, frame))
        if tok in ("filter_in", "filter_out", "filter_collision"):
            kind = tok[len("filter_"):]
            objs = {args[1].id} if isinstance(args[1], Obj) else set(args[1])
            return Events(e for e in args[0] if e.kind == kind and objs & set(e.objects))
        if tok in ("filter_before", "filter_after", "filter_ancestor"):
            ref: Event = args[1]
            if tok == "filter_ancestor":
                anc = f.ancestors(ref)
                return Events(e for e in args[0] if e in anc)
            if ref.frame is None:
                fail("the reference event has no frame")
            keep = (lambda e: e.frame < ref.frame) if tok == "filter_before" else (lambda e: e.frame > ref.frame)
            return Events(e for e in args[0] if e.frame is not None and keep(e))
        if tok == "filter_order":
            evs = args[0]
            i = ORDERS[args[1]]
            if len(evs) <= max(i, 0) or not evs:
                fail(f"no {args[1]} event among {len(evs)}")
            return evs[i]
        if tok == "get_frame":
            if args[0].frame is None:
                fail("a hypothetical event has no frame")
            return Frame(args[0].frame)
        if tok == "get_object":
            if args[0].kind not in ("in", "out"):
                fail(f"needs an enter/exit event, got {args[0].kind}")
            return Obj(args[0].objects[0])
        if tok == "get_col_partner":
            e, o = args
            if e.kind != "collision" or o.id not in e.objects:
                fail(f"object {o.id} is not in collision {e.objects}")
            return Obj(e.objects[1] if e.objects[0] == o.id else e.objects[0])
        if tok == "get_counterfact":
            pairs = f.counterfactual_pairs(args[1].id)
            if pairs is None:
                fail(f"no counterfactual outcome for removing object {args[1].id}")
            return Events(e for e in args[0] if e.kind == "collision" and e.objects in pairs)
        if tok == "unique":
            if len(args[0]) != 1:
                fail(f"expected exactly one item, got {len(args[0])}")
            v = args[0][0]
            return Obj(v) if isinstance(args[0], Objects) else v
        if tok.startswith("query_"):
            return Answer(getattr(f.properties[args[0].id], tok[len("query_"):]))
        if tok == "count":
            return Answer(str(len(args[0])))
        if tok == "exist":
            return Answer.yes_no(len(args[0]) > 0)
        if tok == "belong_to":
            x, evs = args
            if isinstance(x, Obj):
                return Answer.yes_no(any(x.id in e.objects for e in evs if e.kind not in ("start", "end")))
            return Answer.yes_no(any(x.same_as(e) for e in evs if e.kind not in ("start", "end")))
        if tok == "negate":
            return Answer.yes_no(args[0] == "no")
        raise AssertionError(tok)  # every module in SIGNATURES is handled above
