"""GECO-style balancing of reconstruction and KL (Rezende & Viola 2018, as GENESIS uses it): the weight on the
NLL, beta, is a Lagrange multiplier of the constraint "reconstruction MSE <= target" instead of a constant.

While the moving average of the constraint C = (MSE - target) / target is positive (reconstruction worse than
the target), log beta grows at `rate * C_ema` per step; once it is met, beta falls, so the KL weighs more and
slots are not spent on small reconstruction gains (the bands of the runs that do not decompose,
docs/perception.md). beta stays within `beta_range`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class GecoConfig:
    target_mse: float = 0.0  # reconstruction MSE per pixel the constraint asks for; 0: off (the fixed iodine.beta)
    rate: float = 0.01  # step of log(beta) per unit of relative constraint
    ema: float = 0.99  # moving average of the constraint
    beta_range: list[float] = field(default_factory=lambda: [1.0, 1000.0])

    def __post_init__(self):
        if self.target_mse < 0 or self.rate <= 0 or not 0 <= self.ema < 1:
            raise ValueError(f"train.geco: target_mse >= 0, rate > 0 and 0 <= ema < 1, got {self}")
        if len(self.beta_range) != 2 or not 0 < self.beta_range[0] <= self.beta_range[1]:
            raise ValueError(f"train.geco.beta_range must be [low, high] with 0 < low <= high, got {self.beta_range}")

    @property
    def enabled(self) -> bool:
        return self.target_mse > 0


class Geco:
    """The multiplier's state: beta and the constraint's moving average (saved with every checkpoint)."""

    def __init__(self, cfg: GecoConfig, beta: float):
        self.cfg = cfg
        self.beta = float(min(max(beta, cfg.beta_range[0]), cfg.beta_range[1]))
        self.c_ema: float | None = None

    def update(self, mse: float) -> float:
        """Takes one step's reconstruction MSE (the same on every process); returns the beta for the next step."""
        c = (mse - self.cfg.target_mse) / self.cfg.target_mse
        self.c_ema = c if self.c_ema is None else self.cfg.ema * self.c_ema + (1 - self.cfg.ema) * c
        low, high = self.cfg.beta_range
        self.beta = float(min(max(self.beta * math.exp(self.cfg.rate * self.c_ema), low), high))
        return self.beta

    def state_dict(self) -> dict:
        return {"beta": self.beta, "c_ema": self.c_ema}

    def load_state_dict(self, state: dict) -> None:
        self.beta, self.c_ema = float(state["beta"]), state["c_ema"]
