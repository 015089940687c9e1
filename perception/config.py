"""Typed configs of the perception stage: the model, the frames it sees, training and evaluation.

One `PerceptionConfig` describes a whole run and is loaded from `configs/perception/*.yaml`
(see `qa_data.config.load_config`). `model` names the model; its section (`iodine`, and the video
models' sections in later stages) holds its hyperparameters. The resolved config is saved in the
run directory and inside every checkpoint, so a checkpoint alone rebuilds its model.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from perception.geco import GecoConfig
from qa_data.clevrer.preprocess import PreprocessConfig
from qa_data.config import require_min


@dataclass
class IodineConfig:
    """IODINE (Greff et al. 2019) as used by PROVIDE and ODDN.

    Choices where the DeepMind code and the PyTorch port (MichaelKevinKelly/IODINE) differ are
    switches here; `docs/perception.md` lists each with its reason.
    """

    num_slots: int = 7  # K
    latent_dim: int = 64  # z per slot; lambda = [mu, logvar] has 2 * latent_dim
    num_iters: int = 5  # R decodes, with R - 1 refinements between them (PROVIDE/ODDN/Kelly layout)
    # Likelihood: spatial Gaussian mixture with a fixed variance (both papers: "variance 0.3").
    pixel_variance: float = 0.3
    # Optional schedule of that variance over training: [[step, variance], ...], linear between the points and
    # constant after the last (empty: pixel_variance throughout). A model loaded after training uses the last value.
    variance_schedule: list[list[float]] = field(default_factory=list)
    # pixel: mixture over the joint RGB vector (IODINE paper, DeepMind) | channel: per channel (Kelly)
    mixture: str = "pixel"
    beta: float = 100.0  # weight on the NLL (PROVIDE/ODDN code and ODDN Alg. 1; the KL has weight 1)
    # increasing: (t+1)/R (Kelly/PROVIDE) | linspace: 0..1 (DeepMind) | uniform (ODDN eq. 5)
    step_weights: str = "increasing"
    mask_grad: str = "logits"  # gradient input w.r.t. mask logits (DeepMind) | probs (Kelly)
    # Spatial broadcast decoder.
    decoder_channels: list[int] = field(default_factory=lambda: [64, 64, 64, 64])
    decoder_kernel: int = 3
    # Refinement network: strided conv trunk -> global average pool -> MLP -> LSTM -> additive update.
    refine_channels: list[int] = field(default_factory=lambda: [64, 64, 64, 64])
    refine_kernel: int = 3
    refine_stride: int = 2  # DeepMind: 2 (Kelly: 1 + AvgPool(4) + a 16384-wide linear layer)
    refine_mlp: list[int] = field(default_factory=lambda: [256, 256])
    refine_hidden: int = 256  # LSTM units

    def __post_init__(self):
        from perception.likelihood import scheduled_variance

        scheduled_variance(self.variance_schedule, self.pixel_variance, None)  # a bad schedule is refused at load


@dataclass
class OddnConfig:
    """ODDN (Tang et al. 2022) on top of the `iodine` section: dynamics distillation, relation
    module and latent predictor. Paper-only: no public code exists; `docs/perception.md` traces
    every setting to the paper or says where the paper is silent.
    """

    variant: str = "oddn"  # oddn | oddn_no_relation | iodine_linear (the paper's baselines, Fig. 3 / Table 2)
    dyn_dim: int = 4  # l, dynamics dims per slot (Sec. 3.3: l = 4)
    distill_heads: int = 1  # heads of the distillation attention (eq. 7 is single-head)
    distill_ffn: int = 64  # hidden width of the FFN of eq. 9
    relation_hidden: int = 128  # width of the pair embedding W_emb and effect W_eff (eqs. 10-12)
    linear_hidden: int = 128  # hidden width of the iodine_linear predictor FFN
    student_forcing: bool = True  # also roll out from the first two frames, feeding predictions back (Sec. 3.3)
    pred_weight: float = 1.0  # weight of L_p (eq. 6); its NLL carries beta like the reconstruction NLL
    # Clip length during training: [[from_step, frames], ...], growing (A.4: "gradually increase the number
    # of frames"; the final length is A.4's 8).
    curriculum: list[list[int]] = field(default_factory=lambda: [[0, 4], [2000, 6], [4000, 8]])


@dataclass
class ProvideConfig:
    """PROVIDE (Zablotskaia et al. 2021) on top of the `iodine` section: 2D-LSTM refinement over a
    triangular (time x refinement) grid, conditional prior and conditioned decoder, entropy term.
    `docs/perception.md` lists where we follow the paper, the official code, or neither.
    """

    # Decodes at frame t (0-based): R_hat = max(R - t, grid_min); >= 2 (official code: 2), so that every
    # frame's last decode follows a refinement that read the frame (paper Fig. 2a).
    grid_min: int = 2
    conditional: bool = True  # conditional prior xi(h) and decoder g(z, h) (Table 3 "CP+G"); off: N(0, I), g(z)
    prior_hidden: int = 128  # xi: Linear(hidden, prior_hidden) + ReLU -> mean and log sigma
    psi: float = 10.0  # KL scale (supplement C)
    gamma: float = 0.0  # mask-entropy weight (eq. 7): 0.1 on binary data, 0 on RGB (supplement C)
    # Clip length during training: [[from_step, frames], ...] (supplement D: start at 4 frames, grow).
    curriculum: list[list[int]] = field(default_factory=lambda: [[0, 4], [20000, 6], [40000, 8]])


@dataclass
class FramesConfig:
    """Which frames a model trains and evaluates on."""

    dataset: str = "clevrer"  # clevrer (real layout or CLEVRER-sim) | bouncing_balls (qa_data.balls.bouncing_balls)
    preprocess: PreprocessConfig = field(default_factory=lambda: PreprocessConfig(mode="provide", size=[64, 64]))
    frame_stride: int = 1  # keep every n-th video frame in the frame store (ODDN: 4)
    cache_dir: str = ""  # frame store location; empty -> <run dir>/frame_cache
    num_workers: int = 0  # DataLoader workers reading the frame store
    skip_bad: bool = False  # count, log and leave out unreadable videos instead of stopping

    def __post_init__(self):
        require_min("frames", self, {"frame_stride": 1, "num_workers": 0})


@dataclass
class TrainConfig:
    seed: int = 0
    steps: int = 1000  # optimizer steps
    batch_size: int = 4  # global batch (frames, or clips for video models); split over processes
    lr: float = 3e-4  # Adam (both papers)
    grad_clip: float = 5.0  # global norm (all IODINE-line code)
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # DeepMind's IODINE: beta1 = 0.95
    geco: GecoConfig = field(default_factory=GecoConfig)  # off by default: iodine.beta stays fixed
    mixed_precision: str = "auto"  # auto (bf16 where bf16 is native: GPU, AMX/AVX512-BF16 CPU) | no | bf16 | fp16
    # channels-last weights: faster bf16 steps on CPU, slower in float32 (docs/benchmarks.md)
    channels_last: bool = False
    log_every: int = 10
    figure_every: int = 200
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    eval_every: int = 0  # 0: only the final evaluation

    def __post_init__(self):
        if self.mixed_precision in (False, "False", "false"):  # YAML reads a bare `no` as false
            self.mixed_precision = "no"
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ValueError(f"train.mixed_precision must be auto, no, bf16 or fp16, got {self.mixed_precision!r}")
        require_min("train", self, {"steps": 1, "batch_size": 1, "lr": 1e-12, "grad_clip": 1e-12, "log_every": 1,
                                    "figure_every": 0, "checkpoint_every": 1, "keep_checkpoints": 1,
                                    "eval_every": 0, "seed": 0})
        if len(self.adam_betas) != 2 or not all(0 <= b < 1 for b in self.adam_betas):
            raise ValueError(f"train.adam_betas must be two numbers in [0, 1), got {list(self.adam_betas)}")


@dataclass
class EvalConfig:
    split: str = "validation"
    num_videos: int = 0  # 0: every video of the split
    frames_per_video: int = 8  # evenly spaced frames scored per video
    frame_gap: int = 16  # frames between them (8 x 16 spans 128 frames)
    batch_size: int = 2  # videos per batch (per process)
    figure_frames: int = 4  # frames drawn in the decomposition figure
    # Prediction (video models): from `predict_context` frames, roll out `predict_steps` frames, all
    # `frames.frame_stride` apart, starting at each of `predict_starts` (video frame indices).
    predict_context: int = 2
    predict_steps: int = 6
    predict_starts: list[int] = field(default_factory=lambda: [0, 40, 80])

    def __post_init__(self):
        require_min("eval", self, {"num_videos": 0, "frames_per_video": 1, "frame_gap": 1, "batch_size": 1,
                                   "figure_frames": 1, "predict_context": 1, "predict_steps": 1})
        if any(s < 0 for s in self.predict_starts):
            raise ValueError(f"eval.predict_starts must be frame indices >= 0, got {list(self.predict_starts)}")


@dataclass
class PerceptionConfig:
    model: str = "iodine"  # iodine | oddn | provide (perception.registry.MODELS)
    iodine: IodineConfig = field(default_factory=IodineConfig)
    oddn: OddnConfig = field(default_factory=OddnConfig)
    provide: ProvideConfig = field(default_factory=ProvideConfig)
    frames: FramesConfig = field(default_factory=FramesConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
