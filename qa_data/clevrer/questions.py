"""CLEVRER question files as typed records.

Official layout: a list of scenes `{scene_index, video_filename, questions: [...]}`. A keyed
layout `{"<scene_index>": {"questions": [...]}}` (ALOE / CLEVRER-Humans exports) is accepted too.
Descriptive questions carry `question_subtype`, `program`, `answer`; multiple-choice ones carry
`choices[{choice_id, choice, program, answer: correct|wrong}]`. The test split has no answers or
programs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from qa_data.clevrer.annotations import read_json
from qa_data.clevrer.layout import ClevrerLayout, video_filename
from qa_data.errors import DataError, SkipReport

QUESTION_TYPES = ("descriptive", "explanatory", "predictive", "counterfactual")
MC_TYPES = QUESTION_TYPES[1:]  # the multiple-choice types
DESCRIPTIVE_SUBTYPES = ("count", "exist", "query_color", "query_material", "query_shape")
CHOICE_ANSWERS = ("correct", "wrong")


@dataclass
class Choice:
    choice_id: int
    choice: str
    program: list[str] | None = None
    answer: str | None = None  # correct | wrong; None in the test split

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"choice_id": self.choice_id, "choice": self.choice}
        if self.program is not None:
            out["program"] = self.program
        if self.answer is not None:
            out["answer"] = self.answer
        return out


@dataclass
class Question:
    question_id: int
    question: str
    question_type: str
    question_subtype: str | None = None
    program: list[str] | None = None
    answer: str | None = None  # descriptive only
    choices: list[Choice] = field(default_factory=list)

    @property
    def is_multiple_choice(self) -> bool:
        return self.question_type != "descriptive"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"question_id": self.question_id, "question": self.question,
                               "question_type": self.question_type}
        if self.question_subtype is not None:
            out["question_subtype"] = self.question_subtype
        if self.program is not None:
            out["program"] = self.program
        if self.answer is not None:
            out["answer"] = self.answer
        if self.is_multiple_choice:
            out["choices"] = [c.to_json() for c in self.choices]
        return out


@dataclass
class SceneQuestions:
    scene_index: int
    video_filename: str
    questions: list[Question]

    def to_json(self) -> dict[str, Any]:
        return {"scene_index": self.scene_index, "video_filename": self.video_filename,
                "questions": [q.to_json() for q in self.questions]}


def _int(value, path, where: str, name: str, minimum: int = 0) -> int:
    """An id or index field: an integer (not a bool, not a string) >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(path, f"{where}: {name} must be an integer, got {value!r}")
    if value < minimum:
        raise DataError(path, f"{where}: {name} must be >= {minimum}, got {value}")
    return value


def _str(value, path, where: str, name: str) -> str:
    if not isinstance(value, str):
        raise DataError(path, f"{where}: {name} must be a string, got {type(value).__name__}")
    return value


def _program(value, path, what) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise DataError(path, f"{what}: program must be a list of strings")
    return value


def _parse_question(q: Any, path, where: str) -> Question:
    if not isinstance(q, dict):
        raise DataError(path, f"{where}: a question must be an object")
    for key in ("question_id", "question", "question_type"):
        if key not in q:
            raise DataError(path, f"{where}: missing key {key!r}")
    qid = _int(q["question_id"], path, where, "question_id")
    where = f"{where} (question_id {qid})"
    qtype = q["question_type"]
    if qtype not in QUESTION_TYPES:
        raise DataError(path, f"{where}: unknown question_type {qtype!r}")
    subtype = q.get("question_subtype")
    if subtype is not None:
        _str(subtype, path, where, "question_subtype")
    out = Question(qid, _str(q["question"], path, where, "question"), qtype, subtype,
                   _program(q.get("program"), path, where), q.get("answer"))
    if not out.question.strip():
        raise DataError(path, f"{where}: the question text is empty")
    if qtype == "descriptive":
        if out.question_subtype is not None and out.question_subtype not in DESCRIPTIVE_SUBTYPES:
            raise DataError(path, f"{where}: unknown question_subtype {out.question_subtype!r}")
        if out.answer is not None and not isinstance(out.answer, str):
            raise DataError(path, f"{where}: answer must be a string")
        if "choices" in q:
            raise DataError(path, f"{where}: a descriptive question has no choices")
        return out
    if not isinstance(q.get("choices"), list):
        raise DataError(path, f"{where}: a {qtype} question needs a 'choices' list")
    if not q["choices"]:
        raise DataError(path, f"{where}: a {qtype} question needs at least one choice, got 'choices': []")
    if "answer" in q:
        raise DataError(path, f"{where}: a {qtype} question is answered per choice, not by an 'answer' field")
    for j, c in enumerate(q["choices"]):
        if not isinstance(c, dict) or "choice_id" not in c or "choice" not in c:
            raise DataError(path, f"{where}: choices[{j}] needs choice_id and choice")
        cid = _int(c["choice_id"], path, f"{where} choices[{j}]", "choice_id")
        ans = c.get("answer")
        if ans is not None and ans not in CHOICE_ANSWERS:
            raise DataError(path, f"{where}: choices[{j}].answer must be correct|wrong, got {ans!r}")
        out.choices.append(Choice(cid, _str(c["choice"], path, f"{where} choices[{j}]", "choice"),
                                  _program(c.get("program"), path, f"{where} choices[{j}]"), ans))
    ids = [c.choice_id for c in out.choices]
    if len(set(ids)) != len(ids):
        raise DataError(path, f"{where}: duplicate choice_id {sorted({i for i in ids if ids.count(i) > 1})}")
    answered = [c.answer is not None for c in out.choices]
    if any(answered) and not all(answered):
        raise DataError(path, f"{where}: some choices have an answer and some do not")
    return out


def parse_questions(data: Any, path: str | Path = "<questions>") -> list[SceneQuestions]:
    """Scenes with their questions, from the official list layout or the keyed-dict layout. Every field
    is checked (types, ids, choices); a bad one raises DataError naming the file, scene, question and field."""
    if isinstance(data, dict):  # {"8995": {"questions": [...]}}
        items = []
        for key, value in data.items():
            try:
                idx = int(key)
            except ValueError:
                raise DataError(path, f"scene key {key!r} is not an integer") from None
            if not isinstance(value, dict):
                raise DataError(path, f"scene {key}: expected an object with 'questions'")
            if "scene_index" in value and value["scene_index"] != idx:
                raise DataError(path, f"scene {key}: its scene_index is {value['scene_index']!r}")
            items.append({"scene_index": idx, "video_filename": value.get("video_filename", video_filename(idx)),
                          "questions": value.get("questions")})
    elif isinstance(data, list):
        items = data
    else:
        raise DataError(path, f"question file must be a list of scenes or a dict, got {type(data).__name__}")
    scenes, seen = [], set()
    for i, s in enumerate(items):
        if not isinstance(s, dict) or "scene_index" not in s or not isinstance(s.get("questions"), list):
            raise DataError(path, f"scene entry {i}: needs scene_index and a questions list")
        idx = _int(s["scene_index"], path, f"scene entry {i}", "scene_index")
        if idx in seen:
            raise DataError(path, f"scene {idx} appears twice")
        seen.add(idx)
        name = s.get("video_filename") or video_filename(idx)
        _str(name, path, f"scene {idx}", "video_filename")
        qs = [_parse_question(q, path, f"scene {idx} question {k}") for k, q in enumerate(s["questions"])]
        ids = [q.question_id for q in qs]
        if len(set(ids)) != len(ids):
            dup = sorted({q for q in ids if ids.count(q) > 1})
            raise DataError(path, f"scene {idx}: duplicate question_id {dup[:10]}; every question of a scene "
                                  "needs its own id")
        scenes.append(SceneQuestions(idx, name, qs))
    return scenes


def load_questions(path: str | Path) -> list[SceneQuestions]:
    return parse_questions(read_json(path), path)


def check_videos(scenes: Iterable[SceneQuestions], layout: ClevrerLayout, split: str,
                 skip_bad: bool = False, report: SkipReport | None = None) -> list[SceneQuestions]:
    """Keeps the scenes whose video exists; a missing one raises, or is counted in `skip_bad` mode."""
    present = set(layout.video_indices(split))
    kept = []
    for s in scenes:
        if s.scene_index in present:
            kept.append(s)
            continue
        err = DataError(layout.questions_path(split),
                        f"scene {s.scene_index} refers to {s.video_filename}, which is not in "
                        f"{layout.video_path(split, s.scene_index).parent.parent}")
        if not skip_bad:
            raise err
        (report if report is not None else SkipReport()).add(err)
    return kept
