"""Human-written questions: the scene-keyed layout reads as the list layout does, the `words` tokenizer
round-trips and counts unknown words, the QA stage trains with it, and the coverage report counts
CLEVRER-Humans' words outside CLEVRER's vocabulary."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_data.clevrer.questions import load_questions, parse_questions
from qa_data.config import load_config
from qa_data.runtime.command import run_command
from reasoning.cli import tokenize_main as report_main
from reasoning.config import QAConfig
from reasoning.token_report import coverage, texts_of
from reasoning.tokenizer import QuestionTokenizer, TokenizerConfig, split_words
from reasoning.train import load_qa_run, train_qa

REPO = Path(__file__).resolve().parents[2]


def test_keyed_and_list_layouts_give_the_same_questions(qa_root):
    listed = json.loads((qa_root / "questions" / "validation.json").read_text())
    keyed = {str(s["scene_index"]): {"video_filename": s["video_filename"], "questions": s["questions"]}
             for s in listed}
    assert parse_questions(keyed, "keyed.json") == parse_questions(listed, "listed.json")


def test_words_tokenizer_round_trips_and_counts_unknown_words(qa_root):
    scenes = load_questions(qa_root / "questions" / "train.json")
    questions, choices = texts_of(scenes)
    tok = QuestionTokenizer.train(TokenizerConfig(kind="words", question_len=32, choice_len=24), questions + choices)
    again = QuestionTokenizer.from_state(json.loads(json.dumps(tok.state())))  # saved with the model as JSON
    for text in questions[:100] + choices[:100]:
        ids = tok.ids(text)
        assert tok.decode(ids) == " ".join(split_words(text)) and again.ids(text) == ids
    assert not tok.unknown_counts
    ids = tok.question("Which ball came from the left before the zebra hit it?")
    assert tok.decode(ids).split().count("<unk>") == sum(tok.unknown_counts.values()) > 0
    assert tok.unknown_counts["zebra"] == 1 and ids[len(split_words("which ball came from the left before the "
                                                                   "zebra hit it")):] == [0] * (32 - 11)
    rare = QuestionTokenizer.train(TokenizerConfig(kind="words", min_count=1000), questions + choices)
    assert rare.vocab_size < tok.vocab_size  # only frequent words kept


def test_qa_trains_and_evaluates_with_the_words_tokenizer(qa_root, tmp_path):
    cfg = load_config(QAConfig, REPO / "configs/qa/aloe_tiny.yaml",
                      ["aloe.d_model=32", "aloe.layers=1", "aloe.heads=2", "aloe.ffn=32", "aloe.head_hidden=16",
                       "aloe.blind=true", "train.batch_size=8", "train.steps=2", "train.eval_batch_size=16",
                       "tokenizer.kind=words", "tokenizer.min_count=2"])
    result = train_qa(cfg, qa_root, None, tmp_path / "qa", progress=False)
    assert result.step == 2 and result.accuracy is not None
    _, loaded_cfg, tok, _, step = load_qa_run(tmp_path / "qa")  # the vocabulary travels in the checkpoint
    trained = QuestionTokenizer.train(cfg.tokenizer, [t for ts in texts_of(load_questions(
        qa_root / "questions" / "train.json")) for t in ts])
    assert step == 2 and loaded_cfg.tokenizer.kind == "words" and tok.state() == trained.state()


@pytest.mark.real_samples
def test_coverage_report_counts_clevrer_humans_words_outside_the_vocabulary(samples_dir, tmp_path, capsys):
    scenes = load_questions(samples_dir / "humans-valid.json")  # the scene-keyed layout
    questions, choices = texts_of(scenes)
    assert len(questions) == 256
    clevrer = coverage(QuestionTokenizer(TokenizerConfig(unknown="unk")), questions, choices)
    words_in_file = {w for t in questions + choices for w in split_words(t)}
    assert len(clevrer.unknown) == 92 and set(clevrer.unknown.word) < words_in_file  # the 92 of 117
    assert run_command(report_main, ["--questions", str(samples_dir / "humans-valid.json"), "--tokenizer", "words",
                                     "--out", str(tmp_path / "report.md")]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "| questions |     256 |" in report and "Unknown words (0 distinct)" in report  # learned from itself
