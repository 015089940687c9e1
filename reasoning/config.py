"""Typed configs of the QA stage: the ALOE model, the tokenizer, the slot frames it sees, training.

One `QAConfig` describes a run and is loaded from `configs/qa/*.yaml`; the resolved config is
saved in the run directory and in every checkpoint (with the tokenizer's state).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from qa_data.config import require_min
from reasoning.tokenizer import TokenizerConfig


def _switch_word(value, on: str) -> str:
    """A text option that used to be a switch: a saved or typed true/false (the config layer hands a YAML
    boolean to a text field as "True") becomes `on` / "none"; any other value is returned unchanged."""
    word = str(value).lower()
    if word in ("true", "false"):
        return on if word == "true" else "none"
    return value


@dataclass
class AloeConfig:
    """ALOE (Ding et al. 2021) as in SlotFormer's Aloe* (docs/sources.md)."""

    d_model: int = 144  # SlotFormer: 18 x 8
    layers: int = 12
    heads: int = 8
    ffn: int = 512
    dropout: float = 0.1
    text_embed: int = 14  # word embedding; + 2 segment flags + 2 modality flags = 18, then Linear -> d_model
    head_hidden: int = 128  # CLS -> 128 -> 22 (descriptive) and CLS -> 128 -> 1 (per choice)
    shuffle_objects: bool = False  # training: permute slot order (the same permutation in every frame)
    mask_slot_weight: float = 0.0  # masked-slot self-supervision (one slot per frame masked, regressed); e.g. 0.01
    blind: bool = False  # no visual tokens at all: the text-only baseline
    # joint: one learnable position per token (SlotFormer); factorised: frame + slot embeddings for
    # visual tokens (the same object slot shares one embedding over frames), positions for text
    positions: str = "joint"
    # none: raw features; standardize: per-feature mean/std of the training cache (present slots),
    # computed once and kept in the model's state
    input_norm: str = "none"
    use_presence: bool = True  # mask slots the cache marks absent (ground-truth states outside the view)
    # frame_slot: one visual token per (frame, slot), as ALOE; object_track: one token per slot, its
    # sampled trajectory (features and presence of every frame) through an MLP. Needs slots that keep
    # their object across frames: ground-truth states, PROVIDE's slots, or IODINE's and ODDN's extracted with
    # --track (a cache whose slot_tracks is `none` is refused).
    visual_tokens: str = "frame_slot"
    # object_track only: one more token per unordered pair of slots, the two objects' attributes and relative
    # motion in one token, so that a choice naming two objects can read their relation from it (issue 30's
    # diagnosis: the closest approach of two objects is not linearly readable from two track tokens). none;
    # track: an MLP of both whole tracks; frames: one MLP applied to the pair at every frame, max-pooled over the
    # frames where both are present (what happens at some frame is found whichever frame it is). Either way the
    # MLP sees the pair in both orders and sums, so the token does not depend on the order.
    relation_tokens: str = "none"
    # relation_tokens=frames only: the pair token also says when its event happened: a learned embedding per frame,
    # averaged with softmax weights that a score of each frame's pair MLP output gives (over the frames where both
    # are seen), added to the max-pooled token. Max-pooling keeps what happened and loses when; questions that order
    # collisions (before / after an event, the first or last to collide) need both (issue 30, ninth session)
    relation_time: bool = False
    # relation_time with aloe.mention_weight: the frame score is also trained, with that weight, to pick the frame
    # of each colliding pair's annotated collision (cross-entropy over the window's frames, training split only,
    # reasoning.mention_oracle.video_collision_frames). none; full: the loss trains the score and the pair MLP under
    # it; score: the score alone (the pair MLP's output is detached on the score's path, so the target does not
    # reshape the pair tokens). Trained by the answer alone the score learns when a pair first appears (docs/qa.md,
    # "When a collision happened")
    relation_time_target: str = "none"
    # ground-truth states with relation tokens: weight of an auxiliary regression of each pair's closest approach
    # (the straight-line rule's quantity, from the window's last frame) from its relation token's output
    # (reasoning/approach.py); 0: none
    approach_weight: float = 0.0
    # object tracks of ground-truth states or of a grounded slot cache (extract_slots.py --ground): weight of an
    # auxiliary grounding loss, a BCE per object token of whether the pass's choice names that object (from the
    # choice's program, reasoning.mention_oracle); training split only; 0: none
    mention_weight: float = 0.0
    # object tracks: the choice head also reads the pair of objects the pass's choice names, found by the mention
    # head (each object token's probability of being named; trained by aloe.mention_weight where the source has
    # object identities, else by the answer loss alone): the mean over slot pairs, weighted by the product of the
    # two probabilities, of an MLP of the two standardised tracks (their absolute difference and their sum, so the
    # same in either order). Poses a choice on its objects' relative motion (issue 30's pair reference)
    pair_head: bool = False
    # object tracks: the descriptive head also reads the objects the question selects (the argument of its program's
    # last operator: the queried object, or the set counted or tested), found by the mention head: the mean of an
    # MLP of each standardised track, weighted by its probability, and the sum of the probabilities (a soft count).
    # With aloe.mention_weight the grounding loss also covers descriptive passes, their target those objects
    select_head: bool = False
    # relation tokens: the descriptive head also reads a soft count of the collisions the question rests on: a logit
    # per relation token (did this pair collide, among the collisions the question counts, tests or orders?), summed
    # as probabilities over the pairs seen. With aloe.mention_weight its targets are the collisions the question's
    # program leaves before its last operator (reasoning.mention_oracle.question_collision_pairs), with that weight
    # (issue 30: counting collisions from object tokens stays near 46 %, off by one)
    collision_head: bool = False

    def __post_init__(self):
        require_min("aloe", self, {"d_model": 1, "layers": 1, "heads": 1, "ffn": 1, "text_embed": 1, "head_hidden": 1,
                                   "dropout": 0, "mask_slot_weight": 0, "approach_weight": 0, "mention_weight": 0})
        if self.d_model % self.heads:
            raise ValueError(f"aloe.heads ({self.heads}) must divide aloe.d_model ({self.d_model})")
        if self.dropout >= 1:
            raise ValueError(f"aloe.dropout is a probability in [0, 1), got {self.dropout}")
        # `aloe.relation_tokens=true` on the command line, or a run saved when these were switches
        self.relation_tokens = _switch_word(self.relation_tokens, on="track")
        self.relation_time_target = _switch_word(self.relation_time_target, on="full")
        if self.relation_tokens not in ("none", "track", "frames"):
            raise ValueError(f"aloe.relation_tokens must be none, track or frames, got {self.relation_tokens!r}")
        if self.visual_tokens not in ("frame_slot", "object_track"):
            raise ValueError(f"aloe.visual_tokens must be frame_slot or object_track, got {self.visual_tokens!r}")
        if self.shuffle_objects and (self.mention_weight > 0 or self.approach_weight > 0):
            raise ValueError("aloe.shuffle_objects permutes the slots inside the model, after the mention and "
                             "closest-approach targets are made from them: use one or the other")
        if self.mention_weight > 0 and self.visual_tokens != "object_track":
            raise ValueError("aloe.mention_weight needs aloe.visual_tokens=object_track (one token per object)")
        if self.approach_weight > 0 and self.relation_tokens == "none":
            raise ValueError("aloe.approach_weight needs aloe.relation_tokens (track or frames)")
        for head in ("pair_head", "select_head"):
            if getattr(self, head) and (self.visual_tokens != "object_track" or self.blind):
                raise ValueError(f"aloe.{head} needs aloe.visual_tokens=object_track (one token per object), not blind")
        if self.collision_head and (self.relation_tokens == "none" or self.blind):
            raise ValueError("aloe.collision_head needs aloe.relation_tokens (track or frames), not blind")
        if self.relation_time and self.relation_tokens != "frames":
            raise ValueError("aloe.relation_time needs aloe.relation_tokens=frames")
        if self.relation_time_target not in ("none", "full", "score"):
            raise ValueError("aloe.relation_time_target must be none, full or score, got "
                             f"{self.relation_time_target!r}")
        if self.relation_time_target != "none" and not (self.relation_time and self.mention_weight > 0):
            raise ValueError("aloe.relation_time_target needs aloe.relation_time and aloe.mention_weight > 0 (its "
                             "weight; the collision frames come from a state or grounded slot cache)")
        if self.relation_tokens != "none" and self.visual_tokens != "object_track":
            raise ValueError("aloe.relation_tokens needs aloe.visual_tokens=object_track")
        if self.visual_tokens == "object_track" and self.mask_slot_weight > 0:
            raise ValueError("the masked-slot loss needs aloe.visual_tokens=frame_slot")
        if self.positions not in ("joint", "factorised"):
            raise ValueError(f"aloe.positions must be joint or factorised, got {self.positions!r}")
        if self.input_norm not in ("none", "standardize"):
            raise ValueError(f"aloe.input_norm must be none or standardize, got {self.input_norm!r}")


@dataclass
class TypeRepeat:
    """How many times each training question of a type enters every epoch (1: once, as in CLEVRER).
    Oversampling the rare multiple-choice types is the study's type-balance lever (docs/qa.md)."""
    descriptive: int = 1
    explanatory: int = 1
    predictive: int = 1
    counterfactual: int = 1

    def __post_init__(self):
        require_min("data.repeat", self, {t: 1 for t in ("descriptive", "explanatory", "predictive",
                                                          "counterfactual")})


@dataclass
class QADataConfig:
    num_frames: int = 25  # ALOE: 25 frames, stride T // 25, random start in training
    eval_start: int = 0  # fixed start (cached-frame units) at evaluation
    drop_dynamics: bool = False  # static dims only (the ablation's "-dyn")
    # predictive questions over a cache with predicted frames (a rollout, the simulator's future): their window
    # is shifted by this many cached frames; -1: by every predicted frame (SlotFormer), 0: no shift
    future_shift: int = -1
    # diagnostic only (reads ground truth): each choice's pass gets the slots of the objects the choice names first
    # (reasoning.mention_oracle), so the model need not bind the text to objects; ground-truth states only
    mention_oracle: bool = False
    num_workers: int = 0
    train_videos: int = 0  # 0: every training video; N: the first N (data-size studies)
    preload: bool = False  # read the whole cache into memory once (small caches: no HDF5 read per question)
    repeat: TypeRepeat = field(default_factory=TypeRepeat)  # per-type oversampling of the training epoch

    def __post_init__(self):
        require_min("data", self, {"num_frames": 1, "eval_start": 0, "num_workers": 0, "train_videos": 0})
        if self.future_shift < -1:
            raise ValueError(f"data.future_shift must be -1 (every predicted frame) or >= 0, got {self.future_shift}")


@dataclass
class QATrainConfig:
    steps: int = 240000
    batch_size: int = 256  # questions per optimizer step, over all processes
    lr: float = 1e-3
    warmup: float = 0.1  # fraction of steps with linear warm-up
    min_lr_ratio: float = 0.01  # cosine decay to lr * min_lr_ratio (SlotFormer: lr / 100)
    weight_decay: float = 0.0  # decoupled (AdamW): each step scales the weights by 1 - lr * weight_decay
    grad_clip: float = 0.0  # 0: none (SlotFormer)
    # weight of a softmax cross-entropy over the choices of questions with exactly one correct choice (every
    # predictive question), added to the per-choice BCE; 0: ALOE's BCE only (reasoning.train.one_correct_softmax)
    choice_softmax_weight: float = 0.0
    mixed_precision: str = "auto"  # auto (bf16 where bf16 is native: GPU, AMX/AVX512-BF16 CPU) | no | bf16 | fp16
    seed: int = 0
    log_every: int = 50
    eval_every: int = 0  # 0: only at the end
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    eval_batch_size: int = 256

    def __post_init__(self):
        if self.mixed_precision in (False, "False", "false"):  # YAML reads a bare `no` as false
            self.mixed_precision = "no"
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ValueError(f"train.mixed_precision must be auto, no, bf16 or fp16, got {self.mixed_precision!r}")
        require_min("train", self, {"steps": 1, "batch_size": 1, "lr": 1e-12, "warmup": 0, "min_lr_ratio": 0,
                                    "weight_decay": 0, "grad_clip": 0, "log_every": 1, "eval_every": 0,
                                    "checkpoint_every": 1, "keep_checkpoints": 1, "eval_batch_size": 1,
                                    "seed": 0, "choice_softmax_weight": 0})
        if self.warmup > 1 or self.min_lr_ratio > 1:
            raise ValueError(f"train.warmup and train.min_lr_ratio are fractions in [0, 1], got {self.warmup} "
                             f"and {self.min_lr_ratio}")


@dataclass
class QAConfig:
    model: str = "aloe"
    aloe: AloeConfig = field(default_factory=AloeConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: QADataConfig = field(default_factory=QADataConfig)
    train: QATrainConfig = field(default_factory=QATrainConfig)

    def __post_init__(self):
        if self.data.mention_oracle and self.aloe.shuffle_objects:
            raise ValueError("data.mention_oracle puts the named objects in the first slots; aloe.shuffle_objects "
                             "would move them again")
