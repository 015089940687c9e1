"""Pinhole camera in OpenGL conventions: the matrices pybullet renders with, and projection."""
from __future__ import annotations

import math

import numpy as np

from qa_data.sim.config import CameraConfig


class Camera:
    """View/projection matrices (column-vector convention) for one camera config."""

    def __init__(self, cfg: CameraConfig):
        self.width, self.height = cfg.width, cfg.height
        eye, target = np.asarray(cfg.eye, float), np.asarray(cfg.target, float)
        self.eye = eye
        f = target - eye
        f /= np.linalg.norm(f)
        s = np.cross(f, [0.0, 0.0, 1.0])
        s /= np.linalg.norm(s)
        u = np.cross(s, f)
        view = np.eye(4)
        view[0, :3], view[1, :3], view[2, :3] = s, u, -f
        view[:3, 3] = -view[:3, :3] @ eye
        aspect = cfg.width / cfg.height
        t = 1.0 / math.tan(math.radians(cfg.fov_deg) / 2)
        n, fa = cfg.near, cfg.far
        proj = np.zeros((4, 4))
        proj[0, 0], proj[1, 1] = t / aspect, t
        proj[2, 2], proj[2, 3] = (fa + n) / (n - fa), 2 * fa * n / (n - fa)
        proj[3, 2] = -1.0
        self.view, self.proj = view, proj
        self._inv_pv = np.linalg.inv(proj @ view)

    @property
    def gl_view(self) -> list[float]:
        """Column-major flattening, as pybullet.getCameraImage expects."""
        return self.view.T.reshape(-1).tolist()

    @property
    def gl_proj(self) -> list[float]:
        return self.proj.T.reshape(-1).tolist()

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points [..., 3] -> pixel coordinates [..., 2] (x right, y down)."""
        p = np.concatenate([points, np.ones(points.shape[:-1] + (1,))], -1) @ (self.proj @ self.view).T
        ndc = p[..., :2] / p[..., 3:4]
        x = (ndc[..., 0] + 1) * 0.5 * self.width
        y = (1 - ndc[..., 1]) * 0.5 * self.height
        behind = p[..., 3] <= 0
        return np.where(behind[..., None], np.inf, np.stack([x, y], -1))

    def in_view(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """bool [...]: the point projects inside the image, `margin` a fraction of its size."""
        xy = self.project(points)
        mx, my = margin * self.width, margin * self.height
        return ((xy[..., 0] >= mx) & (xy[..., 0] < self.width - mx)
                & (xy[..., 1] >= my) & (xy[..., 1] < self.height - my))

    def unproject(self, depth: np.ndarray) -> np.ndarray:
        """Depth buffer [H, W] (OpenGL [0, 1]) -> world points [H, W, 3] at pixel centres."""
        h, w = depth.shape
        xs = (np.arange(w) + 0.5) / w * 2 - 1
        ys = 1 - (np.arange(h) + 0.5) / h * 2
        ndc = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], depth * 2 - 1, np.ones_like(depth)), -1)
        p = ndc @ self._inv_pv.T
        return p[..., :3] / p[..., 3:4]

    def unproject_pixels(self, depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """World points [P, 3] of the pixels selected by `mask` [H, W]."""
        h, w = depth.shape
        v, u = np.nonzero(mask)
        ndc = np.stack([(u + 0.5) / w * 2 - 1, 1 - (v + 0.5) / h * 2, depth[v, u] * 2 - 1, np.ones(len(u))], -1)
        p = ndc @ self._inv_pv.T
        return p[:, :3] / p[:, 3:4]
