"""Bullet simulation (pybullet DIRECT) of a scene, collision detection, and CPU rendering.

Rendering: pybullet's TinyRenderer draws the objects (colour, diffuse shading, instance ids); the
static floor is rendered once per camera and composited behind them, with soft shadows cast from
the light direction, and metal gets a Blinn-Phong highlight from the objects' true normals
(TinyRenderer has no per-object specular). Drawing the full-screen floor every frame was 6x the
cost of drawing the objects.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pybullet

from qa_data.clevrer.annotations import COLORS
from qa_data.sim.camera import Camera
from qa_data.sim.config import GeneratorConfig
from qa_data.sim.scene import ObjectSpec, SceneSpec

# CLEVR's colour table (RGB 0-255).
COLOR_RGB = {
    "gray": (87, 87, 87), "red": (173, 35, 35), "blue": (42, 75, 215), "green": (29, 105, 20),
    "brown": (129, 74, 25), "purple": (129, 38, 192), "cyan": (41, 208, 208), "yellow": (255, 238, 51),
}
assert set(COLOR_RGB) == set(COLORS)


@dataclass(frozen=True)
class SimCollision:
    object_ids: tuple[int, int]  # sorted
    frame_id: int  # nearest output frame
    location: tuple[float, float, float]
    step: int  # physics step at which the contact began


@dataclass
class SimResult:
    """Per-frame states of the simulated objects (in `object_ids` order) and their collisions."""

    object_ids: list[int]
    position: np.ndarray  # [F, N, 3]
    quaternion: np.ndarray  # [F, N, 4] (x, y, z, w)
    velocity: np.ndarray  # [F, N, 3]
    angular_velocity: np.ndarray  # [F, N, 3]
    collisions: list[SimCollision]
    # Per frame k: the last contact step of every touching pair up to frame k (restart state).
    contact_memory: list[dict[tuple[int, int], int]]

    def euler(self) -> np.ndarray:
        """[F, N, 3] roll, pitch, yaw."""
        q = self.quaternion.reshape(-1, 4)
        return np.array([pybullet.getEulerFromQuaternion(x) for x in q]).reshape(self.quaternion.shape[:-1] + (3,))

    def without(self, object_id: int) -> "SimResult":
        """This run with one object's rows dropped (the outcome when that object touches nothing)."""
        keep = [j for j, oid in enumerate(self.object_ids) if oid != object_id]
        return SimResult([self.object_ids[j] for j in keep], self.position[:, keep], self.quaternion[:, keep],
                         self.velocity[:, keep], self.angular_velocity[:, keep],
                         [c for c in self.collisions if object_id not in c.object_ids],
                         [{k: v for k, v in m.items() if object_id not in k} for m in self.contact_memory])

    def first_contact_step(self, object_id: int) -> int | None:
        steps = [c.step for c in self.collisions if object_id in c.object_ids]
        return min(steps) if steps else None


class World:
    """One pybullet client, reset for every simulation so results never depend on history."""

    def __init__(self, cfg: GeneratorConfig):
        cfg.validate()
        self.cfg = cfg
        self.camera = Camera(cfg.camera)
        self.cid = pybullet.connect(pybullet.DIRECT)
        self._floor_rgb, floor_xy = self._render_floor()
        self._floor_x, self._floor_y = np.ascontiguousarray(floor_xy[..., 0]), np.ascontiguousarray(floor_xy[..., 1])

    def close(self) -> None:
        pybullet.disconnect(physicsClientId=self.cid)

    def _p(self, name: str):
        return functools.partial(getattr(pybullet, name), physicsClientId=self.cid)

    # ---------------------------------------------------------------- scene construction
    def _build(self, objects: list[ObjectSpec], states: tuple | None = None, floor: str = "collision") -> list[int]:
        """Resets the world and creates the floor and `objects`, at their initial state or at
        `states` = (position [N, 3], quaternion [N, 4], velocity [N, 3], angular velocity [N, 3]).

        floor: "collision" (simulation: no visual shapes at all) or "none" (rendering: visual
        shapes, and no floor, which is composited; TinyRenderer would draw a collision-only plane).
        """
        P, ph = self._p, self.cfg.physics
        P("resetSimulation")()
        P("setGravity")(0, 0, -9.81)
        P("setTimeStep")(1.0 / ph.hz)
        if floor != "none":
            body = P("createMultiBody")(0, P("createCollisionShape")(pybullet.GEOM_PLANE), -1, [0, 0, 0])
            P("changeDynamics")(body, -1, lateralFriction=ph.floor_friction)
        h = ph.object_half_size
        collision = {
            "cube": P("createCollisionShape")(pybullet.GEOM_BOX, halfExtents=[h, h, h]),
            "sphere": P("createCollisionShape")(pybullet.GEOM_SPHERE, radius=h),
            "cylinder": P("createCollisionShape")(pybullet.GEOM_CYLINDER, radius=h, height=2 * h),
        }
        bodies = []
        for j, o in enumerate(objects):
            metal = o.material == "metal"
            vis = -1
            if floor == "none":  # a render world: objects need their visual shapes
                scale = self.cfg.light.metal_base_scale if metal else 1.0
                rgba = [c / 255.0 * scale for c in COLOR_RGB[o.color]] + [1.0]
                if o.shape == "cube":
                    vis = P("createVisualShape")(pybullet.GEOM_BOX, halfExtents=[h, h, h], rgbaColor=rgba)
                elif o.shape == "sphere":
                    vis = P("createVisualShape")(pybullet.GEOM_SPHERE, radius=h, rgbaColor=rgba)
                else:
                    vis = P("createVisualShape")(pybullet.GEOM_CYLINDER, radius=h, length=2 * h, rgbaColor=rgba)
            if states is None:
                pos, orn = [o.position[0], o.position[1], h], pybullet.getQuaternionFromEuler([0, 0, o.yaw])
                vx, vy = o.velocity
                lin = [vx, vy, 0.0]
                # Spheres start rolling without slipping; other shapes slide.
                ang = [-vy / h, vx / h, 0.0] if o.shape == "sphere" else [0.0, 0.0, 0.0]
            else:
                pos, orn, lin, ang = (s[j].tolist() for s in states)
            b = P("createMultiBody")(ph.mass_metal if metal else ph.mass_rubber, collision[o.shape], vis, pos, orn)
            P("changeDynamics")(b, -1, lateralFriction=ph.object_friction, rollingFriction=ph.rolling_friction,
                                spinningFriction=ph.rolling_friction,
                                restitution=ph.restitution_metal if metal else ph.restitution_rubber,
                                linearDamping=0.0, angularDamping=0.0)
            P("resetBaseVelocity")(b, lin, ang)
            bodies.append(b)
        return bodies

    # ---------------------------------------------------------------- simulation
    def simulate(self, scene: SceneSpec, remove: int | None = None, factual: SimResult | None = None) -> SimResult:
        """Simulates `duration_s`, sampling states at every output frame.

        With `remove`, the object is left out. If the `factual` run is given, the re-simulation
        starts from its recorded state at the last frame before the removed object's first
        contact: until then nothing else can be affected by it, so the result is that of a
        re-simulation from the initial state, at a fraction of the cost.
        """
        cfg = self.cfg
        objects = [o for o in scene.objects if o.object_id != remove]
        n_frames, spf = cfg.simulated_frames, cfg.physics.hz // cfg.fps
        start, states, collisions, memory0 = 0, None, [], {}
        if remove is not None and factual is not None:
            first = factual.first_contact_step(remove)
            if first is None:  # touches nothing: the outcome is the factual one
                return factual.without(remove)
            start = (first - 1) // spf  # state at frame `start` precedes the contact
            keep = [j for j, oid in enumerate(factual.object_ids) if oid != remove]
            states = tuple(a[start, keep] for a in (factual.position, factual.quaternion,
                                                    factual.velocity, factual.angular_velocity))
            collisions = [c for c in factual.collisions if c.step <= start * spf]
            memory0 = {k: v for k, v in factual.contact_memory[start].items() if remove not in k}
        bodies = self._build(objects, states)
        body_to_obj = {b: o.object_id for b, o in zip(bodies, objects)}
        gap_steps = cfg.physics.collision_gap_frames * spf
        N = len(bodies)
        pos = np.zeros((n_frames, N, 3))
        quat = np.zeros((n_frames, N, 4))
        vel = np.zeros((n_frames, N, 3))
        avel = np.zeros((n_frames, N, 3))
        if factual is not None and start > 0:
            keep = [j for j, oid in enumerate(factual.object_ids) if oid != remove]
            for arr, src in ((pos, factual.position), (quat, factual.quaternion), (vel, factual.velocity),
                             (avel, factual.angular_velocity)):
                arr[:start] = src[:start, keep]
        memory = [dict() for _ in range(n_frames)]
        last_contact = dict(memory0)
        step_fn, contacts_fn = self._p("stepSimulation"), self._p("getContactPoints")
        pose_fn, vel_fn = self._p("getBasePositionAndOrientation"), self._p("getBaseVelocity")
        step = start * spf
        for k in range(start, n_frames):
            for j, b in enumerate(bodies):
                pos[k, j], quat[k, j] = pose_fn(b)
                vel[k, j], avel[k, j] = vel_fn(b)
            memory[k] = dict(last_contact)
            if k == n_frames - 1:
                break
            for _ in range(spf):
                step_fn()
                step += 1
                onset: dict[tuple[int, int], list] = {}
                for c in contacts_fn():
                    a, b = body_to_obj.get(c[1]), body_to_obj.get(c[2])
                    if a is None or b is None:
                        continue  # contact with the floor
                    pair = (a, b) if a < b else (b, a)
                    prev = last_contact.get(pair)
                    if prev is None or step - prev > gap_steps or pair in onset:
                        onset.setdefault(pair, []).append((c[5], c[6]))
                    last_contact[pair] = step
                for pair, pts in sorted(onset.items()):
                    loc = np.mean(np.asarray(pts), (0, 1))
                    collisions.append(SimCollision(pair, int(round(step / spf)),
                                                   (float(loc[0]), float(loc[1]), float(loc[2])), step))
        return SimResult([o.object_id for o in objects], pos, quat, vel, avel, collisions, memory)

    # ---------------------------------------------------------------- rendering
    def _render_floor(self) -> tuple[np.ndarray, np.ndarray]:
        """The floor alone (float RGB [H, W, 3]): Lambert shading of a flat plane, dimming softly
        with distance from the camera, and each pixel's floor point (x, y) [H, W, 2]."""
        cam, lt = self.camera, self.cfg.light
        near = cam.unproject(np.zeros((cam.height, cam.width)))  # ray through each pixel centre
        d = near - cam.eye
        t = -cam.eye[2] / np.minimum(d[..., 2], -1e-9)  # hits z = 0
        point = cam.eye + d * t[..., None]
        light = np.asarray(lt.direction, float)
        shade = lt.ambient + lt.diffuse * max(0.0, light[2] / np.linalg.norm(light))
        dist = np.linalg.norm(point - cam.eye, axis=-1)
        lo, hi = dist.min(), dist.max()
        falloff = 1.08 - 0.3 * (dist - lo) / max(hi - lo, 1e-6)
        rgb = 255.0 * np.asarray(lt.floor_rgb)[None, None] * (shade * falloff)[..., None]
        return rgb.astype(np.float32), np.ascontiguousarray(point[..., :2].astype(np.float32))

    def _shadows(self, positions: np.ndarray) -> np.ndarray:
        """Darkening factor [H, W] of the floor from soft shadows of objects at `positions` [N, 3]."""
        lt, h = self.cfg.light, self.cfg.physics.object_half_size
        light = np.asarray(lt.direction, float)
        centers = (positions[:, :2] - positions[:, 2:3] * light[None, :2] / light[2]).astype(np.float32)  # [N, 2]
        d2 = ((self._floor_x[None] - centers[:, 0, None, None]) ** 2
              + (self._floor_y[None] - centers[:, 1, None, None]) ** 2)  # [N, H, W]
        # clipped: exp of large negatives would produce slow denormals
        occl = np.exp(np.maximum(d2 * np.float32(-1 / (2 * (1.1 * h) ** 2)), -20)).max(0) if len(centers) else 0.0
        return 1.0 - lt.shadow_strength * occl

    def render(self, scene: SceneSpec, sim: SimResult, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """Renders the first `n_frames` recorded states: uint8 RGB [T, H, W, 3] and int16 instance
        ids [T, H, W] (0 = background, object_id + 1)."""
        cam, lt = self.camera, self.cfg.light
        objects = [o for o in scene.objects if o.object_id in sim.object_ids]
        bodies = self._build(objects, floor="none")
        lut = np.zeros(max(bodies, default=0) + 2, dtype=np.int16)  # body uid -> object_id + 1
        for b, o in zip(bodies, objects):
            lut[b] = o.object_id + 1
        metal = {o.object_id: o.shape for o in objects if o.material == "metal"}
        light = np.asarray(lt.direction, float)
        light /= np.linalg.norm(light)
        H, W = cam.height, cam.width
        rgb_out = np.zeros((n_frames, H, W, 3), np.uint8)
        seg_out = np.zeros((n_frames, H, W), np.int16)
        reset_fn, image_fn = self._p("resetBasePositionAndOrientation"), self._p("getCameraImage")
        for k in range(n_frames):
            for j, b in enumerate(bodies):
                reset_fn(b, sim.position[k, j], sim.quaternion[k, j])
            _, _, rgba, depth, seg = image_fn(
                W, H, cam.gl_view, cam.gl_proj, renderer=pybullet.ER_TINY_RENDERER, shadow=0,
                lightDirection=lt.direction, lightAmbientCoeff=lt.ambient,
                lightDiffuseCoeff=lt.diffuse, lightSpecularCoeff=0.0)
            seg = np.reshape(seg, (H, W))
            ids = np.where(seg >= 0, lut[np.clip(seg, 0, len(lut) - 1)], 0)
            floor = self._floor_rgb
            if lt.shadows:
                floor = floor * self._shadows(sim.position[k])[..., None]
            rgb = np.where((ids > 0)[..., None], np.reshape(rgba, (H, W, 4))[..., :3], floor).astype(np.float32)
            if metal:
                self._metal_highlights(rgb, ids, np.reshape(depth, (H, W)), sim, k, metal, light)
            rgb_out[k] = np.clip(rgb, 0, 255).astype(np.uint8)
            seg_out[k] = ids
        return rgb_out, seg_out

    def _metal_highlights(self, rgb: np.ndarray, ids: np.ndarray, depth: np.ndarray, sim: SimResult, k: int,
                          metal: dict[int, str], light: np.ndarray) -> None:
        """Adds (in place) a Blinn-Phong highlight on metal pixels, with the shapes' true normals."""
        lt = self.cfg.light
        jmap = {oid: j for j, oid in enumerate(sim.object_ids)}
        metal_ids = np.zeros(max(sim.object_ids, default=0) + 2, bool)  # indexed by object_id + 1
        for oid in metal:
            metal_ids[oid + 1] = True
        sel = metal_ids[ids]  # [H, W] metal pixels
        if not sel.any():
            return
        pts = self.camera.unproject_pixels(depth, sel)  # [P, 3]
        pix_ids = ids[sel] - 1  # [P] object ids
        normal = np.zeros_like(pts)
        for oid, shape in metal.items():
            m = pix_ids == oid
            if not m.any():
                continue
            j = jmap[oid]
            rot = np.reshape(pybullet.getMatrixFromQuaternion(sim.quaternion[k, j]), (3, 3))
            local = (pts[m] - sim.position[k, j]) @ rot  # object frame
            if shape == "cube":
                rows = np.arange(len(local))
                axis = np.abs(local).argmax(1)
                n_local = np.zeros_like(local)
                n_local[rows, axis] = np.sign(local[rows, axis])
            elif shape == "cylinder":  # axis = local z; caps where |z| dominates
                cap = np.abs(local[:, 2]) > np.hypot(local[:, 0], local[:, 1])
                n_local = local.copy()
                n_local[cap, :2] = 0.0
                n_local[~cap, 2] = 0.0
            else:
                n_local = local
            normal[m] = n_local @ rot.T
        normal /= np.sqrt((normal ** 2).sum(1, keepdims=True)) + 1e-9
        half = (self.camera.eye - pts)
        half /= np.sqrt((half ** 2).sum(1, keepdims=True))
        half += light
        half /= np.sqrt((half ** 2).sum(1, keepdims=True))
        spec = lt.metal_specular * np.clip((normal * half).sum(1), 0, 1) ** lt.metal_shininess
        rgb[sel] += 255.0 * spec[:, None]
