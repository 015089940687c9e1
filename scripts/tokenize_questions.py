"""`python scripts/tokenize_questions.py --questions FILE --tokenizer clevrer|words|sentencepiece [--train FILE]`:
unknown words, lengths and truncations of a question set under a QA tokenizer."""
from qa_data.runtime.command import run_command
from reasoning.token_report import main

if __name__ == "__main__":
    raise SystemExit(run_command(main))
