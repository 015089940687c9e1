"""CLEVRER's question and answer vocabularies and its tokenizer.

The ids match DeepMind ALOE's `vocab.json` and SlotFormer's `CLEVRER_vocab.json` exactly (id 0 is
padding; questions 1-81 in alphabetical order, answers 1-21), so caches and pretrained heads stay
interchangeable. Tokenization is CLEVRER's: lower case, drop "?", split on whitespace; tokens keep
their punctuation and possessives ("cube's", "cube,", "removed,").
"""
from __future__ import annotations

from typing import Iterable

PAD = 0
QUESTION_TOKENS: tuple[str, ...] = (
    "after", "and", "any", "are", "before", "begins", "between", "blue", "brown", "collide",
    "collides", "colliding", "collision", "collisions", "color", "cube", "cube's", "cube,", "cubes",
    "cyan", "cylinder", "cylinder's", "cylinder,", "cylinders", "ends", "enter", "entering", "enters",
    "entrance", "event", "exit", "exiting", "exits", "first", "following", "for", "gray", "green",
    "happen", "how", "if", "is", "last", "many", "material", "metal", "moving", "next", "not",
    "object", "object's", "object,", "objects", "of", "presence", "purple", "red", "removed",
    "removed,", "responsible", "rubber", "scene", "second", "shape", "sphere", "sphere's", "sphere,",
    "spheres", "stationary", "that", "the", "there", "to", "video", "what", "when", "which", "will",
    "with", "without", "yellow",
)
ANSWERS: tuple[str, ...] = (
    "0", "1", "2", "3", "4", "5", "blue", "brown", "cube", "cyan", "cylinder", "gray", "green",
    "metal", "no", "purple", "red", "rubber", "sphere", "yellow", "yes",
)
QUESTION_VOCAB: dict[str, int] = {tok: i + 1 for i, tok in enumerate(QUESTION_TOKENS)}  # 81 + PAD = 82
ANSWER_VOCAB: dict[str, int] = {a: i + 1 for i, a in enumerate(ANSWERS)}  # 21 + PAD = 22
QUESTION_VOCAB_SIZE = len(QUESTION_VOCAB) + 1
QUESTION_LEN, CHOICE_LEN = 20, 12  # ALOE's MAX_QUESTION_LENGTH and MAX_CHOICE_LENGTH: the QA stage's default limits
ANSWER_VOCAB_SIZE = len(ANSWER_VOCAB) + 1


class VocabError(ValueError):
    """Text with a token outside CLEVRER's question vocabulary, or an answer outside its 21."""

    user_error = True  # the question file's text: reported in one line


def shown(text: str, limit: int = 120) -> str:
    """`text` quoted for an error message, cut after `limit` characters (a question may be 200,000 words)."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text):,} characters)"


def tokenize(text: str) -> list[str]:
    """CLEVRER's tokenizer: `text.lower().replace("?", "").split()`."""
    return text.lower().replace("?", "").split()


def out_of_vocabulary(text: str) -> list[str]:
    return [t for t in tokenize(text) if t not in QUESTION_VOCAB]


def encode_question(text: str, max_len: int | None = None) -> list[int]:
    """Token ids, right-padded with PAD to `max_len` when given; unknown tokens or overlong text raise."""
    toks = tokenize(text)
    unknown = [t for t in toks if t not in QUESTION_VOCAB]
    if unknown:
        raise VocabError(f"{text!r}: tokens outside the CLEVRER question vocabulary: {unknown}")
    ids = [QUESTION_VOCAB[t] for t in toks]
    if max_len is not None:
        if len(ids) > max_len:
            raise VocabError(f"{text!r}: {len(ids)} tokens, more than {max_len}")
        ids += [PAD] * (max_len - len(ids))
    return ids


def encode_answer(answer: str) -> int:
    if answer not in ANSWER_VOCAB:
        raise VocabError(f"{answer!r} is not one of CLEVRER's {len(ANSWERS)} answers")
    return ANSWER_VOCAB[answer]


def check_texts(texts: Iterable[str]) -> dict[str, int]:
    """Counts of out-of-vocabulary tokens over many texts (empty when all are in vocabulary)."""
    bad: dict[str, int] = {}
    for t in texts:
        for tok in out_of_vocabulary(t):
            bad[tok] = bad.get(tok, 0) + 1
    return bad


def text_problem(text: str, limit: int) -> str | None:
    """Why the QA stage's default tokenizer (CLEVRER's vocabulary, `limit` tokens) refuses `text`, or None: no
    word at all (every tokenizer refuses it), words outside the vocabulary, or too many tokens."""
    if not any(c.isalnum() for c in text):
        return "no words"
    unknown = out_of_vocabulary(text)
    if unknown:
        return f"outside the vocabulary: {sorted(set(unknown))[:5]}"
    n = len(tokenize(text))
    return f"{n} tokens, more than {limit}" if n > limit else None
