"""Random CLEVRER-like scenes: unique objects, some entering from outside the view, and initial
velocities aimed so that objects meet (CLEVRER builds scenes so new objects collide with
existing ones)."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from qa_data.clevrer.annotations import COLORS, MATERIALS, SHAPES
from qa_data.sim.camera import Camera
from qa_data.sim.config import GeneratorConfig

GRAVITY = 9.81
ALL_ATTRIBUTES = list(itertools.product(COLORS, MATERIALS, SHAPES))


@dataclass(frozen=True)
class ObjectSpec:
    object_id: int
    color: str
    material: str
    shape: str
    position: tuple[float, float]  # on the floor (x, y)
    yaw: float
    velocity: tuple[float, float]  # initial sliding velocity (x, y)
    entering: bool  # starts outside the view


@dataclass(frozen=True)
class SceneSpec:
    objects: tuple[ObjectSpec, ...]
    # Attributes (color, material, shape) of an object still to be added by `add_late_object`,
    # aimed to collide in the held-out tail; None when the scene has none.
    late: tuple[str, str, str] | None = None


def deceleration(cfg: GeneratorConfig, shape: str) -> float:
    """Approximate deceleration (m/s^2) of a lone object: sliding friction, or rolling friction
    for spheres (14 x rolling_friction was measured in Bullet with these settings)."""
    ph = cfg.physics
    if shape == "sphere":
        return 14.0 * ph.rolling_friction
    return ph.floor_friction * ph.object_friction * GRAVITY


def _travel(speed: float, decel: float, t: float) -> float:
    """Distance slid in time t from `speed` under constant deceleration (stops at zero)."""
    if decel <= 0:
        return speed * t
    t_stop = speed / decel
    t = min(t, t_stop)
    return speed * t - 0.5 * decel * t * t


def sample_scene(cfg: GeneratorConfig, camera: Camera, rng: np.random.Generator) -> SceneSpec:
    """One scene; deterministic for a given generator state."""
    sc, ph = cfg.scene, cfg.physics
    n = int(rng.integers(sc.min_objects, sc.max_objects + 1))
    attrs = [ALL_ATTRIBUTES[i] for i in rng.choice(len(ALL_ATTRIBUTES), size=n, replace=False)]
    late = attrs.pop() if n >= 2 and rng.random() < sc.late_object_prob else None
    min_dist = 3.0 * ph.object_half_size
    objects: list[ObjectSpec] = []
    for i, (color, material, shape) in enumerate(attrs):
        entering = i > 0 and rng.random() < sc.enter_prob
        pos = None
        for _ in range(200):
            ext = sc.enter_extent if entering else sc.spawn_extent
            cand = rng.uniform(-ext, ext, size=2)
            point = np.array([cand[0], cand[1], ph.object_half_size])
            inside = bool(camera.in_view(point, 0.0))
            if entering and inside:
                continue
            if not entering and not bool(camera.in_view(point, sc.view_margin)):
                continue
            if all(np.hypot(*(cand - np.array(o.position))) > min_dist for o in objects):
                pos = cand
                break
        if pos is None:  # crowded: fall back to an in-view spot that need not be free
            entering = False
            pos = rng.uniform(-1.0, 1.0, size=2)
        vel = np.zeros(2)
        if i == 0:
            if rng.random() >= sc.stationary_prob:
                ang = rng.uniform(0, 2 * math.pi)
                vel = rng.uniform(sc.min_speed, sc.max_speed * 0.6) * np.array([math.cos(ang), math.sin(ang)])
        elif entering or rng.random() >= sc.stationary_prob:
            target = objects[int(rng.integers(len(objects)))]
            vel = _aim(target, pos, deceleration(cfg, target.shape), deceleration(cfg, shape), sc, rng, entering)
        objects.append(ObjectSpec(i, color, material, shape, (float(pos[0]), float(pos[1])),
                                  float(rng.uniform(0, 2 * math.pi)), (float(vel[0]), float(vel[1])), entering))
    return SceneSpec(tuple(objects), late)


def _aim(target: ObjectSpec, pos: np.ndarray, target_decel: float, decel: float, sc,
         rng: np.random.Generator, entering: bool) -> np.ndarray:
    """A velocity that brings an object at `pos` to where `target` will be at a random time."""
    tv = np.array(target.velocity)
    tspeed = float(np.linalg.norm(tv))
    tdir = tv / tspeed if tspeed > 0 else np.zeros(2)
    for _ in range(20):
        t = rng.uniform(1.0, 4.5) if entering else rng.uniform(0.5, 4.5)
        goal = np.array(target.position) + tdir * _travel(tspeed, target_decel, t)
        d = float(np.linalg.norm(goal - pos))
        # d = u t - decel t^2 / 2, and the object must still move at t: u > decel t.
        u = d / t + 0.5 * decel * t
        if d > 0.5 * decel * t * t and sc.min_speed <= u <= sc.max_speed:
            return u * (goal - pos) / d
    ang = rng.uniform(0, 2 * math.pi)
    return rng.uniform(sc.min_speed, sc.max_speed) * np.array([math.cos(ang), math.sin(ang)])


def add_late_object(cfg: GeneratorConfig, camera: Camera, scene: SceneSpec, positions: np.ndarray,
                    rng: np.random.Generator) -> SceneSpec:
    """Adds `scene.late`, aimed at where a random object is (per the simulated `positions`
    [F, N, 3] of the scene without it) at a time inside the held-out tail."""
    assert scene.late is not None
    sc, ph = cfg.scene, cfg.physics
    color, material, shape = scene.late
    decel = deceleration(cfg, shape)
    first_tail_s = cfg.rendered_frames / cfg.fps
    last_s = (cfg.simulated_frames - 1) / cfg.fps
    R = cfg.rendered_frames
    # Predictive questions can only name objects seen in the video: the target must be in view
    # in some rendered frame, and so must the late object before the tail (checked along its path).
    seen = [j for j in range(len(scene.objects)) if camera.in_view(positions[:R, j]).any()]
    path_times = np.linspace(0.0, first_tail_s - 0.4, 24)
    spawn = vel = None
    for _ in range(100):
        if not seen:
            break
        t = rng.uniform(first_tail_s + 0.2, last_s - 0.3)
        j = seen[int(rng.integers(len(seen)))]
        goal = positions[int(round(t * cfg.fps)), j, :2]
        u = rng.uniform(max(sc.min_speed, decel * t * 1.05), sc.max_speed)
        d = (u - 0.5 * decel * t) * t
        ang = rng.uniform(0, 2 * math.pi)
        direction = np.array([math.cos(ang), math.sin(ang)])
        cand = goal - d * direction
        free = all(np.hypot(*(cand - np.array(o.position))) > 3.0 * ph.object_half_size for o in scene.objects)
        along = np.array([_travel(u, decel, tt) for tt in path_times])
        path = np.concatenate([cand + along[:, None] * direction, np.full((len(along), 1), ph.object_half_size)], 1)
        if d > 0 and free and camera.in_view(path, sc.view_margin).any():
            spawn, vel = cand, u * direction
            break
    if spawn is None:
        return SceneSpec(scene.objects, None)
    entering = not bool(camera.in_view(np.array([spawn[0], spawn[1], ph.object_half_size])))
    late = ObjectSpec(len(scene.objects), color, material, shape, (float(spawn[0]), float(spawn[1])),
                      float(rng.uniform(0, 2 * math.pi)), (float(vel[0]), float(vel[1])), entering)
    return SceneSpec(scene.objects + (late,), None)
