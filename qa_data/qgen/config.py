"""Typed config of the question generator (presets in configs/questions/)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qa_data.config import ConfigError, load_config

QUESTIONS_VERSION = "clevrer-sim-questions-1.1"  # 1.1: no question asked twice in a video


@dataclass
class TypeShares:
    """Share of each question type (CLEVRER train: 72% / 11% / 5% / 12%)."""

    descriptive: float = 0.72
    explanatory: float = 0.11
    predictive: float = 0.05
    counterfactual: float = 0.12


@dataclass
class SubtypeShares:
    """Share of each descriptive subtype (CLEVRER train: 36 / 18 / 17 / 13 / 15%)."""

    count: float = 0.36
    exist: float = 0.18
    query_color: float = 0.17
    query_material: float = 0.13
    query_shape: float = 0.16


@dataclass
class QuestionConfig:
    seed: int = 0
    questions_per_video: float = 15.0  # CLEVRER train: 152,572 questions / 10,000 videos
    types: TypeShares = field(default_factory=TypeShares)
    subtypes: SubtypeShares = field(default_factory=SubtypeShares)
    max_choices: int = 4  # explanatory and counterfactual; predictive always has 2
    min_choices: int = 2
    correct_prob: float = 0.5  # chance that each choice of a question is a correct one
    max_question_tokens: int = 20  # ALOE's MAX_QUESTION_LENGTH
    max_choice_tokens: int = 12  # ALOE's MAX_CHOICE_LENGTH

    def validate(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 32:
            raise ConfigError(f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        for name, shares in (("types", self.types), ("subtypes", self.subtypes)):
            vals = list(vars(shares).values())
            if any(v < 0 for v in vals) or abs(sum(vals) - 1.0) > 1e-6:
                raise ConfigError(f"{name} shares must be >= 0 and sum to 1, got {vars(shares)}")
        if not 1 <= self.min_choices <= self.max_choices:
            raise ConfigError("need 1 <= min_choices <= max_choices")
        if not 0.0 <= self.correct_prob <= 1.0:
            raise ConfigError("correct_prob must be in [0, 1]")
        if self.questions_per_video <= 0:
            raise ConfigError("questions_per_video must be > 0")
        if self.max_question_tokens < 1 or self.max_choice_tokens < 1:
            raise ConfigError("max_question_tokens and max_choice_tokens must be >= 1")


CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "questions"


def build_question_config(preset: str = "clevrer_sim", seed: int | None = None,
                          overrides: list[str] | None = None) -> QuestionConfig:
    """A question preset (a name in configs/questions/ or a YAML path), then the seed, then key=value overrides."""
    path = Path(preset) if preset.endswith((".yaml", ".yml")) else CONFIG_DIR / f"{preset}.yaml"
    cfg = load_config(QuestionConfig, path, overrides or [])
    if seed is not None:
        cfg.seed = seed
    cfg.validate()
    return cfg
