"""Question tokenizers for the QA model, saved with it.

`clevrer`: CLEVRER's 82-token question vocabulary (ids as DeepMind ALOE's and SlotFormer's
vocab files, `qa_data.clevrer.vocab`) and its 21 answers (+ PAD = 22 classes). Questions are padded to 20
tokens and choices to 12. Unknown words are explicit: `unknown="error"` raises a `VocabError`
naming the text and the words; `unknown="unk"` maps them to an extra id (82, vocabulary size 83)
and counts them. Overlong text always raises.

`words`: a word vocabulary learned from the training questions and choices (nltk's Treebank word
tokenizer, which needs no downloaded data; lower-cased, punctuation dropped), keeping words seen at
least `min_count` times; id 1 is the unknown word, whose occurrences are counted. For human-written
question sets (CLEVRER-Humans) whose words CLEVRER's vocabulary lacks.

`sentencepiece`: a SentencePiece model trained on a question set's texts, for free-form questions
outside CLEVRER's vocabulary; it is stored inside the tokenizer's state (and so in every QA
checkpoint). Answers keep CLEVRER's 21 classes either way.
"""
from __future__ import annotations

import base64
import io
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from qa_data.clevrer.vocab import (
    ANSWER_VOCAB,
    ANSWER_VOCAB_SIZE,
    ANSWERS,
    CHOICE_LEN,
    PAD,
    QUESTION_LEN,
    QUESTION_VOCAB,
    QUESTION_VOCAB_SIZE,
    VocabError,
    shown,
    tokenize,
)
from qa_data.config import ConfigError

KINDS = ("clevrer", "words", "sentencepiece")
WORDS_UNK = 1  # `words`: the unknown word's id (0 is padding)
UNKNOWN = ("error", "unk")


@dataclass
class TokenizerConfig:
    kind: str = "clevrer"  # clevrer | words | sentencepiece
    question_len: int = QUESTION_LEN
    choice_len: int = CHOICE_LEN
    unknown: str = "error"  # clevrer: error | unk (an extra id for words outside the 82)
    # sentencepiece: pieces (256 of them bytes, so any text encodes), trained on the training questions
    sp_vocab_size: int = 512
    min_count: int = 1  # words: a training word joins the vocabulary when seen at least this often

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"tokenizer kind must be one of {KINDS}, got {self.kind!r}")
        if self.unknown not in UNKNOWN:
            raise ValueError(f"tokenizer unknown must be one of {UNKNOWN}, got {self.unknown!r}")
        if self.min_count < 1 or self.question_len < 1 or self.choice_len < 1:
            raise ValueError("tokenizer min_count, question_len and choice_len must be >= 1")


def split_words(text: str) -> list[str]:
    """Lower-cased words of `text` (nltk's Treebank tokenizer), punctuation dropped: "cube's" -> cube 's."""
    from nltk.tokenize import TreebankWordTokenizer

    return [w for w in TreebankWordTokenizer().tokenize(text.lower()) if any(c.isalnum() for c in w)]


class QuestionTokenizer:
    """Text -> fixed-length id lists; answers -> CLEVRER's answer ids (1..21, 0 is padding)."""

    def __init__(self, cfg: TokenizerConfig, sp_model: bytes | None = None, words: list[str] | None = None):
        self.cfg = cfg
        self.unknown_counts: Counter = Counter()
        self._sp = None
        self._sp_model = sp_model
        self._words = words
        if cfg.kind == "words":
            if words is None:
                raise ValueError("a words tokenizer needs its vocabulary (QuestionTokenizer.train)")
            self._word_ids = {w: i + 2 for i, w in enumerate(words)}  # 0 padding, 1 unknown
        if cfg.kind == "sentencepiece":
            if sp_model is None:
                raise ValueError("a sentencepiece tokenizer needs a trained model (QuestionTokenizer.train)")
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor(model_proto=sp_model)

    # -- construction and persistence -------------------------------------------------------------

    @classmethod
    def train(cls, cfg: TokenizerConfig, texts: Iterable[str]) -> "QuestionTokenizer":
        """A tokenizer for `cfg`; a sentencepiece one learns its pieces from `texts`."""
        if cfg.kind == "clevrer":
            return cls(cfg)
        if cfg.kind == "words":
            counts = Counter(w for t in texts for w in split_words(t))
            kept = sorted((w for w, n in counts.items() if n >= cfg.min_count), key=lambda w: (-counts[w], w))
            return cls(cfg, words=kept)
        import sentencepiece as spm

        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(sentence_iterator=iter([t.lower() for t in texts]), model_writer=model,
                                           vocab_size=cfg.sp_vocab_size, model_type="bpe", pad_id=0, unk_id=1,
                                           bos_id=-1, eos_id=-1, character_coverage=1.0, byte_fallback=True,
                                           hard_vocab_limit=False, minloglevel=2)
        except RuntimeError as e:  # e.g. a vocabulary smaller than the bytes and characters it must hold
            why = " ".join(str(e).split()).rsplit("] ", 1)[-1]  # sentencepiece's reason, without its source line
            raise ConfigError(f"tokenizer.sp_vocab_size={cfg.sp_vocab_size}: sentencepiece cannot train on these "
                              f"questions ({why[:200]})") from None
        return cls(cfg, model.getvalue())

    def state(self) -> dict:
        """Everything needed to rebuild this tokenizer (saved in QA checkpoints)."""
        from dataclasses import asdict

        out = {"config": asdict(self.cfg)}
        if self._sp_model is not None:
            out["sp_model"] = base64.b64encode(self._sp_model).decode()
        if self._words is not None:
            out["words"] = list(self._words)
        return out

    @classmethod
    def from_state(cls, state: dict) -> "QuestionTokenizer":
        sp = base64.b64decode(state["sp_model"]) if "sp_model" in state else None
        return cls(TokenizerConfig(**state["config"]), sp, state.get("words"))

    # -- vocabularies ------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        if self._sp is not None:
            return self._sp.get_piece_size()
        if self._words is not None:
            return len(self._words) + 2
        return QUESTION_VOCAB_SIZE + (1 if self.cfg.unknown == "unk" else 0)

    @property
    def unk_id(self) -> int | None:
        if self._sp is not None:
            return self._sp.unk_id()
        if self._words is not None:
            return WORDS_UNK
        return QUESTION_VOCAB_SIZE if self.cfg.unknown == "unk" else None

    num_answers = ANSWER_VOCAB_SIZE  # 21 answers + PAD: the descriptive head's 22 classes

    # -- encoding ----------------------------------------------------------------------------------

    def ids(self, text: str) -> list[int]:
        """Token ids of `text`, unpadded."""
        if self._sp is not None:
            return self._sp.encode(text.lower().replace("?", ""))
        if self._words is not None:
            words = split_words(text)
            self.unknown_counts.update(w for w in words if w not in self._word_ids)
            return [self._word_ids.get(w, WORDS_UNK) for w in words]
        toks = tokenize(text)
        unknown = [t for t in toks if t not in QUESTION_VOCAB]
        if unknown and self.cfg.unknown == "error":
            raise VocabError(f"{shown(text)}: {sorted(set(unknown))[:10]} outside the CLEVRER question vocabulary "
                             "(tokenizer.unknown=unk maps such words to an UNK id)")
        self.unknown_counts.update(unknown)
        return [QUESTION_VOCAB.get(t, QUESTION_VOCAB_SIZE) for t in toks]

    def encode(self, text: str, length: int) -> list[int]:
        ids = self.ids(text)
        if not ids:  # the model would see only padding
            raise VocabError(f"{shown(text)}: no words")
        if len(ids) > length:
            raise VocabError(f"{shown(text)}: {len(ids)} tokens, more than {length}")
        return ids + [PAD] * (length - len(ids))

    def question(self, text: str) -> list[int]:
        return self.encode(text, self.cfg.question_len)

    def choice(self, text: str) -> list[int]:
        return self.encode(text, self.cfg.choice_len)

    def decode(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids if int(i) != PAD]
        if self._sp is not None:
            return self._sp.decode(ids)
        if self._words is not None:
            return " ".join(self._words[i - 2] if i >= 2 else "<unk>" for i in ids)
        inverse = {v: k for k, v in QUESTION_VOCAB.items()}
        return " ".join(inverse.get(i, "<unk>") for i in ids)

    @staticmethod
    def answer(text: str) -> int:
        if text not in ANSWER_VOCAB:
            raise VocabError(f"{shown(text)} is not one of CLEVRER's {len(ANSWERS)} answers")
        return ANSWER_VOCAB[text]

    @staticmethod
    def answer_text(index: int) -> str:
        return ANSWERS[index - 1] if 1 <= index <= len(ANSWERS) else "<pad>"
