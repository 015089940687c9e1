"""The QA stage: tokenizer, ALOE, scoring of its predictions, training/resume, 2-process evaluation, ablation."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from perception.config import PerceptionConfig
from perception.extract import ExtractConfig, extract
from perception.loaded_run import load_run
from perception.registry import build_model as build_perception
from qa_data.clevrer.questions import Choice, Question, SceneQuestions, load_questions
from qa_data.clevrer.vocab import VocabError, tokenize
from qa_data.config import ConfigError, load_config
from qa_data.runtime.checkpoints import write_model_file
from reasoning.aloe import Aloe
from reasoning.config import AloeConfig, QAConfig
from reasoning.evaluate import summary_row, write_eval
from reasoning.qa_dataset import collate
from reasoning.tokenizer import QuestionTokenizer, TokenizerConfig
from reasoning.train import load_qa_run, qa_loss, train_qa, type_gradient_norms, type_losses

REPO = Path(__file__).resolve().parents[2]
SMALL = ["aloe.d_model=32", "aloe.layers=1", "aloe.heads=2", "aloe.ffn=32", "aloe.head_hidden=16", "data.num_frames=4",
         "train.batch_size=8", "train.log_every=1", "train.eval_batch_size=16"]


def sample_texts(samples_dir: Path) -> list[str]:
    scenes = (load_questions(samples_dir / "train-orig-small.json")
              + load_questions(samples_dir / "valid-orig-small.json"))
    return [q.question for s in scenes for q in s.questions] + [c.choice for s in scenes for q in s.questions
                                                                for c in q.choices]


# -- tokenizer ----------------------------------------------------------------------------------------


@pytest.mark.real_samples
def test_tokenizer_round_trips_real_clevrer_questions(samples_dir):
    tok = QuestionTokenizer(TokenizerConfig())
    vocab = json.loads((samples_dir / "vocab.json").read_text())["question_vocab"]
    texts = sample_texts(samples_dir)
    assert len(texts) > 2000
    for text in texts:
        ids = tok.question(text) if len(tokenize(text)) > 12 else tok.choice(text)
        assert tok.decode(ids) == " ".join(tokenize(text))
        assert [i for i in ids if i] == [vocab[t] for t in tokenize(text)]  # DeepMind's ids
    assert len(tok.question(texts[0])) == 20 and len(tok.choice("the cube enters the scene")) == 12
    assert tok.vocab_size == 82 and tok.num_answers == 22 and tok.answer("yes") == 21 and tok.answer_text(21) == "yes"
    with pytest.raises(VocabError, match=r"\['zebra'\]"):
        tok.question("Is there any zebra?")
    unk = QuestionTokenizer(TokenizerConfig(unknown="unk"))
    assert unk.vocab_size == 83
    assert unk.question("Is there any zebra?")[:5] == [vocab["is"], vocab["there"], vocab["any"], 82, 0]
    assert unk.unknown_counts == {"zebra": 1}
    with pytest.raises(VocabError, match="more than 12"):
        tok.choice("the cube enters the scene and the sphere exits the scene after the collision")

    sp = QuestionTokenizer.train(TokenizerConfig(kind="sentencepiece", sp_vocab_size=600, question_len=32,
                                                 choice_len=24), texts)
    again = QuestionTokenizer.from_state(json.loads(json.dumps(sp.state())))  # saved with the model as JSON
    for text in texts[:200] + ["Is there a zebra colliding with the cube?"]:
        assert sp.decode(sp.question(text)) == text.lower().replace("?", "").strip()
        assert again.question(text) == sp.question(text)


# -- model --------------------------------------------------------------------------------------------


def toy_batch(n_desc: int = 6, n_mc: int = 4, frames: int = 4, slots: int = 3, dim: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(n_desc + n_mc):
        q = torch.randint(1, 82, (20,), generator=g)
        item = {"scene_index": i, "question_id": 0, "type": 0, "question": q,
                "slots": torch.randn(frames, slots, dim, generator=g)}
        if i < n_desc:
            item.update(choices=torch.zeros(0, 12, dtype=torch.long), choice_ids=[],
                        labels=torch.zeros(0, dtype=torch.long),
                        answer=int(torch.randint(1, 22, (), generator=g)))
        else:
            item.update(choices=torch.randint(1, 82, (3, 12), generator=g), choice_ids=[0, 1, 2],
                        labels=torch.tensor([1, 0, 1]), answer=-1)
        items.append(item)
    return collate(items)


def test_collate_makes_one_pass_per_choice():
    passes = toy_batch(n_desc=2, n_mc=1)
    assert passes.text.shape == (5, 32) and passes.slots.shape == (5, 4, 3, 5)
    assert passes.is_choice.tolist() == [False, False, True, True, True]
    assert passes.question.tolist() == [0, 1, 2, 2, 2] and passes.label.tolist() == [-1, -1, 1, 0, 1]
    assert passes.segment[0].tolist() == [1] * 32  # descriptive: all text in segment 1 (ALOE)
    assert passes.segment[2].tolist() == [0] * 20 + [1] * 12
    assert torch.equal(passes.slots[2], passes.slots[4])  # the video repeated for each choice


def test_model_overfits_a_tiny_batch():
    torch.manual_seed(0)
    passes = toy_batch()
    cfg = AloeConfig(d_model=32, layers=2, heads=2, ffn=64, dropout=0.0, head_hidden=32, mask_slot_weight=0.01)
    model = Aloe(cfg, slot_dim=5, num_slots=3, num_frames=4, vocab_size=82, num_answers=22, text_len=32)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss, parts = qa_loss(model(passes.slots, passes.text, passes.segment), passes, cfg.mask_slot_weight)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    out = model(passes.slots, passes.text, passes.segment)
    desc, mc = ~passes.is_choice, passes.is_choice
    assert (out.answer_logits[desc].argmax(-1) == passes.answer[desc]).all()
    assert ((out.choice_logits[mc] >= 0).long() == passes.label[mc]).all()
    assert loss.item() < 0.05 * first and parts["train/mask"] > 0


def test_per_type_losses_add_up_to_the_loss_and_their_gradients_are_each_types_own():
    torch.manual_seed(0)
    passes = toy_batch(n_desc=4, n_mc=4)
    passes.qtype[passes.is_choice] = torch.where(passes.question[passes.is_choice] % 2 == 0, 1, 2)  # expl., pred.
    model = Aloe(AloeConfig(d_model=32, layers=1, heads=2, ffn=32, head_hidden=16), 5, 3, 4, 82, 22, 32)
    out = model(passes.slots, passes.text, passes.segment)
    loss, parts = qa_loss(out, passes, 0.0)
    sums = type_losses(out, passes)  # [types, 2]
    assert sums[:, 1].tolist() == [4, 6, 6, 0]  # 4 descriptive passes, 2 questions x 3 choices of each MC type
    desc, mc = passes.answer >= 0, passes.is_choice
    ce = torch.nn.functional.cross_entropy(out.answer_logits[desc], passes.answer[desc])  # computed independently
    bce = torch.nn.functional.binary_cross_entropy_with_logits(out.choice_logits[mc], passes.label[mc].float())
    assert torch.allclose(sums[0, 0] / sums[0, 1], ce) and torch.allclose(parts["train/ce"], ce)
    assert torch.allclose(sums[1:, 0].sum() / sums[1:, 1].sum(), bce) and torch.allclose(parts["train/bce"], bce)
    assert torch.equal(parts["by_type"], sums)  # the loss is made of the sums it logs
    norms = type_gradient_norms(model, sums)
    assert set(norms) == {"descriptive", "explanatory", "predictive"}  # no counterfactual pass
    assert all(p.grad is None for p in model.parameters())  # nothing accumulated
    (sums[2, 0] / sums[2, 1]).backward(retain_graph=True)  # the predictive loss alone, the ordinary way
    own = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters() if p.grad is not None))
    assert norms["predictive"] == pytest.approx(float(own), rel=1e-5)


def test_one_correct_softmax_is_each_questions_cross_entropy_over_its_choices():
    """Questions with exactly one correct choice get the cross-entropy of their choices' logits (computed
    independently per question below); questions with none, several or one labelled choice get nothing."""
    from reasoning.train import one_correct_softmax

    torch.manual_seed(0)
    passes = toy_batch(n_desc=2, n_mc=4)  # questions 2..5, three choices each
    passes.label[passes.is_choice] = torch.tensor([0, 1, 0,  1, 1, 0,  0, 0, 0,  0, -1, 1])
    out = Aloe(AloeConfig(d_model=32, layers=1, heads=2, ffn=32, head_hidden=16), 5, 3, 4, 82, 22, 32)(
        passes.slots, passes.text, passes.segment)
    total, count = one_correct_softmax(out, passes)
    z = out.choice_logits[passes.is_choice].view(4, 3)
    expected = (torch.nn.functional.cross_entropy(z[0:1], torch.tensor([1]), reduction="sum")  # one correct of 3
                + torch.nn.functional.cross_entropy(z[3:4, [0, 2]], torch.tensor([1]), reduction="sum"))  # of 2
    assert count == 2 and torch.allclose(total, expected)
    loss, parts = qa_loss(out, passes, 0.0, softmax_weight=0.5)
    assert torch.allclose(parts["train/softmax"], expected / 2)
    assert torch.allclose(loss, parts["train/ce"] + parts["train/bce"] + 0.5 * expected / 2)
    assert "train/softmax" not in qa_loss(out, passes, 0.0)[1]


def test_blind_model_sees_no_visual_input():
    passes = toy_batch()
    torch.manual_seed(0)
    blind = Aloe(AloeConfig(d_model=32, layers=1, heads=2, ffn=32, blind=True), 5, 3, 4, 82, 22, 32).eval()
    assert not any("vision" in name or "mask" in name for name, _ in blind.named_parameters())
    assert blind.pos.shape[1] == 1 + 32  # CLS + text only
    a = blind(passes.slots, passes.text, passes.segment)
    b = blind(torch.randn_like(passes.slots) * 100, passes.text, passes.segment)
    c = blind(None, passes.text, passes.segment)
    assert torch.equal(a.answer_logits, b.answer_logits) and torch.equal(a.choice_logits, c.choice_logits)
    seeing = Aloe(AloeConfig(d_model=32, layers=1, heads=2, ffn=32), 5, 3, 4, 82, 22, 32).eval()
    assert not torch.allclose(seeing(passes.slots, passes.text, passes.segment).answer_logits,
                              seeing(torch.randn_like(passes.slots), passes.text, passes.segment).answer_logits)


# -- scoring ------------------------------------------------------------------------------------------


def test_scoring_per_option_and_per_question_by_hand(tmp_path):
    mc = lambda qid, qtype, answers: Question(qid, "q", qtype, choices=[  # noqa: E731
        Choice(i, f"c{i}", answer=a) for i, a in enumerate(answers)])
    scenes = [SceneQuestions(7, "video_00007.mp4", [
        Question(0, "how many", "descriptive", "count", answer="2"),
        Question(1, "what color", "descriptive", "query_color", answer="red"),
        mc(2, "explanatory", ["correct", "wrong", "wrong", "correct"]),
        mc(3, "explanatory", ["wrong", "correct"]),
        mc(4, "predictive", ["correct", "wrong"]),
        mc(5, "counterfactual", ["wrong", "wrong", "correct"])])]
    preds = {(7, 0): "2", (7, 1): "blue",
             (7, 2): {0: "correct", 1: "wrong", 2: "correct", 3: "correct"},  # 3 of 4 options: question wrong
             (7, 3): {0: "wrong", 1: "correct"},  # all right
             (7, 4): {0: "correct", 1: "wrong"},
             (7, 5): {0: "correct", 1: "correct", 2: "correct"}}  # 1 of 3
    table = write_eval(tmp_path, scenes, preds, "hand")
    row = summary_row(table)
    assert row == {"Descriptive": 50.0, "Explanatory per opt.": 100 * 5 / 6, "Explanatory per ques.": 50.0,
                   "Predictive per opt.": 100.0, "Predictive per ques.": 100.0,
                   "Counterfactual per opt.": 100 / 3, "Counterfactual per ques.": 0.0}
    submission = json.loads((tmp_path / "predictions.json").read_text())
    assert submission[0]["scene_index"] == 7 and len(submission[0]["questions"]) == 6
    assert submission[0]["questions"][2]["choices"][1] == {"choice_id": 1, "answer": "wrong"}
    assert (tmp_path / "accuracy.md").is_file() and len(pd.read_csv(tmp_path / "per_question.csv")) == 6


# -- training, evaluation, ablation on a real (tiny) slot cache ----------------------------------------


@pytest.fixture(scope="module")
def qa_slots(qa_root, tmp_path_factory) -> Path:
    """ODDN slot caches (untrained tiny model, 4 frames per video) of the QA dataset's train and validation."""
    root = tmp_path_factory.mktemp("qa_slots")
    cfg = load_config(PerceptionConfig, REPO / "configs/perception/oddn_tiny.yaml", ["iodine.num_iters=2"])
    torch.manual_seed(0)
    (root / "run/checkpoints/step_0000000").mkdir(parents=True)
    write_model_file(build_perception(cfg), cfg, root / "run/checkpoints/step_0000000/model.pt", 0)
    loaded = load_run(root / "run")
    for split in ("train", "validation"):
        extract(loaded, qa_root, root / "slots", ExtractConfig(split=split, frame_stride=32, batch_size=4),
                progress=False)
    return root / "slots"


@pytest.fixture(scope="module")
def qa_tracks(qa_root, qa_slots) -> Path:
    """The same model's slots in track order (`--track`), for the presets with object-track tokens."""
    loaded = load_run(qa_slots.parent / "run")
    out = qa_slots.parent / "tracks"
    for split in ("train", "validation"):
        extract(loaded, qa_root, out, ExtractConfig(split=split, frame_stride=32, batch_size=4, track=True),
                progress=False)
    return out


def qa_cfg(*overrides: str, preset: str = "aloe_tiny") -> QAConfig:
    return load_config(QAConfig, REPO / "configs/qa" / f"{preset}.yaml", [*SMALL, *overrides])


def test_training_resumes_exactly_and_writes_the_tables(qa_root, qa_slots, tmp_path):
    # an evaluation at every checkpoint (the presets' schedule) must not move the training's random streams (dropout)
    cfg = qa_cfg("train.steps=6", "train.checkpoint_every=2", "train.eval_every=2", "train.keep_checkpoints=5",
                 "aloe.dropout=0.1")
    whole = train_qa(cfg, qa_root, qa_slots, tmp_path / "whole", progress=False)
    assert whole.step == 6 and whole.accuracy is not None and set(whole.summary) >= {"Descriptive"}
    eval_dir = tmp_path / "whole" / "eval" / "validation_step_6"
    for name in ("accuracy.md", "accuracy.csv", "summary.csv", "per_question.csv", "predictions.json"):
        assert (eval_dir / name).is_file(), name
    assert (tmp_path / "whole" / "tensorboard").is_dir() or any((tmp_path / "whole").rglob("events.out.tfevents*"))
    log = [json.loads(line) for line in (tmp_path / "whole" / "train_log.jsonl").read_text().splitlines()]
    trained = [r for r in log if "train/loss" in r]
    assert all("train/loss_descriptive" in r and "train/grad_norm_descriptive" in r for r in trained)
    signals = pd.read_csv(tmp_path / "whole" / "learning_curves_loss.csv")
    assert set(signals.type) <= {"descriptive", "explanatory", "predictive", "counterfactual"}
    assert (signals.loss > 0).all() and len(signals[signals.type == "descriptive"]) == 6
    # Interrupted after step 4: its last two checkpoints removed, then the same command again.
    import shutil

    shutil.copytree(tmp_path / "whole", tmp_path / "cut")
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_0000006")
    resumed = train_qa(cfg, qa_root, qa_slots, tmp_path / "cut", progress=False)
    assert resumed.step == 6
    a = torch.load(whole.checkpoint / "model.pt", weights_only=False)["model"]
    b = torch.load(resumed.checkpoint / "model.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # training minutes are logged (evaluations excluded) and carried over the resume: never back to zero
    cut_log = (tmp_path / "cut" / "train_log.jsonl").read_text().splitlines()
    clock = [json.loads(line)["train_seconds"] for line in cut_log]
    assert len(clock) == len(log) and all(b >= a for a, b in zip(clock, clock[1:])) and clock[0] > 0
    before_cut = [r["train_seconds"] for r in log if r["step"] <= 4]
    assert clock[len(before_cut)] >= before_cut[-1]  # the first row logged after the resume
    with pytest.raises(Exception, match="another config"):
        train_qa(qa_cfg("train.steps=6", "aloe.layers=2"), qa_root, qa_slots, tmp_path / "whole", progress=False)


def test_two_process_evaluation_equals_one_process(qa_root, qa_slots, tmp_path):
    run = tmp_path / "run"
    train_qa(qa_cfg("train.steps=3"), qa_root, qa_slots, run, progress=False)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    outs = {}
    for n in (1, 2):
        launch = [sys.executable, "-m", "accelerate.commands.launch", *(["--multi_gpu"] if n > 1 else []),
                  "--num_processes", str(n), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        out = tmp_path / f"eval_{n}"
        done = subprocess.run([*launch, str(REPO / "scripts/eval_qa.py"), "--run", str(run), "--out", str(out)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        outs[n] = out
    assert (outs[1] / "predictions.json").read_text() == (outs[2] / "predictions.json").read_text()
    pd.testing.assert_frame_equal(pd.read_csv(outs[1] / "accuracy.csv"), pd.read_csv(outs[2] / "accuracy.csv"))
    per_q = pd.read_csv(outs[2] / "per_question.csv")
    questions = load_questions(qa_root / "questions" / "validation.json")
    assert len(per_q) == sum(len(s.questions) for s in questions) and not per_q.missing.any()  # each once


def test_every_qa_preset_runs_one_step(qa_root, qa_slots, qa_tracks, tmp_path):
    # the presets' models as they are; data and batch fit the test
    for preset in ("aloe_tiny", "aloe_cpu", "aloe_clevrer"):
        cfg = load_config(QAConfig, REPO / "configs/qa" / f"{preset}.yaml",
                          ["data.num_frames=4", "train.batch_size=8", "train.steps=1", "train.mixed_precision=no",
                           "data.num_workers=0", "train.eval_batch_size=64"])
        slots = qa_tracks if cfg.aloe.visual_tokens == "object_track" else qa_slots  # ODDN's slots are not tracks
        result = train_qa(cfg, qa_root, slots, tmp_path / preset, progress=False)
        assert result.step == 1 and result.accuracy is not None
    model, cfg, tok, info, step = load_qa_run(tmp_path / "aloe_clevrer")
    assert step == 1 and cfg.aloe.layers == 12 and cfg.aloe.d_model == 144 and tok.vocab_size == 82
    assert info["features"] == "oddn"


def test_ablation_writes_table2_and_chart(qa_root, qa_slots, tmp_path):
    from reasoning.ablate import FeatureSource, run_ablation

    sources = [FeatureSource.parse(f"ODDN={qa_slots}"), FeatureSource.parse(f"ODDN -dyn={qa_slots}:static"),
               FeatureSource("blind", None, False)]
    result = run_ablation(REPO / "configs/qa/aloe_tiny.yaml", qa_root, tmp_path, sources, [0, 1],
                          [*SMALL, "train.steps=2"], progress=False)
    table = result.table
    assert result.files["table2.png"] == tmp_path / "table2.png"
    assert all((Path(d) / "accuracy.md").is_file() for d in result.runs.eval_dir)  # the folders the runs wrote
    assert table.feature.tolist() == ["ODDN", "ODDN -dyn", "blind"] and table.dim.tolist() == [20, 16, "-"]
    assert all("±" in v for v in table["Descriptive"])
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == 6 and (tmp_path / "table2.png").is_file() and (tmp_path / "table2.md").is_file()
    _, cfg, *_ = load_qa_run(tmp_path / "ODDN_-dyn" / "seed_1")
    assert cfg.data.drop_dynamics and cfg.train.seed == 1


def test_an_ablation_row_sets_its_own_features_over_the_presets(qa_slots):
    """A row's features are set on the config itself, over what the preset and the command line say: `:static`
    serves the static dims, a plain row all of them, the blind row no object tokens and no head that reads them."""
    from reasoning.ablate import FeatureSource

    cfg = load_config(QAConfig, REPO / "configs/qa/aloe_tiny.yaml",
                      ["data.drop_dynamics=true", "aloe.visual_tokens=object_track", "aloe.pair_head=true"])
    assert not FeatureSource.parse(f"ODDN={qa_slots}").configure(cfg).data.drop_dynamics
    assert FeatureSource.parse(f"ODDN -dyn={qa_slots}:static").configure(cfg).data.drop_dynamics
    blind = FeatureSource("blind", None, False).configure(cfg).aloe
    assert blind.blind and not (blind.pair_head or blind.select_head or blind.collision_head)
    assert blind.mention_weight == 0 and cfg.aloe.pair_head and not cfg.aloe.blind  # the loaded config is untouched
    assert FeatureSource.parse(f"ODDN -dyn={qa_slots}:static").dim() == 16


def test_parallel_ablation_trains_the_same_runs(qa_root, qa_slots, tmp_path):
    """jobs=2 (worker processes) gives the runs, rows and order that jobs=1 gives."""
    from reasoning.ablate import FeatureSource, run_ablation

    sources = [FeatureSource.parse(f"ODDN={qa_slots}"), FeatureSource("blind", None, False)]
    args = (REPO / "configs/qa/aloe_tiny.yaml", qa_root)
    over = [*SMALL, "train.steps=3", "aloe.dropout=0.0"]
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # the workers' threads: same arithmetic
    try:
        one = run_ablation(*args, tmp_path / "one", sources, [0], over, progress=False, jobs=1).table
    finally:
        torch.set_num_threads(threads)
    two = run_ablation(*args, tmp_path / "two", sources, [0], over, progress=False, jobs=2).table
    assert one.feature.tolist() == two.feature.tolist() == ["ODDN", "blind"]
    for src in ("ODDN", "blind"):
        a, *_ = load_qa_run(tmp_path / "one" / src / "seed_0")
        b, *_ = load_qa_run(tmp_path / "two" / src / "seed_0")
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            torch.testing.assert_close(x, y, atol=0, rtol=0, msg=name)
    runs = [pd.read_csv(tmp_path / d / "runs.csv") for d in ("one", "two")]
    assert runs[0][["feature", "seed", "dim"]].equals(runs[1][["feature", "seed", "dim"]])


def test_questions_of_videos_without_slots_are_counted_skips(qa_root, qa_slots):
    from qa_data.slots.slot_cache import SlotFrames, SlotSampling
    from reasoning.qa_dataset import QuestionSet

    scenes = load_questions(qa_root / "questions" / "train.json")
    slots = SlotFrames(qa_slots / "train.h5", SlotSampling(num_frames=4), videos=[s.scene_index for s in scenes[:2]])
    qs = QuestionSet(scenes, QuestionTokenizer(TokenizerConfig()), slots, source="train.json")
    assert len(qs) == sum(len(s.questions) for s in scenes[:2])
    assert len(qs.skipped) == len(scenes) - 2 and "its video has no slots" in qs.skipped.skipped[0][1]
    item = qs[0]
    assert item["slots"].shape == (4, 7, 20) and item["question"].shape == (20,)


def test_ablate_command_line(qa_root, qa_slots, tmp_path, capsys):
    from reasoning.cli import ablate_main

    ablate_main(["--config", str(REPO / "configs/qa/aloe_tiny.yaml"), "--data", str(qa_root), "--out", str(tmp_path),
                 "--source", f"ODDN -dyn={qa_slots}:static", "--seeds", "3,4", *SMALL, "train.steps=1"])
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert runs.feature.tolist() == ["ODDN -dyn", "ODDN -dyn", "blind", "blind"] and runs.seed.tolist() == [3, 4, 3, 4]
    assert "ODDN -dyn" in capsys.readouterr().out


def test_type_repeat_puts_each_question_of_a_type_that_many_times_into_an_epoch():
    from reasoning.config import TypeRepeat
    from reasoning.train import QuestionBatches, epoch_pool

    types = [0, 2, 1, 3, 0, 2]  # descriptive, predictive, explanatory, counterfactual, ...
    pool = epoch_pool(types, TypeRepeat(predictive=3, counterfactual=2))
    assert sorted(pool) == [0, 1, 1, 1, 2, 3, 3, 4, 5, 5, 5]
    # One epoch of batches holds every pool entry once: the repeats are seen, and nothing is dropped.
    seen = [i for batch in QuestionBatches(pool, 11, 0, 0, 1, 0, 1) for i in batch]
    assert sorted(seen) == sorted(pool)
    # Without repeats the batches are those of a plain permutation of the items (the old sampler's).
    plain = list(QuestionBatches(epoch_pool(types, TypeRepeat()), 2, 5, 0, 3, 0, 1))
    order = torch.randperm(6, generator=torch.Generator().manual_seed(5 * 100003)).tolist()
    assert plain == [order[0:2], order[2:4], order[4:6]]
    with pytest.raises(ValueError, match="predictive"):
        TypeRepeat(predictive=0)


def test_one_cache_read_two_ways_is_two_ablation_rows(tmp_path):
    """Rows on the same cache that train differently (e.g. `data.future_shift=0` against the rollout window) are two
    rows; the same cache trained the same way twice is refused (it would count one run as two seeds)."""
    from reasoning.ablate import FeatureSource, check_distinct, set_presets

    preset = REPO / "configs" / "qa" / "aloe_cpu_grounded.yaml"
    sources = [FeatureSource.parse(f"ODDN={tmp_path}"), FeatureSource.parse(f"ODDN + rollout={tmp_path}")]
    with pytest.raises(ConfigError, match="'ODDN' and 'ODDN \\+ rollout' are the same features trained the same way"):
        check_distinct(sources, [0, 1])
    set_presets(sources, [f"ODDN={preset} data.future_shift=0"])
    check_distinct(sources, [0, 1])


def test_capacity_study_runs_fill_their_minutes_at_the_calibrated_rate(tmp_path, monkeypatch):
    """A study run with `minutes: M` gets the steps that fill M minutes at its calibration run's questions/s,
    and a rerun keeps them rather than calibrating again."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import qa_study

    calls = []

    def fake_train(cmd, log):  # the calibration: its config and the line train_qa.py prints
        calls.append(cmd)
        out = Path(cmd[cmd.index("--out") + 1])
        out.mkdir(parents=True)
        (out / "config.yaml").write_text("train: {batch_size: 16}\n")
        log.write_text("trained QA to step 300 in 10 s (480.0 questions/s)\n")
        return 10.0

    monkeypatch.setattr(qa_study, "train", fake_train)
    cmd = qa_study.run_command("configs/qa/aloe_cpu_grounded.yaml", tmp_path / "d", tmp_path / "s",
                               tmp_path / "runs" / "big", ["aloe.layers=12"])
    (tmp_path / "runs").mkdir()
    entry = {"name": "big", "minutes": 2, "evals": 4}
    got = qa_study.budget_steps(entry, cmd, tmp_path / "runs")
    assert got == ["train.steps=3600", "train.eval_every=900", "train.checkpoint_every=900"]  # 2*60*480/16
    calib = calls[0]
    assert calib[calib.index("--out") + 1] == str(tmp_path / "runs" / "big.calibration")
    assert "aloe.layers=12" in calib and "train.steps=300" in calib
    assert qa_study.budget_steps(entry, cmd, tmp_path / "runs") == got and len(calls) == 1


def test_question_templates_group_questions_by_their_words_without_attributes():
    """benchmarks/bench_question_templates.py: colour, material and shape words (plurals too) become C, M and S,
    other words stay; the table counts each template's questions and wrong answers within its type."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_question_templates import question_template, template_table

    assert question_template("How many red rubber cubes enter the scene?") == "How many C M S enter the scene?"
    assert question_template("Are there any gray cylinders that exit?") == "Are there any C S that exit?"
    assert question_template("What color is the sphere that is metallic?") == "What color is the S that is metallic?"
    texts = {(0, 0): "How many collisions happen?", (1, 0): "How many collisions happen?",
             (1, 1): "What shape is the red object?", (2, 0): "What shape is the blue object?",
             (2, 1): "Which of the following is responsible for the cyan object's exit?"}
    per_question = pd.DataFrame({"scene_index": [0, 1, 1, 2, 2], "question_id": [0, 0, 1, 0, 1],
                                 "question_type": ["descriptive"] * 4 + ["explanatory"],
                                 "correct": [False, False, True, False, True]})
    t = template_table(per_question, texts).set_index("template")
    assert t.loc["How many collisions happen?", ["questions", "wrong"]].tolist() == [2, 2]
    assert t.loc["What shape is the C object?", "per_question"] == 50.0
    assert t.loc["How many collisions happen?", "share_of_type_wrong"] == pytest.approx(200 / 3)
    assert t.loc["Which of the following is responsible for the C object's exit?", "share_of_type_wrong"] == 0.0
    assert t.index[0] == "How many collisions happen?"  # the most wrong questions first


def test_collision_reference_scores_match_scikit_learn_and_a_brute_force_threshold():
    """benchmarks/bench_collision_reference.py: the separation is scikit-learn's ROC AUC of "closer means collided"
    (ties half); the threshold labels as many pairs right as the best of every cut; a video counts when the rule
    finds exactly its number of collisions."""
    from sklearn.metrics import roc_auc_score

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_collision_reference import best_threshold, rule_scores, separation_auc

    rng = np.random.default_rng(0)
    collided = rng.random(300) < 0.3
    distance = np.round(np.where(collided, rng.normal(0.5, 0.2, 300), rng.normal(1.0, 0.4, 300)), 1)  # with ties
    assert separation_auc(distance, collided) == pytest.approx(roc_auc_score(collided, -distance))
    pairs = pd.DataFrame({"video": np.arange(300) // 3, "min_distance": distance, "collided": collided,
                          "collisions": 0})
    threshold = best_threshold(pairs)
    best = max(((distance < t) == collided).mean() for t in np.concatenate([np.unique(distance) + 1e-9, [-1.0]]))
    assert ((distance < threshold) == collided).mean() == pytest.approx(best)
    video = pd.DataFrame({"video": [0, 0, 0, 1, 1], "min_distance": [0.2, 0.3, 2.0, 0.2, 2.0],
                          "collided": [True, True, False, False, False], "collisions": [2, 2, 2, 0, 0]})
    scores = rule_scores(video, 0.5)
    assert scores == {"pair accuracy": pytest.approx(0.8), "videos counted exactly": pytest.approx(0.5)}
