"""QA training: ALOE on cached slots and questions, with accelerate (any number of processes,
mixed precision), resumable from the run directory's checkpoints, logged to TensorBoard.

Loss: cross-entropy over the 22 answer classes for descriptive passes + binary cross-entropy per
choice for multiple-choice passes (+ the weighted masked-slot loss when on). Adam, linear warm-up
then cosine decay to lr * min_lr_ratio (transformers' scheduler), stepped every optimizer step.
"""
from __future__ import annotations

import json
import logging
import math
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm
from transformers import get_cosine_with_min_lr_schedule_with_warmup

from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.questions import QUESTION_TYPES
from qa_data.config import ConfigError, config_from_dict, config_to_dict, flat_hparams, save_config
from qa_data.errors import DataError
from qa_data.reports.qa_report import load_split_with_answers
from qa_data.runtime.accelerator import make_accelerator, random_streams_kept
from qa_data.runtime.checkpoints import (
    list_checkpoints,
    load_model_file,
    resume,
    save_checkpoint,
    save_final,
)
from qa_data.runtime.guards import check_finite
from qa_data.runtime.precision import run_precision, saved_precision
from qa_data.runtime.run_lock import holds_lock
from qa_data.runtime.run_log import append_row, last_value, trim_log
from qa_data.slots.slot_cache import (
    SlotFrames,
    SlotLayout,
    SlotSampling,
    check_cache_belongs,
    producer_key,
    read_attrs,
    split_file,
)
from reasoning.aloe import Aloe
from reasoning.approach import motion_columns, pair_closest_approach
from reasoning.config import QAConfig, QATrainConfig
from reasoning.curves import plot_learning_curves
from reasoning.evaluate import predict, summary_row, write_eval
from reasoning.mention_oracle import (
    choice_mentions,
    question_collision_pairs,
    question_selections,
    video_collision_frames,
)
from reasoning.qa_dataset import Passes, QuestionSet, collate
from reasoning.tokenizer import QuestionTokenizer

logger = logging.getLogger(__name__)


@dataclass
class QATrainResult:
    out: Path
    step: int
    checkpoint: Path
    accuracy: pd.DataFrame | None  # validation accuracy table at the end
    summary: dict  # its Table-2 row
    seconds: float
    questions_per_second: float
    eval_dir: Path | None = None  # the final evaluation's folder (accuracy.md/.csv, predictions.json, ...)
    learning_curves: Path | None = None  # learning_curves.png (main process)


class QuestionBatches(Sampler):
    """Index batches for steps [start, steps) over an epoch pool of item indices (each item once, or
    repeated per its type: `epoch_pool`): each epoch a permutation of the pool seeded by (seed, epoch);
    every process takes its share of each global batch, so a resumed run sees the same batches."""

    def __init__(self, pool: int | list[int], batch_size: int, seed: int, start: int, steps: int, rank: int,
                 world: int):
        if batch_size < world:
            raise ConfigError(f"train.batch_size={batch_size} is smaller than the {world} processes")
        self.pool = torch.arange(pool) if isinstance(pool, int) else torch.as_tensor(pool, dtype=torch.long)
        self.n = len(self.pool)
        self.batch, self.seed, self.start, self.steps, self.rank, self.world = (
            min(batch_size, self.n), seed, start, steps, rank, world)
        self.per_epoch = self.n // self.batch

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self):
        for step in range(self.start, self.steps):
            epoch, k = divmod(step, self.per_epoch)
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100003 + epoch))
            yield self.pool[order[k * self.batch:(k + 1) * self.batch][self.rank::self.world]].tolist()


def epoch_pool(types: list[int], repeat) -> list[int]:
    """Item indices of one training epoch: item i (of type id types[i]) `repeat.<type>` times."""
    times = [getattr(repeat, t) for t in QUESTION_TYPES]
    return [i for i, t in enumerate(types) for _ in range(times[t])]


def type_losses(out, passes: Passes) -> torch.Tensor:
    """Per question type [len(QUESTION_TYPES), 2]: (summed loss, passes with a label) of the batch: the CE of
    descriptive passes, the BCE of each choice of the multiple-choice types."""
    desc = passes.answer >= 0
    mc = passes.is_choice & (passes.label >= 0)
    per_pass = torch.zeros(len(passes.qtype), device=passes.text.device)  # [N]
    if desc.any():
        per_pass[desc] = F.cross_entropy(out.answer_logits[desc].float(), passes.answer[desc], reduction="none")
    if mc.any():
        per_pass[mc] = F.binary_cross_entropy_with_logits(out.choice_logits[mc].float(), passes.label[mc].float(),
                                                          reduction="none")
    known = (desc | mc).float()
    sums = torch.zeros(len(QUESTION_TYPES), 2, device=per_pass.device)
    sums[:, 0].index_add_(0, passes.qtype, per_pass * known)
    sums[:, 1].index_add_(0, passes.qtype, known)
    return sums


def one_correct_softmax(out, passes: Passes) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed loss, questions) of a softmax cross-entropy over the choices of each question with exactly one
    correct choice among two or more labelled ones (every predictive question): the choices compete, so what
    they share (the question, the wording of a collision) cancels and only what tells them apart is learned."""
    sel = passes.is_choice & (passes.label >= 0)
    z = out.choice_logits.float()[sel]  # [M]
    q, y = passes.question[sel], passes.label[sel].float()  # [M]
    nq = int(passes.question.max().item()) + 1 if len(passes.question) else 0
    ones = torch.zeros(nq, device=z.device).index_add_(0, q, y)  # [Q] correct choices
    known = torch.zeros(nq, device=z.device).index_add_(0, q, torch.ones_like(y))  # [Q] labelled choices
    eligible = (ones == 1) & (known >= 2)
    top = torch.full((nq,), -torch.inf, device=z.device).scatter_reduce(0, q, z.detach(), "amax")  # [Q]
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    lse = torch.zeros(nq, device=z.device).index_add_(0, q, (z - top[q]).exp()).clamp_min(1e-30).log() + top
    picked = torch.zeros(nq, device=z.device).index_add_(0, q, z * y)  # [Q] the correct choice's logit
    return torch.where(eligible, lse - picked, torch.zeros_like(lse)).sum(), eligible.sum().float()


def qa_loss(out, passes: Passes, mask_weight: float, softmax_weight: float = 0.0) -> tuple[torch.Tensor, dict]:
    """Mean CE over descriptive passes + mean BCE over choices with known labels (+ masked-slot MSE, + the
    one-correct softmax over choices, `one_correct_softmax`). `parts`: the logged scalars (train/ce, train/bce,
    train/mask, train/softmax) and `by_type`, the per-type sums they are made of (`type_losses`), computed once
    for both."""
    by_type = type_losses(out, passes)  # [types, 2]; descriptive is type 0, the multiple-choice types follow
    # Without passes of a kind its loss is 0 but still reaches its head, so that every process of a
    # distributed run hands DDP gradients for the same parameters.
    ce = (by_type[0, 0] / by_type[0, 1] if by_type[0, 1] > 0 else 0.0 * out.answer_logits.float().sum())
    mc_count = by_type[1:, 1].sum()
    bce = (by_type[1:, 0].sum() / mc_count if mc_count > 0 else 0.0 * out.choice_logits.float().sum())
    loss = ce + bce + mask_weight * out.mask_loss.float()
    parts = {"train/ce": ce.detach(), "train/bce": bce.detach(), "train/mask": out.mask_loss.detach().float()}
    if softmax_weight > 0:
        total, count = one_correct_softmax(out, passes)
        soft = total / count if count > 0 else 0.0 * out.choice_logits.float().sum()
        loss = loss + softmax_weight * soft
        parts["train/softmax"] = soft.detach()
    return loss, {**parts, "by_type": by_type}


def qa_optimizer(model: torch.nn.Module, tc: QATrainConfig) -> torch.optim.Optimizer:
    """Adam with decoupled weight decay (AdamW; with `weight_decay` 0 the same steps as Adam, SlotFormer's)."""
    return torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)


def type_gradient_norms(model: torch.nn.Module, losses: torch.Tensor) -> dict[str, float]:
    """Global gradient norm of each type's mean loss over the model's parameters (types without passes are left
    out). Extra backward passes through the graph; no gradient is accumulated and no state changes."""
    params = [p for p in model.parameters() if p.requires_grad]
    out = {}
    for t, (total, count) in zip(QUESTION_TYPES, losses):
        if float(count.detach()) == 0 or not total.requires_grad:
            continue
        grads = torch.autograd.grad(total / count, params, retain_graph=True, allow_unused=True)
        out[t] = float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))
    return out


def question_correct(out, passes: Passes) -> torch.Tensor:
    """Per-type counts [len(QUESTION_TYPES), 2] of (questions right, questions with answers) in a
    batch: descriptive exact match, multiple choice right when every choice is (per question)."""
    nq = int(passes.question.max().item()) + 1 if len(passes.question) else 0
    counts = torch.zeros(len(QUESTION_TYPES), 2, device=passes.text.device)
    if not nq:
        return counts
    desc_right = out.answer_logits[:, 1:].argmax(-1) + 1 == passes.answer
    choice_right = (out.choice_logits >= 0).long() == passes.label
    right = torch.where(passes.is_choice, choice_right, desc_right)  # [N]
    known = torch.where(passes.is_choice, passes.label >= 0, passes.answer >= 0)  # [N]
    wrong = torch.zeros(nq, device=right.device).index_add_(0, passes.question, (known & ~right).float())
    has = torch.zeros(nq, device=right.device).index_add_(0, passes.question, known.float()) > 0
    qtype = torch.zeros(nq, dtype=torch.long, device=right.device).scatter_(0, passes.question, passes.qtype)
    counts[:, 0].index_add_(0, qtype, ((wrong == 0) & has).float())
    counts[:, 1].index_add_(0, qtype, has.float())
    return counts


def input_stats(slots: SlotFrames, max_videos: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and std [D'] over the present slots of up to `max_videos` videos of a cache."""
    feats = []
    for v in slots.videos[:max_videos]:
        x = np.asarray(slots.read(v), dtype=np.float64)  # [T, K, D']
        feats.append(x[slots.read(v, what="presence") > 0])
    x = np.concatenate(feats) if feats else np.zeros((1, slots.dim))
    return torch.tensor(x.mean(0), dtype=torch.float32), torch.tensor(x.std(0), dtype=torch.float32)


def build_model(cfg: QAConfig, attrs: dict, tokenizer: QuestionTokenizer) -> Aloe:
    layout = SlotLayout.of(attrs)
    return Aloe(cfg.aloe, layout.served_dim(cfg.data.drop_dynamics), layout.num_slots, cfg.data.num_frames,
                tokenizer.vocab_size, tokenizer.num_answers, cfg.tokenizer.question_len + cfg.tokenizer.choice_len)


def question_set(cfg: QAConfig, data: Path, slots_dir: Path, split: str, tokenizer: QuestionTokenizer,
                 training: bool) -> QuestionSet:
    scenes = load_split_with_answers(ClevrerLayout(data), split)
    if training and cfg.data.train_videos:
        scenes = sorted(scenes, key=lambda s: s.scene_index)[:cfg.data.train_videos]
    slots = None
    if not cfg.aloe.blind:
        sampling = SlotSampling(cfg.data.num_frames, random_start=training, start=cfg.data.eval_start,
                                drop_dynamics=cfg.data.drop_dynamics, future_shift=cfg.data.future_shift)
        slots = SlotFrames(split_file(slots_dir, split), sampling)
        if cfg.aloe.visual_tokens == "object_track" and slots.attrs.get("slot_tracks") == "none":
            raise ConfigError(f"{split_file(slots_dir, split)}: aloe.visual_tokens=object_track reads slot k as one "
                              f"object through the video, but this cache's {slots.attrs['model_label']} slots change "
                              "object from frame to frame (slot_tracks=none): extract with --track, or use "
                              "aloe.visual_tokens=frame_slot")
        if cfg.data.preload:
            slots.preload()
    mentions = selections = collision_pairs = collision_frames = None
    # the grounding loss trains on the training split only; the oracle places the named objects at evaluation too
    if cfg.data.mention_oracle or (cfg.aloe.mention_weight > 0 and training):
        slot_maps = grounded_slots(slots, split_file(slots_dir, split))
        mentions = choice_mentions(ClevrerLayout(data), split, scenes, slot_maps)
        if cfg.aloe.select_head and cfg.aloe.mention_weight > 0:
            selections = question_selections(ClevrerLayout(data), split, scenes, slot_maps)
        if cfg.aloe.collision_head and cfg.aloe.mention_weight > 0:
            collision_pairs = question_collision_pairs(ClevrerLayout(data), split, scenes, slot_maps)
        if cfg.aloe.relation_time_target != "none" and training:
            collision_frames = video_collision_frames(ClevrerLayout(data), split, scenes, slot_maps)
    return QuestionSet(scenes, tokenizer, slots, source=str(ClevrerLayout(data).questions_path(split)),
                       mentions=mentions, mentioned_first=cfg.data.mention_oracle, selections=selections,
                       collision_pairs=collision_pairs, collision_frames=collision_frames)


def grounded_slots(slots: SlotFrames | None, path: Path) -> dict[int, dict[int, int]] | None:
    """Which slot holds which annotated object, for the mention targets: None for ground-truth states (slot k is
    the annotation's k-th object), per video {object id: slot} for a perception cache extracted with `--ground`."""
    if slots is not None and slots.attrs["producer"] == "annotations":
        return None
    if slots is None or "grounding" not in slots.attrs:
        raise ConfigError(f"{path}: data.mention_oracle and aloe.mention_weight need to know which slot holds which "
                          "annotated object: ground-truth states, or slots extracted with --track --ground")
    return {v: {int(o): k for k, o in enumerate(objects) if o >= 0} for v, objects in slots.slot_objects().items()}


def load_qa_run(run: Path, device="cpu") -> tuple[Aloe, QAConfig, QuestionTokenizer, dict, int]:
    """(model, config, tokenizer, run info (with the producer of its slots, `slot_attrs`), step) of a
    QA run's newest checkpoint."""
    found = list_checkpoints(Path(run) / "checkpoints")
    if not found:
        raise DataError(Path(run) / "checkpoints", "no complete checkpoint found")
    payload = load_model_file(found[-1], stage="qa")
    cfg = config_from_dict(QAConfig, payload["config"], [], source=str(found[-1] / "model.pt"))
    tokenizer = QuestionTokenizer.from_state(payload["tokenizer"])
    model = build_model(cfg, payload["slot_attrs"], tokenizer).to(device)
    model.load_state_dict(payload["model"])
    model.eval()
    return model, cfg, tokenizer, {**payload["run_info"], "slot_attrs": payload["slot_attrs"]}, payload["step"]


def _slot_attrs(cfg: QAConfig, slots_dir: Path | None, data: Path) -> dict:
    """The cache facts the model's shape depends on, and its producer (train and validation must agree, and each
    hold its split of `data`)."""
    if cfg.aloe.blind:
        return {"producer": "none", "producer_id": "", "model_label": "blind", "d_static": 0, "d_dyn": 0,
                "num_slots": 1}
    attrs = {}
    for split in ("train", "validation"):
        path = split_file(slots_dir, split)
        found = read_attrs(path)
        check_cache_belongs(path, found, data, split)  # before anything is written
        key = producer_key(found)
        if attrs and attrs != key:
            diff = [k for k in key if key[k] != attrs[k]]
            raise ConfigError(f"{slots_dir}: the train and validation caches come from different producers or "
                              f"feature layouts (they differ in {diff})")
        attrs = key
    return attrs


def _restore_schedule(scheduler, payload: dict | None, step: int) -> None:
    """The learning-rate schedule at a resumed step: its state saved in model.pt (plain numbers, loaded
    weights-only), or for checkpoints without it, the schedule stepped forward from the start."""
    if payload is not None and isinstance(payload.get("scheduler"), dict):
        scheduler.load_state_dict(payload["scheduler"])
        return
    with warnings.catch_warnings():  # stepped without optimizer steps on purpose
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(step):
            scheduler.step()


@holds_lock("out")
def train_qa(cfg: QAConfig, data: Path, slots_dir: Path | None, out: Path, progress: bool = True) -> QATrainResult:
    """Trains (or resumes) the QA run in `out`, holding its lock (qa_data.runtime.run_lock) throughout."""
    out, data = Path(out), Path(data)
    # A batch may hold no descriptive (or no multiple-choice) question, leaving a head without a
    # gradient, and the masked-slot parameters are unused when that loss is off: DDP must allow it.
    cfg = replace(cfg, train=replace(cfg.train, mixed_precision=run_precision(cfg.train.mixed_precision,
                                                                              saved_precision(out / "config.yaml"))))
    accelerator = make_accelerator(mixed_precision=cfg.train.mixed_precision, log_with="tensorboard",
                                   project_dir=str(out),
                                   kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    tc = cfg.train
    main = accelerator.is_main_process
    if main:
        logger.info("mixed precision: %s (CPU %s)", tc.mixed_precision, torch.backends.cpu.get_cpu_capability())
    if cfg.aloe.blind:
        slots_dir = None
    elif slots_dir is None:
        raise ConfigError("a visual QA model needs --slots (or aloe.blind=true)")
    attrs = _slot_attrs(cfg, slots_dir, data)
    run_info = {"data": str(data.resolve()), "slots": str(Path(slots_dir).resolve()) if slots_dir else None,
                "features": attrs["model_label"] + ("" if cfg.aloe.blind or not cfg.data.drop_dynamics else " -dyn")}
    ckpt_root = out / "checkpoints"
    done = list_checkpoints(ckpt_root)
    saved_run = load_model_file(done[-1], stage="qa") if done else None  # config, tokenizer and schedule to resume
    if saved_run is not None:  # before anything is written: the tokenizer's settings are checked by training it
        tokenizer = QuestionTokenizer.from_state(saved_run["tokenizer"])
    else:
        train_scenes = load_split_with_answers(ClevrerLayout(data), "train")
        tokenizer = QuestionTokenizer.train(cfg.tokenizer, [q.question for s in train_scenes for q in s.questions]
                                            + [c.choice for s in train_scenes for q in s.questions for c in q.choices])
    if main:
        out.mkdir(parents=True, exist_ok=True)
        if saved_run is not None:
            # the saved config read back, so that fields added since it was saved take their defaults
            saved = config_to_dict(config_from_dict(QAConfig, saved_run["config"], [],
                                                    source=str(done[-1] / "model.pt")))
            if saved != config_to_dict(cfg) or saved_run["slot_attrs"] != attrs:
                raise ConfigError(f"{out}: holds a run with another config or slot cache; use a new --out")
        save_config(cfg, out / "config.yaml")
        (out / "run_info.json").write_text(json.dumps(run_info, indent=1))
    accelerator.wait_for_everyone()

    train_set = question_set(cfg, data, slots_dir, "train", tokenizer, training=True)
    val_set = question_set(cfg, data, slots_dir, "validation", tokenizer, training=False)
    val_scenes = load_split_with_answers(ClevrerLayout(data), "validation")
    if not len(train_set):
        raise ConfigError(f"{data}: no training questions with slots")

    motion = (motion_columns(train_set.slots.attrs, train_set.slots.path) if cfg.aloe.approach_weight > 0
              else None)  # x, y, vx, vy columns of the state cache (the closest-approach targets)
    set_seed(tc.seed)
    model = build_model(cfg, attrs, tokenizer)
    if not cfg.aloe.blind and cfg.aloe.input_norm == "standardize":
        model.set_input_stats(*input_stats(train_set.slots))  # a resumed run restores the saved ones
    optimizer = qa_optimizer(model, tc)
    scheduler = get_cosine_with_min_lr_schedule_with_warmup(optimizer, int(tc.warmup * tc.steps), tc.steps,
                                                            min_lr_rate=tc.min_lr_ratio)
    model, optimizer = accelerator.prepare(model, optimizer)
    # The schedule's state travels in model.pt, not through accelerate's custom-object files, which
    # accelerate unpickles with weights_only=False (a shared checkpoint could run code on resume).
    raw = accelerator.unwrap_model(model)
    step = resume(accelerator, done, tc.steps)
    if saved_run is not None:
        _restore_schedule(scheduler, saved_run, step)
    if main:  # what a killed run logged after its last checkpoint is redone, and logged, again
        trim_log(out / "train_log.jsonl", step)
    # training seconds so far (evaluations excluded), carried over a resume: learning curves against minutes
    clock = {"before": last_value(out / "train_log.jsonl", "train_seconds") if main else 0.0,
             "start": time.perf_counter(), "eval": 0.0}

    def train_seconds() -> float:
        return round(clock["before"] + time.perf_counter() - clock["start"] - clock["eval"], 2)
    pool = epoch_pool([it["type"] for it in train_set.items], cfg.data.repeat)
    sampler = QuestionBatches(pool, tc.batch_size, tc.seed, step, tc.steps, accelerator.process_index,
                              accelerator.num_processes)
    loader = DataLoader(train_set, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.data.num_workers,
                        generator=torch.Generator().manual_seed(tc.seed))
    accelerator.init_trackers("tensorboard", config=flat_hparams(config_to_dict(cfg)))
    extra = {"tokenizer": tokenizer.state(), "slot_attrs": attrs, "run_info": run_info}
    log_path = out / "train_log.jsonl"

    def eval_folder(at_step: int) -> Path:
        return out / "eval" / f"validation_step_{at_step}"

    def evaluate_at(at_step: int):
        began, trained_for = time.perf_counter(), train_seconds()
        with random_streams_kept(accelerator):  # a resumed run continues exactly
            preds = predict(raw, val_set, accelerator, tc.eval_batch_size)
        table = None
        if main:
            table = write_eval(eval_folder(at_step), val_scenes, preds,
                               f"{run_info['features']} QA on validation, step {at_step}")
        table = [table]
        if accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list
            broadcast_object_list(table)
        if table[0] is not None:
            scalars = {f"eval/{k}": v for k, v in summary_row(table[0]).items()}
            accelerator.log(scalars, step=at_step)
            if main:
                append_row(log_path, {"step": at_step, "questions_seen": at_step * sampler.batch,
                                      "train_seconds": trained_for, **scalars})
        model.train()
        clock["eval"] += time.perf_counter() - began
        return table[0]

    bar = tqdm(total=tc.steps, initial=step, desc=f"train QA ({run_info['features']})",
               disable=not (progress and accelerator.is_local_main_process))
    last_ckpt = done[-1] if done else None
    seen = torch.zeros(len(QUESTION_TYPES), 2, device=accelerator.device)  # (right, asked) per type since the last log
    type_loss = torch.zeros(len(QUESTION_TYPES), 2, device=accelerator.device)  # (loss sum, passes) likewise
    questions, t0 = 0, time.perf_counter()
    model.train()
    for passes in loader:
        passes = passes.to(accelerator.device)
        approach = (None if motion is None else
                    pair_closest_approach(passes.slots, passes.presence, raw.pair_index, motion))  # [N, P]
        with accelerator.autocast():
            mention = None
            if cfg.aloe.mention_weight > 0:  # a batch without choices still reaches the head (every step alike)
                mention = (passes.mention if passes.mention is not None else
                           torch.full((len(passes.text), raw.num_slots), float("nan"), device=passes.text.device))
            collision = None
            if cfg.aloe.collision_head and cfg.aloe.mention_weight > 0:  # likewise every step
                collision = (passes.collision if passes.collision is not None else
                             torch.full((len(passes.text), raw.pair_index.shape[1]), float("nan"),
                                        device=passes.text.device))
            when = None
            if cfg.aloe.relation_time_target != "none":  # likewise every step
                when = (passes.when if passes.when is not None else
                        torch.full((len(passes.text), raw.pair_index.shape[1]), -1, device=passes.text.device))
            output = model(passes.slots, passes.text, passes.segment, passes.presence, approach, mention, collision,
                           when)
            loss, parts = qa_loss(output, passes, cfg.aloe.mask_slot_weight, cfg.train.choice_softmax_weight)
            if approach is not None:
                loss = loss + cfg.aloe.approach_weight * output.approach_loss
                parts["train/approach"] = output.approach_loss.detach().float()
            if mention is not None:
                loss = loss + cfg.aloe.mention_weight * output.mention_loss
                parts["train/mention"] = output.mention_loss.detach().float()
            if collision is not None:
                loss = loss + cfg.aloe.mention_weight * output.collision_loss
                parts["train/collision"] = output.collision_loss.detach().float()
            if when is not None:
                loss = loss + cfg.aloe.mention_weight * output.when_loss
                parts["train/when"] = output.when_loss.detach().float()
            by_type = parts.pop("by_type")  # [types, 2]
        check_finite(accelerator, loss, "QA loss", step + 1, last_ckpt)
        seen += question_correct(output, passes)
        type_loss += by_type.detach()
        # where the gradient goes: each type's share, at logging steps (one process: DDP expects one backward)
        grad_norms = (type_gradient_norms(raw, by_type)
                      if accelerator.num_processes == 1 and ((step + 1) % tc.log_every == 0 or step + 1 == tc.steps)
                      else {})
        accelerator.backward(loss)
        if tc.grad_clip > 0:
            accelerator.clip_grad_norm_(model.parameters(), tc.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        questions += int(passes.question.max().item()) + 1 if len(passes.question) else 0
        bar.update(1)
        if step % tc.log_every == 0 or step == tc.steps:
            scalars = accelerator.reduce(torch.stack([loss.detach().float()] + [v.float() for v in parts.values()]),
                                         reduction="mean")
            logs = dict(zip(["train/loss", *parts], scalars.tolist()))
            logs["train/lr"] = scheduler.get_last_lr()[0]
            counts = accelerator.reduce(seen, reduction="sum")
            for t, (right, asked) in zip(QUESTION_TYPES, counts.tolist()):
                if asked:
                    logs[f"train/acc_{t}"] = 100.0 * right / asked
            for t, (total, count) in zip(QUESTION_TYPES, accelerator.reduce(type_loss, reduction="sum").tolist()):
                if count:
                    logs[f"train/loss_{t}"] = total / count  # mean per labelled pass since the last log
            logs.update({f"train/grad_norm_{t}": v for t, v in grad_norms.items()})
            seen.zero_()
            type_loss.zero_()
            accelerator.log(logs, step=step)
            bar.set_postfix(loss=f"{logs['train/loss']:.3f}")
            if main:
                append_row(log_path, {"step": step, "questions_seen": step * sampler.batch,
                                      "train_seconds": train_seconds(), **logs})
        if step % tc.checkpoint_every == 0 or step == tc.steps:
            last_ckpt = save_checkpoint(accelerator, model, cfg, ckpt_root, step, tc.keep_checkpoints,
                                        {**extra, "scheduler": scheduler.state_dict()})
        if tc.eval_every and step % tc.eval_every == 0 and step != tc.steps:
            evaluate_at(step)
    bar.close()
    seconds = time.perf_counter() - t0
    last_ckpt = save_final(accelerator, model, cfg, ckpt_root, step, tc.keep_checkpoints, last_ckpt,
                           {**extra, "scheduler": scheduler.state_dict()})
    table = evaluate_at(step)
    if main:
        plot_learning_curves(log_path, out / "learning_curves.png", f"QA on {run_info['features']}")
    accelerator.end_training()
    total_questions = questions * accelerator.num_processes
    return QATrainResult(out, step, last_ckpt, table, summary_row(table) if table is not None else {}, seconds,
                         total_questions / seconds if questions and seconds > 0 else math.nan,
                         eval_folder(step), out / "learning_curves.png" if main else None)

