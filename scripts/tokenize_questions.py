"""`python scripts/tokenize_questions.py --questions FILE --tokenizer clevrer|words|sentencepiece [--train FILE]`:
unknown words, lengths and truncations of a question set under a QA tokenizer."""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from reasoning.cli import tokenize_main as main

    raise SystemExit(run_command(main))
