"""How well a tokenizer covers a question set: unknown words and their counts, token lengths, and the texts
longer than the model's question or choice length (`scripts/tokenize_questions.py`), the check to run before
training on a new question set such as CLEVRER-Humans."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qa_data.clevrer.questions import SceneQuestions
from qa_data.config import ConfigError
from reasoning.tokenizer import QuestionTokenizer, TokenizerConfig, split_words


@dataclass
class Coverage:
    summary: pd.DataFrame  # one row per kind of text (questions, choices): texts, tokens, unknown, lengths, too long
    unknown: pd.DataFrame  # word, count (most frequent first)


def texts_of(scenes: list[SceneQuestions]) -> tuple[list[str], list[str]]:
    """(question texts, choice texts)."""
    return ([q.question for s in scenes for q in s.questions],
            [c.choice for s in scenes for q in s.questions for c in q.choices])


def coverage(tokenizer: QuestionTokenizer, questions: list[str], choices: list[str]) -> Coverage:
    """Tokenizes every text without padding (unknown words counted, never raised) and tabulates."""
    if tokenizer.cfg.kind == "clevrer" and tokenizer.cfg.unknown == "error":
        tokenizer = QuestionTokenizer(TokenizerConfig(**{**vars(tokenizer.cfg), "unknown": "unk"}))
    tokenizer.unknown_counts.clear()
    rows = []
    for name, texts, limit in (("questions", questions, tokenizer.cfg.question_len),
                               ("choices", choices, tokenizer.cfg.choice_len)):
        before = sum(tokenizer.unknown_counts.values())
        lengths = np.array([len(tokenizer.ids(t)) for t in texts]) if texts else np.zeros(0, dtype=int)
        unknown = sum(tokenizer.unknown_counts.values()) - before
        words = sum(len(split_words(t)) for t in texts)
        rows.append({"texts": name, "count": len(texts), "tokens": int(lengths.sum()),
                     "unknown tokens": unknown, "unknown %": 100.0 * unknown / max(1, words),
                     "mean length": float(lengths.mean()) if len(lengths) else 0.0,
                     "p95 length": float(np.percentile(lengths, 95)) if len(lengths) else 0.0,
                     "max length": int(lengths.max()) if len(lengths) else 0, "limit": limit,
                     "too long": int((lengths > limit).sum())})
    unknown = pd.DataFrame(Counter(tokenizer.unknown_counts).most_common(), columns=["word", "count"])
    return Coverage(pd.DataFrame(rows), unknown)


def build_tokenizer(kind: str, train_texts: list[str], question_len: int, choice_len: int, min_count: int,
                    sp_vocab_size: int) -> QuestionTokenizer:
    try:
        cfg = TokenizerConfig(kind=kind, question_len=question_len, choice_len=choice_len, min_count=min_count,
                              sp_vocab_size=sp_vocab_size, unknown="unk" if kind == "clevrer" else "error")
    except ValueError as e:  # a setting out of range, named by the config's own check
        raise ConfigError(str(e)) from None
    return QuestionTokenizer.train(cfg, train_texts)
