"""Typed config of the CLEVRER-sim generator (presets in configs/data/)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from qa_data.config import ConfigError, load_config

# Bump when a change alters generated data for the same config and seed.
GENERATOR_VERSION = "clevrer-sim-1.3"  # 1.1: the late object is seen before the tail; 1.2: deterministic mp4s;
# 1.3: the tail file carries the continuation's motion_trajectory


@dataclass
class SplitSizes:
    """Videos per split; indices are contiguous in split order, as in CLEVRER."""

    train: int = 200
    validation: int = 50
    test: int = 50


@dataclass
class CameraConfig:
    """Oblique pinhole camera looking at the floor, like CLEVRER's."""

    width: int = 96
    height: int = 64
    eye: list[float] = field(default_factory=lambda: [0.0, -4.0, 4.0])
    target: list[float] = field(default_factory=lambda: [0.0, 0.8, 0.0])
    fov_deg: float = 40.0  # vertical field of view; the view covers about x in [-2.4, 2.4] near, [-6, 6] far
    near: float = 0.1
    far: float = 40.0


@dataclass
class LightConfig:
    direction: list[float] = field(default_factory=lambda: [-2.0, -3.0, 5.0])
    ambient: float = 0.45
    diffuse: float = 0.5
    shadows: bool = True  # soft shadows on the floor, cast along `direction`
    shadow_strength: float = 0.45
    # Metal: Blinn-Phong highlight added from analytic normals (TinyRenderer has no
    # per-object specular), and a slightly darker base colour.
    metal_specular: float = 0.9
    metal_shininess: float = 24.0
    metal_base_scale: float = 0.85
    floor_rgb: list[float] = field(default_factory=lambda: [0.64, 0.64, 0.62])


@dataclass
class PhysicsConfig:
    # Physics steps per second, a multiple of fps. At 50 Hz the fastest object moves 6.4 cm per
    # step (objects are 50 cm wide); contacts are checked after every step.
    hz: int = 50
    object_half_size: float = 0.25  # half edge of cubes, radius of spheres and cylinders
    floor_friction: float = 0.5
    object_friction: float = 0.05  # Bullet multiplies the two: sliding deceleration 0.025 g
    rolling_friction: float = 0.01
    restitution_rubber: float = 0.6
    restitution_metal: float = 0.4
    mass_rubber: float = 1.0
    mass_metal: float = 1.6
    # Contacts of a pair within this many frames (2 s) of their last contact are the same collision
    # (rolling spheres often touch again what they just hit); CLEVRER discards repeat collisions.
    collision_gap_frames: int = 50


@dataclass
class SceneConfig:
    min_objects: int = 3
    max_objects: int = 6
    enter_prob: float = 0.3  # an object after the first starts outside the view and drives in
    stationary_prob: float = 0.25  # an object (not entering) starts at rest
    min_speed: float = 0.5
    max_speed: float = 2.4
    spawn_extent: float = 3.0  # in-view objects spawn in [-e, e]^2 (then checked in view)
    enter_extent: float = 6.0  # entering objects spawn in [-e, e]^2 outside the view
    view_margin: float = 0.08  # in-view spawns keep this fraction of the image from its border
    # Share of scenes with one object aimed (from a first simulation) to collide in the
    # held-out tail, which predictive questions ask about; such scenes must have a tail collision.
    late_object_prob: float = 0.75
    min_visible_collisions: int = 1
    max_visible_collisions: int = 6
    max_attempts: int = 10  # then the best attempt is kept (fewest violations)


@dataclass
class VideoConfig:
    crf: int = 16
    pix_fmt: str = "yuv420p"
    preset: str = "veryfast"
    x264_params: str = "mbtree=0"  # mbtree off: the same frames give the same bytes (qa_data/clevrer/video_io.py)


@dataclass
class GeneratorConfig:
    """Everything that determines a generated dataset (with the seed)."""

    preset: str = "tiny"
    seed: int = 0
    splits: SplitSizes = field(default_factory=SplitSizes)
    fps: int = 25
    duration_s: float = 7.0  # simulated; the tail after the rendered frames is held out
    rendered_frames: int = 128  # frames of the video (annotated, and rendered unless render is false)
    # false: no pixels (no mp4, no masks); annotations, tail events, counterfactuals and questions only,
    # for the ground-truth state source (`scripts/extract_states.py`) at CLEVRER scale on a CPU
    render: bool = True
    camera: CameraConfig = field(default_factory=CameraConfig)
    light: LightConfig = field(default_factory=LightConfig)
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)
    video: VideoConfig = field(default_factory=VideoConfig)

    @property
    def simulated_frames(self) -> int:
        return int(round(self.duration_s * self.fps))

    def validate(self) -> None:
        """Every value checked before anything is written; raises ConfigError naming the field."""
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(f"generator config: {message}")

        def number(name: str, value) -> float:
            need(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
                 f"{name} must be a finite number, got {value!r}")
            return value

        need(isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed < 2 ** 32,
             f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        sizes = {s: getattr(self.splits, s) for s in ("train", "validation", "test")}
        need(all(isinstance(n, int) and n >= 0 for n in sizes.values()) and sum(sizes.values()) >= 1,
             f"splits must be video counts >= 0, at least one video in all, got {sizes}")
        need(number("fps", self.fps) >= 1 and isinstance(self.fps, int), f"fps must be an integer >= 1, got {self.fps}")
        need(number("duration_s", self.duration_s) > 0, f"duration_s must be > 0, got {self.duration_s}")
        need(isinstance(self.rendered_frames, int) and self.rendered_frames >= 2,
             f"rendered_frames must be an integer >= 2, got {self.rendered_frames}")
        need(self.physics.hz >= 1 and self.physics.hz % self.fps == 0,
             f"physics.hz ({self.physics.hz}) must be a positive multiple of fps ({self.fps})")
        need(self.rendered_frames <= self.simulated_frames,
             f"rendered_frames {self.rendered_frames} > simulated frames {self.simulated_frames} (duration_s x fps)")
        c = self.camera
        need(c.width >= 2 and c.height >= 2 and c.width % 2 == 0 and c.height % 2 == 0,
             f"camera width and height must be even and >= 2 (H.264 4:2:0), got {c.width}x{c.height}")
        need(0 < number("camera.fov_deg", c.fov_deg) < 180, f"camera.fov_deg must be in (0, 180), got {c.fov_deg}")
        need(0 < number("camera.near", c.near) < number("camera.far", c.far), "need 0 < camera.near < camera.far")
        for name in ("eye", "target"):
            v = getattr(c, name)
            need(len(v) == 3 and all(math.isfinite(number(f"camera.{name}", x)) for x in v),
                 f"camera.{name} must be 3 finite numbers, got {v}")
        need(list(c.eye) != list(c.target), "camera.eye and camera.target must differ")
        ph = self.physics
        need(number("physics.object_half_size", ph.object_half_size) > 0, "physics.object_half_size must be > 0")
        for name in ("floor_friction", "object_friction", "rolling_friction"):
            need(number(f"physics.{name}", getattr(ph, name)) >= 0, f"physics.{name} must be >= 0")
        for name in ("restitution_rubber", "restitution_metal"):
            need(0 <= number(f"physics.{name}", getattr(ph, name)) <= 1, f"physics.{name} must be in [0, 1]")
        for name in ("mass_rubber", "mass_metal"):
            need(number(f"physics.{name}", getattr(ph, name)) > 0, f"physics.{name} must be > 0")
        need(ph.collision_gap_frames >= 0, "physics.collision_gap_frames must be >= 0")
        sc = self.scene
        need(1 <= sc.min_objects <= sc.max_objects <= 48, "need 1 <= scene.min_objects <= scene.max_objects <= 48")
        for name in ("enter_prob", "stationary_prob", "late_object_prob"):
            need(0 <= number(f"scene.{name}", getattr(sc, name)) <= 1, f"scene.{name} must be in [0, 1]")
        need(0 <= number("scene.min_speed", sc.min_speed) <= number("scene.max_speed", sc.max_speed),
             "need 0 <= scene.min_speed <= scene.max_speed")
        need(number("scene.spawn_extent", sc.spawn_extent) > 0 and number("scene.enter_extent", sc.enter_extent) > 0,
             "scene.spawn_extent and scene.enter_extent must be > 0")
        need(0 <= number("scene.view_margin", sc.view_margin) < 0.5, "scene.view_margin must be in [0, 0.5)")
        need(0 <= sc.min_visible_collisions <= sc.max_visible_collisions,
             "need 0 <= scene.min_visible_collisions <= scene.max_visible_collisions")
        need(sc.max_attempts >= 1, "scene.max_attempts must be >= 1")
        need(0 <= self.video.crf <= 51, f"video.crf must be in [0, 51], got {self.video.crf}")


CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "data"


def preset_path(preset: str) -> Path:
    """A generator preset's YAML: a name (tiny, cpu, full) in configs/data/, or a path."""
    path = Path(preset)
    if path.suffix in (".yaml", ".yml"):
        return path
    return CONFIG_DIR / f"clevrer_sim_{preset}.yaml"


def build_config(preset: str, num_videos: int | None, seed: int | None, overrides: list[str]) -> GeneratorConfig:
    """Preset, then --seed / --num-videos, then key=value overrides."""
    cfg = load_config(GeneratorConfig, preset_path(preset), overrides)
    if seed is not None:
        cfg.seed = seed
    if num_videos is not None:
        sizes = cfg.splits
        total = sizes.train + sizes.validation + sizes.test
        if num_videos < 3:
            raise ConfigError(f"--num-videos must be at least 3 (one video per split), got {num_videos}")
        val = max(1, round(num_videos * sizes.validation / total))
        test = max(1, round(num_videos * sizes.test / total))
        sizes.train, sizes.validation, sizes.test = num_videos - val - test, val, test
    cfg.validate()
    return cfg
