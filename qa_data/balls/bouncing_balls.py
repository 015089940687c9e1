"""Bouncing Balls (R-NEM / PROVIDE): balls of different masses bouncing elastically off each other
and the walls, rendered binary (white on black) or in colour, with ground-truth instance masks.

PROVIDE trains on 4-ball videos (64x64, first 40 of 50 frames) and tests on 4 balls and on 6-8
balls; the colour version colours the balls from a palette of 4 (8 for the unseen-colour test).
This module writes the same kind of data, one HDF5 file per split:

    <root>/<split>.h5
        videos     [V, T, H, W, 3] uint8   (binary: every channel equal, 0 or 255)
        masks      [V, T, H, W]    uint8   0 = background, 1..n = ball (the later ball on overlaps)
        positions  [V, T, N, 2]    float32 centre (row, col) in pixels; NaN rows past a video's balls
        radii      [V, N]          float32 pixels; NaN past a video's balls
        attrs: the generator config (JSON) and the format version

and reads it as the same clip items as `qa_data.clevrer.datasets.ClevrerClips`, so every perception model
trains and evaluates on it with `frames.dataset: bouncing_balls`.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from qa_data.clevrer.datasets import ClipConfig
from qa_data.clevrer.preprocess import preprocess_frames, preprocess_masks
from qa_data.errors import DataError, SkipReport
from qa_data.runtime.atomic import written_whole
from qa_data.runtime.run_lock import holds_lock

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Palette (RGB 0-255): the first 4 are the training colours, the last 4 the unseen ones (PROVIDE B).
PALETTE = np.array([[230, 60, 60], [60, 200, 80], [70, 110, 240], [240, 210, 60],
                    [200, 80, 220], [60, 210, 220], [250, 150, 40], [160, 160, 160]], dtype=np.uint8)


@dataclass
class BallsConfig:
    """One split's generator settings."""

    videos: int = 100
    frames: int = 50  # R-NEM / PROVIDE: 50 (training uses the first 40)
    size: int = 64  # square frames
    balls: list[int] = field(default_factory=lambda: [4, 4])  # [min, max] balls per video
    radius: list[float] = field(default_factory=lambda: [4.0, 7.0])  # pixels, uniform; mass ~ radius^2
    speed: list[float] = field(default_factory=lambda: [1.0, 2.5])  # initial pixels per frame, uniform
    colour: bool = False  # binary (white) or coloured balls
    palette: int = 4  # colours drawn from PALETTE[:palette] (repeats allowed, as in PROVIDE's 4-colour test)
    substeps: int = 8  # physics steps per frame
    seed: int = 0


@dataclass
class BallsSplit:
    videos: int = 100
    balls: list[int] = field(default_factory=lambda: [4, 4])
    palette: int = 4
    seed: int = 0


@dataclass
class BallsDatasetConfig:
    """A whole dataset (configs/data/bouncing_balls_*.yaml): shared physics and rendering, and the
    splits by name, each with its size, ball count, palette and seed."""

    colour: bool = False
    frames: int = 50
    size: int = 64
    radius: list[float] = field(default_factory=lambda: [4.0, 7.0])
    speed: list[float] = field(default_factory=lambda: [1.0, 2.5])
    substeps: int = 8
    splits: dict[str, BallsSplit] = field(default_factory=lambda: {
        "train": BallsSplit(1000, [4, 4], 4, 0), "validation": BallsSplit(100, [4, 4], 4, 1),
        "test": BallsSplit(100, [4, 4], 4, 2), "test_6to8": BallsSplit(100, [6, 8], 4, 3)})

    def __post_init__(self):
        """Every value checked before anything is written."""
        if self.frames < 2 or self.size < 8 or self.substeps < 1:
            raise ValueError(f"need frames >= 2, size >= 8 and substeps >= 1, got {self.frames}, {self.size}, "
                             f"{self.substeps}")
        if len(self.radius) != 2 or not 0 < self.radius[0] <= self.radius[1] < self.size / 2:
            raise ValueError(f"radius must be [min, max] with 0 < min <= max < size / 2, got {list(self.radius)}")
        if len(self.speed) != 2 or not 0 <= self.speed[0] <= self.speed[1]:
            raise ValueError(f"speed must be [min, max] with 0 <= min <= max, got {list(self.speed)}")
        for name, sp in self.splits.items():
            if sp.videos < 0:
                raise ValueError(f"splits.{name}.videos must be >= 0, got {sp.videos}")
            if len(sp.balls) != 2 or not 1 <= sp.balls[0] <= sp.balls[1]:
                raise ValueError(f"splits.{name}.balls must be [min, max] with 1 <= min <= max, got {list(sp.balls)}")
            if not 1 <= sp.palette <= len(PALETTE):
                raise ValueError(f"splits.{name}.palette must be 1..{len(PALETTE)}, got {sp.palette}")

    def split_config(self, name: str) -> BallsConfig:
        if name not in self.splits:
            raise KeyError(f"no split {name!r}; the config has {sorted(self.splits)}")
        sp = self.splits[name]
        if not 1 <= sp.palette <= len(PALETTE):
            raise ValueError(f"split {name}: palette must be 1..{len(PALETTE)}, got {sp.palette}")
        return BallsConfig(videos=sp.videos, frames=self.frames, size=self.size, balls=list(sp.balls),
                           radius=list(self.radius), speed=list(self.speed), colour=self.colour,
                           palette=sp.palette, substeps=self.substeps, seed=sp.seed)


def _initial_positions(rng: np.random.Generator, radii: np.ndarray, size: int) -> np.ndarray:
    """Non-overlapping centres inside the frame (rejection sampling): [n, 2]."""
    for _ in range(10_000):
        pos = rng.uniform(radii[:, None], size - radii[:, None], (len(radii), 2))
        gap = np.linalg.norm(pos[:, None] - pos[None], axis=-1) - (radii[:, None] + radii[None])
        np.fill_diagonal(gap, np.inf)
        if (gap > 0.5).all():
            return pos
    raise ValueError(f"cannot place {len(radii)} balls of radii {radii.round(1).tolist()} in a {size}x{size} frame")


def physics_step(pos: np.ndarray, vel: np.ndarray, radii: np.ndarray, size: float, dt: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Advances balls (centres [n, 2], velocities [n, 2], radii [n]; mass ~ radius^2) by dt.

    Overlapping pairs that approach exchange an impulse along the line of centres, which
    conserves momentum and kinetic energy; a ball past a wall and moving out has that velocity
    component reflected (kinetic energy conserved)."""
    mass = radii ** 2
    pos = pos + vel * dt
    vel = vel.copy()
    n = len(radii)
    for i in range(n):
        for j in range(i + 1, n):
            d = pos[j] - pos[i]
            dist = np.linalg.norm(d)
            if dist >= radii[i] + radii[j] or dist == 0:
                continue
            normal = d / dist
            approach = np.dot(vel[i] - vel[j], normal)
            if approach > 0:  # moving towards each other
                impulse = 2 * approach / (mass[i] + mass[j])
                vel[i] -= impulse * mass[j] * normal
                vel[j] += impulse * mass[i] * normal
    low, high = pos < radii[:, None], pos > size - radii[:, None]
    vel = np.where((low & (vel < 0)) | (high & (vel > 0)), -vel, vel)
    return pos, vel


def simulate(rng: np.random.Generator, cfg: BallsConfig, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Trajectories of n balls: centres [T, n, 2] (pixels) and radii [n]."""
    radii = rng.uniform(*cfg.radius, n)
    pos = _initial_positions(rng, radii, cfg.size)
    angle = rng.uniform(0, 2 * np.pi, n)
    vel = rng.uniform(*cfg.speed, n)[:, None] * np.stack([np.sin(angle), np.cos(angle)], 1)
    out = np.empty((cfg.frames, n, 2))
    for t in range(cfg.frames):
        out[t] = pos
        for _ in range(cfg.substeps):
            pos, vel = physics_step(pos, vel, radii, cfg.size, 1.0 / cfg.substeps)
    return out, radii


def render(centres: np.ndarray, radii: np.ndarray, colours: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames [T, H, W, 3] uint8 and instance masks [T, H, W] uint8 of balls with centres
    [T, n, 2] and radii [n]; a pixel belongs to a ball when its centre lies inside the disc."""
    grid = np.arange(size) + 0.5
    dy = grid[None, None, :, None] - centres[:, :, 0, None, None]  # [T, n, H, 1]
    dx = grid[None, None, None, :] - centres[:, :, 1, None, None]  # [T, n, 1, W]
    inside = dy ** 2 + dx ** 2 < radii[None, :, None, None] ** 2  # [T, n, H, W]
    ids = np.zeros(inside.shape[:1] + inside.shape[2:], dtype=np.uint8)
    for b in range(len(radii)):  # later balls on top
        ids[inside[:, b]] = b + 1
    table = np.concatenate([np.zeros((1, 3), np.uint8), colours.astype(np.uint8)])
    return table[ids], ids


def generate_split(root: Path, split: str, cfg: BallsConfig, show_progress: bool = True) -> Path:
    """Writes `<root>/<split>.h5` (atomically: a temporary file, renamed when complete)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lo, hi = cfg.balls
    if not 1 <= lo <= hi:
        raise ValueError(f"balls must be [min, max] with 1 <= min <= max, got {cfg.balls}")
    rng = np.random.default_rng(cfg.seed)
    v, t, s = cfg.videos, cfg.frames, cfg.size
    path = root / f"{split}.h5"
    tmp = path.with_suffix(".h5.tmp")
    with written_whole(path, tmp), h5py.File(tmp, "w") as f:
        videos = f.create_dataset("videos", (v, t, s, s, 3), dtype="uint8", chunks=(1, t, s, s, 3), compression="gzip")
        masks = f.create_dataset("masks", (v, t, s, s), dtype="uint8", chunks=(1, t, s, s), compression="gzip")
        positions = f.create_dataset("positions", (v, t, hi, 2), dtype="float32", fillvalue=np.nan)
        radii_ds = f.create_dataset("radii", (v, hi), dtype="float32", fillvalue=np.nan)
        for i in tqdm(range(v), desc=f"bouncing balls {split}", disable=not show_progress):
            n = int(rng.integers(lo, hi + 1))
            centres, radii = simulate(rng, cfg, n)
            if cfg.colour:
                colours = PALETTE[rng.integers(0, cfg.palette, n)]
            else:
                colours = np.full((n, 3), 255, np.uint8)
            frames, ids = render(centres, radii, colours, s)
            videos[i], masks[i] = frames, ids
            positions[i, :, :n] = centres
            radii_ds[i, :n] = radii
        f.attrs["config"] = json.dumps(asdict(cfg))
        f.attrs["format_version"] = FORMAT_VERSION
    return path


@holds_lock("root")
def generate_dataset(root: Path, cfg: BallsDatasetConfig, show_progress: bool = True) -> dict[str, Path]:
    """Writes every split of `cfg` whose file is missing or was made with other settings."""
    paths = {}
    for name in cfg.splits:
        split_cfg = cfg.split_config(name)
        path = split_path(root, name)
        if path.is_file():
            with h5py.File(path, "r") as f:
                if f.attrs.get("config") == json.dumps(asdict(split_cfg)):
                    paths[name] = path
                    continue
        paths[name] = generate_split(root, name, split_cfg, show_progress)
    return paths


def split_path(root: Path, split: str) -> Path:
    return Path(root) / f"{split}.h5"


def video_indices(root: Path, split: str) -> list[int]:
    """Rows of a split's file (empty when the file does not exist)."""
    path = split_path(root, split)
    if not path.is_file():
        return []
    with h5py.File(path, "r") as f:
        return list(range(f["videos"].shape[0]))


class BallsClips(Dataset):
    """Clips of a Bouncing Balls split, as `ClevrerClips` items: `{frames [T, 3, h, w] float,
    masks [T, h, w] int64 (optional), video_index, start}`. `cfg.expected_frames` is checked
    against the file's frame count. The file is opened lazily, once per process or worker."""

    def __init__(self, root, split: str, cfg: ClipConfig, indices: list[int] | None = None):
        self.path = split_path(root, split)
        self.split = split
        self.cfg = cfg
        self.span = (cfg.clip_len - 1) * cfg.stride + 1
        self.skipped = SkipReport()
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no Bouncing Balls split {split!r} "
                                    "(see scripts/generate_bouncing_balls.py)")
        with h5py.File(self.path, "r") as f:
            for name in ("videos", "masks"):
                if name not in f:
                    raise DataError(self.path, f"dataset `{name}` missing; not a Bouncing Balls file")
            count, self.num_frames = f["videos"].shape[:2]
        if self.num_frames < cfg.expected_frames:
            raise DataError(self.path, f"videos have {self.num_frames} frames, expected {cfg.expected_frames}")
        if self.span > self.num_frames:
            raise ValueError(f"{self.path}: a clip spans {self.span} frames, videos have {self.num_frames}")
        self.indices = list(range(count)) if indices is None else list(indices)
        bad = [i for i in self.indices if not 0 <= i < count]
        if bad:
            raise DataError(self.path, f"video rows {bad[:5]} out of range (the file has {count})")
        self._file = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        cfg, idx = self.cfg, self.indices[i]
        last_start = self.num_frames - self.span
        start = (int(torch.randint(0, last_start + 1, ()).item()) if cfg.random_start
                 else min(cfg.start_frame, last_start))
        frame_ids = np.arange(start, start + self.span, cfg.stride)
        item = {"frames": preprocess_frames(self._file["videos"][idx, start:start + self.span:cfg.stride],
                                            cfg.preprocess),
                "video_index": idx, "start": start}
        if cfg.with_masks:
            item["masks"] = preprocess_masks(self._file["masks"][idx, frame_ids[0]:frame_ids[-1] + 1:cfg.stride],
                                             cfg.preprocess)
        return item
