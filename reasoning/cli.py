"""Command lines of the QA stage: scripts/train_qa.py, eval_qa.py, ablate.py and tokenize_questions.py."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.questions import load_questions
from qa_data.clevrer.vocab import VocabError
from qa_data.config import load_config
from qa_data.programs.scoring import accuracy_markdown
from qa_data.reports.qa_report import load_split_with_answers
from qa_data.runtime.accelerator import make_accelerator, release
from reasoning.config import QAConfig
from reasoning.token_report import build_tokenizer, coverage, texts_of
from reasoning.tokenizer import TokenizerConfig


def train_main(argv=None) -> int:
    from reasoning.train import train_qa

    ap = argparse.ArgumentParser(description="Train the ALOE QA model on a slot cache. Rerunning the same command "
                                 "resumes from the newest checkpoint in --out.")
    ap.add_argument("--config", type=Path, required=True, help="preset YAML, e.g. configs/qa/aloe_tiny.yaml")
    ap.add_argument("--slots", type=Path, help="slot cache folder with train.h5 and validation.h5 "
                    "(scripts/extract_slots.py); not needed with aloe.blind=true")
    ap.add_argument("--data", type=Path, required=True, help="CLEVRER(-sim) root (questions)")
    ap.add_argument("--out", type=Path, required=True, help="QA run directory")
    ap.add_argument("overrides", nargs="*",
                    help="key=value config overrides, e.g. train.steps=500 data.drop_dynamics=true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_config(QAConfig, args.config, args.overrides)
    result = train_qa(cfg, args.data, args.slots, args.out)
    accelerator = make_accelerator()
    if accelerator.is_main_process:
        print(f"trained QA to step {result.step} in {result.seconds:.0f} s ({result.questions_per_second:.1f} "
              f"questions/s); checkpoint {result.checkpoint}")
        if result.accuracy is not None:
            print(accuracy_markdown(result.accuracy))
    release(accelerator)
    return 0


def eval_main(argv=None) -> int:
    from qa_data.clevrer.layout import canonical_split
    from qa_data.slots.slot_cache import SlotFrames, SlotSampling, check_cache_belongs, producer_key, split_file
    from reasoning.evaluate import predict, write_eval
    from reasoning.qa_dataset import QuestionSet
    from reasoning.train import load_qa_run

    ap = argparse.ArgumentParser(description="Evaluate a QA run on a split: accuracy per type and subtype "
                                 "(Markdown, CSV) and a submission JSON in CLEVRER's test format.")
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--split", default="validation")
    ap.add_argument("--slots", type=Path, help="slot cache folder (default: the one the run was trained on)")
    ap.add_argument("--data", type=Path, help="dataset root (default: the one the run was trained on)")
    ap.add_argument("--out", type=Path, help="output folder (default: RUN/eval/<split>_step_N)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    accelerator = make_accelerator()
    model, cfg, tokenizer, info, step = load_qa_run(args.run, accelerator.device)
    data = args.data or Path(info["data"])
    layout = ClevrerLayout(data)
    scenes = load_split_with_answers(layout, args.split)  # real CLEVRER test: questions without answers
    slots = None
    if not cfg.aloe.blind:
        slots = SlotFrames(split_file(args.slots or Path(info["slots"]), args.split),
                           SlotSampling(cfg.data.num_frames, start=cfg.data.eval_start,
                                        drop_dynamics=cfg.data.drop_dynamics, future_shift=cfg.data.future_shift))
        check_cache_belongs(slots.path, slots.attrs, data, canonical_split(args.split))
        trained_on = info["slot_attrs"]
        found = producer_key(slots.attrs)
        if found != trained_on:
            diff = [f"{k}: trained on {trained_on.get(k)!r}, cache {found[k]!r}" for k in found
                    if found[k] != trained_on.get(k)]
            raise SystemExit(f"error: {slots.path} was made by another producer than the caches this QA model was "
                             "trained on:\n  " + "\n  ".join(diff))
    dataset = QuestionSet(scenes, tokenizer, slots, source=str(layout.questions_path(args.split)))
    preds = predict(model, dataset, accelerator, cfg.train.eval_batch_size)
    if accelerator.is_main_process:
        out = args.out or args.run / "eval" / f"{args.split}_step_{step}"
        table = write_eval(out, scenes, preds, f"{info['features']} QA on {args.split}, step {step}")
        if table is not None:
            print(accuracy_markdown(table))
        print(f"written to {out} ({len(preds)} questions predicted, {len(dataset.skipped)} scenes skipped)")
    release(accelerator)
    return 0


def ablate_main(argv=None) -> int:
    from reasoning.ablate import FeatureSource, run_ablation, set_presets

    ap = argparse.ArgumentParser(description="Train and evaluate the QA model over feature sources and seeds; one "
                                 "table in the layout of the ODDN paper's Table 2 (mean +- std) and a bar chart.")
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--source", action="append", default=[], metavar="LABEL=SLOTS_DIR[:static]",
                    help="a feature source; `:static` drops the dynamics dims "
                    "(e.g. 'ODDN -dyn=runs/slots/oddn:static')")
    ap.add_argument("--preset", action="append", default=[], metavar="'LABEL=PRESET.yaml [key=value ...]'",
                    help="another QA preset for one row (default: --config for every row), and overrides for that "
                    "row only, e.g. 'states=configs/qa/aloe_cpu_grounded.yaml train.steps=8000'")
    ap.add_argument("--no-blind", action="store_true", help="leave out the blind (text-only) row")
    ap.add_argument("--seeds", type=lambda text: [int(x) for x in text.split(",")], default=[0, 1, 2],
                    help="comma-separated training seeds (default 0,1,2)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs trained at once in worker processes, CPU threads split between them (CPU only; "
                         "with `accelerate launch` keep 1)")
    ap.add_argument("overrides", nargs="*", help="key=value overrides for every run")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sources = [FeatureSource.parse(s) for s in args.source]
    if not args.no_blind:
        sources.append(FeatureSource("blind", None, False))
    set_presets(sources, args.preset)
    table = run_ablation(args.config, args.data, args.out, sources, args.seeds, args.overrides, jobs=args.jobs).table
    if make_accelerator().is_main_process:
        print(table.to_markdown(index=False))
        print(f"written to {args.out}")
    return 0


def tokenize_main(argv=None) -> int:
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
