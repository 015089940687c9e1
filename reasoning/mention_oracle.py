"""The choice-mention oracle, a diagnostic of text-to-object binding (issue 30): for each choice of a
multiple-choice question, the slots of the objects its own program names (the two objects of "The X and the Y
collide"), found by the executor on ground-truth facts. With `data.mention_oracle=true` the QA reader puts those
slots first in that choice's pass (`reasoning.qa_dataset.collate`), so a model need not find the named objects
itself: what it then reaches is what binding the text to the objects costs. It reads ground truth and needs slots
that are the annotation's objects in order (ground-truth states) or slot tracks paired with the annotated objects
at extraction (a perception cache made with `--ground`, `slot_maps`); it is a probe, never a feature source.
The same mentions, and for descriptive questions the objects their answer rests on (`question_selections`), are
the training-time targets of the grounding loss (`aloe.mention_weight`), and the collisions a descriptive question
rests on (`question_collision_pairs`) the targets of the collision head (`aloe.collision_head`), and the frames of a
video's collisions (`video_collision_frames`) the targets of the relation tokens' frame score
(`aloe.relation_time_target`); evaluation never reads them.
"""
from __future__ import annotations

import logging

from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.questions import SceneQuestions
from qa_data.errors import DataError
from qa_data.programs.events import Event, load_scene_facts
from qa_data.programs.executor import Events, Executor, Obj, Objects

logger = logging.getLogger(__name__)


SlotMaps = dict[int, dict[int, int]]  # scene index -> object id -> slot index


def _scene_executors(layout: ClevrerLayout, split: str, scenes: list[SceneQuestions], multiple_choice: bool,
                     slot_maps: SlotMaps | None = None):
    """Per scene with questions of the kind asked for: (scene, those questions, object id -> slot index, an
    executor over the scene's ground-truth facts). Slot k is the annotation's k-th object, or with `slot_maps` the
    slot paired with the object (scenes without a map are left out)."""
    for s in scenes:
        questions = [q for q in s.questions if q.is_multiple_choice == multiple_choice]
        if questions and (slot_maps is None or s.scene_index in slot_maps):
            facts = load_scene_facts(layout, split, s.scene_index)
            yield s, questions, _slot_of(facts, slot_maps, s.scene_index), Executor(facts)


def _slot_of(facts, slot_maps: SlotMaps | None, scene: int) -> dict[int, int]:
    """object id -> slot index in one scene: the annotation's order, or the scene's map."""
    if slot_maps is None:
        return {oid: k for k, oid in enumerate(facts.properties)}
    return slot_maps[scene]


def choice_mentions(layout: ClevrerLayout, split: str, scenes: list[SceneQuestions], slot_maps: SlotMaps | None = None
                    ) -> dict[tuple[int, int, int], tuple[int, ...]]:
    """(scene, question id, choice id) -> slot indices of the objects the choice's program names (slot k: the
    k-th object of the annotation's `object_property`, or the slot `slot_maps` pairs with the object). Choices
    whose program names no object, or an object no slot holds, are left out."""
    out = {}
    unresolved = 0
    for s, mc, slot, executor in _scene_executors(layout, split, scenes, True, slot_maps):
        for q in mc:
            for c in q.choices:
                try:
                    event = executor.evaluate(c.program, f"scene {s.scene_index} question {q.question_id}")
                except DataError:
                    event = None
                if isinstance(event, Event) and event.objects and all(o in slot for o in event.objects):
                    out[(s.scene_index, q.question_id, c.choice_id)] = tuple(slot[o] for o in event.objects)
                else:
                    unresolved += 1
    if unresolved:
        logger.info("mention oracle: %d choices name no object it can place (or one no slot holds)", unresolved)
    return out


def _descriptive_values(layout: ClevrerLayout, split: str, scenes: list[SceneQuestions], slot_maps: SlotMaps | None):
    """Per descriptive question: ((scene, question id), the value its program leaves before the last operator (None
    where a module fails on the scene's facts), object id -> slot index)."""
    for s, descriptive, slot, executor in _scene_executors(layout, split, scenes, False, slot_maps):
        for q in descriptive:
            try:
                value = executor.evaluate(q.program[:-1], f"scene {s.scene_index} question {q.question_id}")
            except (DataError, ValueError):  # a module that fails on these facts (ProgramError)
                value = None
            yield (s.scene_index, q.question_id), value, slot


def question_selections(layout: ClevrerLayout, split: str, scenes: list[SceneQuestions],
                        slot_maps: SlotMaps | None = None) -> dict[tuple[int, int], tuple[int, ...]]:
    """(scene, question id) -> slot indices of the objects a descriptive question's answer rests on: the value its
    program leaves before the last operator (the queried object; the objects counted or tested for existence; for
    events, the objects taking part). An empty tuple is a known answer (nothing is selected); questions whose
    program cannot be evaluated on the scene's facts are left out."""
    out = {}
    unresolved = 0
    for key, value, slot in _descriptive_values(layout, split, scenes, slot_maps):
        ids = _object_ids(value)
        if ids is None or any(o not in slot for o in ids):
            unresolved += 1
            continue
        out[key] = tuple(sorted({slot[o] for o in ids}))
    if unresolved:
        logger.info("question selections: %d descriptive questions select nothing it can place", unresolved)
    return out


def question_collision_pairs(layout: ClevrerLayout, split: str, scenes: list[SceneQuestions],
                             slot_maps: SlotMaps | None = None) -> dict[tuple[int, int], tuple[tuple[int, int], ...]]:
    """(scene, question id) -> the slot pairs (a < b) of the collisions a descriptive question's answer rests on,
    for the questions whose program leaves events before its last operator (the collisions counted, tested for
    existence or ordered); () where those events hold no collision. A pair that collides twice is listed once.
    Questions about objects, or with a collision between objects no slot holds, are left out."""
    out = {}
    unresolved = 0
    for key, value, slot in _descriptive_values(layout, split, scenes, slot_maps):
        if isinstance(value, Event):
            value = Events((value,))
        if not isinstance(value, Events):
            continue
        pairs = [e.objects for e in value if e.kind == "collision"]
        if any(o not in slot for pair in pairs for o in pair):
            unresolved += 1
            continue
        out[key] = tuple(sorted({tuple(sorted((slot[a], slot[b]))) for a, b in pairs}))
    if unresolved:
        logger.info("collision pairs: %d descriptive questions rest on a collision no slot holds", unresolved)
    return out


def video_collision_frames(layout: ClevrerLayout, split: str, scenes: list[SceneQuestions],
                           slot_maps: SlotMaps | None = None) -> dict[int, tuple[tuple[int, int, int], ...]]:
    """scene -> (slot a, slot b, video frame) of each collision of the rendered video (a < b), in frame order; slot k
    is the annotation's k-th object, or the slot `slot_maps` pairs with it (scenes without a map are left out). A
    collision with an object no slot holds is left out and counted."""
    out = {}
    unresolved = 0
    for s in scenes:
        if slot_maps is not None and s.scene_index not in slot_maps:
            continue
        facts = load_scene_facts(layout, split, s.scene_index)
        slot = _slot_of(facts, slot_maps, s.scene_index)
        found = []
        for e in facts.events:
            if e.kind != "collision" or e.frame is None:
                continue
            if not all(o in slot for o in e.objects):
                unresolved += 1
                continue
            a, b = sorted((slot[e.objects[0]], slot[e.objects[1]]))
            found.append((a, b, e.frame))
        out[s.scene_index] = tuple(found)
    if unresolved:
        logger.info("collision frames: %d collisions between objects no slot holds", unresolved)
    return out


def _object_ids(value) -> tuple[int, ...] | None:
    """The object ids a program value holds (None: not a value of objects or events)."""
    if isinstance(value, Obj):
        return (value.id,)
    if isinstance(value, Event):
        return tuple(value.objects)
    if isinstance(value, Objects):
        return tuple(o.id if isinstance(o, Obj) else int(o) for o in value)
    if isinstance(value, Events):
        return tuple(o for e in value for o in e.objects)
    return None
