"""How well a tokenizer covers a question set: unknown words and their counts, token lengths, and the texts
longer than the model's question or choice length (`scripts/tokenize_questions.py`), the check to run before
training on a new question set such as CLEVRER-Humans."""
from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qa_data.clevrer.questions import SceneQuestions, load_questions
from qa_data.clevrer.vocab import VocabError
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Report how a QA tokenizer covers a question file: unknown words and "
                                 "their counts, token lengths, and texts longer than the model's limits.")
    ap.add_argument("--questions", type=Path, required=True, help="question file (CLEVRER's list layout or the "
                    "scene-keyed layout of ALOE / CLEVRER-Humans)")
    ap.add_argument("--tokenizer", choices=["clevrer", "words", "sentencepiece"], default="clevrer")
    ap.add_argument("--train", type=Path, help="question file the words / sentencepiece vocabulary is learned from "
                    "(default: --questions itself)")
    ap.add_argument("--question-len", type=int, default=TokenizerConfig.question_len)
    ap.add_argument("--choice-len", type=int, default=TokenizerConfig.choice_len)
    ap.add_argument("--min-count", type=int, default=TokenizerConfig.min_count)
    ap.add_argument("--sp-vocab-size", type=int, default=TokenizerConfig.sp_vocab_size)
    ap.add_argument("--top", type=int, default=30, help="unknown words listed")
    ap.add_argument("--out", type=Path, help="also write the report here (Markdown)")
    args = ap.parse_args(argv)
    scenes = load_questions(args.questions)
    train_q, train_c = texts_of(load_questions(args.train) if args.train else scenes)
    try:
        tokenizer = build_tokenizer(args.tokenizer, train_q + train_c, args.question_len, args.choice_len,
                                    args.min_count, args.sp_vocab_size)
    except VocabError as e:
        raise SystemExit(f"error: {e}") from None
    result = coverage(tokenizer, *texts_of(scenes))
    source = f"vocabulary learned from {args.train or args.questions}" if args.tokenizer != "clevrer" else \
        "CLEVRER's 82-token vocabulary"
    report = (f"# Tokenizer coverage: {args.questions}\n\n`{args.tokenizer}` tokenizer ({source}; "
              f"{tokenizer.vocab_size} ids).\n\n" + result.summary.to_markdown(index=False, floatfmt=".1f")
              + f"\n\n## Unknown words ({len(result.unknown)} distinct)\n\n"
              + (result.unknown.head(args.top).to_markdown(index=False) if len(result.unknown) else "none") + "\n")
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
    return 0
