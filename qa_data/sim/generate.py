"""Generation of one CLEVRER-sim video (all its files) and of a whole dataset, in parallel,
resumably: a video is done when all its files exist, and every file is written under a temporary
name and renamed, so an interruption never leaves a partial file."""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa_data.clevrer.annotations import (
    Annotation,
    Collision,
    FrameState,
    ObjectProperty,
    ObjectState,
    trajectory_json,
    view_events_from_mask,
    write_json_atomic,
)
from qa_data.clevrer.layout import SPLITS, ClevrerLayout, video_filename
from qa_data.clevrer.masks import proposals_json
from qa_data.clevrer.video_io import write_video
from qa_data.config import config_to_dict
from qa_data.errors import DataError
from qa_data.runtime.run_lock import holds_lock
from qa_data.sim.config import GENERATOR_VERSION, GeneratorConfig
from qa_data.sim.physics import SimResult, World
from qa_data.sim.scene import SceneSpec, add_late_object, sample_scene

logger = logging.getLogger(__name__)
DECIMALS = 5


def _r(v) -> list[float]:
    return [round(float(x), DECIMALS) for x in v]


def _collisions_json(collisions) -> list[dict]:
    return [{"object_ids": list(c.object_ids), "frame_id": c.frame_id, "location": _r(c.location)}
            for c in collisions]


def _view_events_json(events) -> dict[str, list[dict]]:
    return {
        "enter": [{"object_id": e.object_id, "frame_id": e.frame_id} for e in events if e.kind == "in"],
        "exit": [{"object_id": e.object_id, "frame_id": e.frame_id} for e in events if e.kind == "out"],
    }


@dataclass
class SceneCheck:
    ok: bool
    penalty: float


def check_scene(cfg: GeneratorConfig, sim: SimResult, inside: np.ndarray, want_tail: bool) -> SceneCheck:
    """Acceptance of a simulated scene: visible collisions in range, no pair colliding twice
    (so 'the collision between A and B' is unique), a tail collision if one was aimed for,
    nothing fallen through the floor, something in view at the start. The penalty ranks
    attempts when none passes (the first two are hard, the rest soft)."""
    sc = cfg.scene
    visible = sum(c.frame_id < cfg.rendered_frames for c in sim.collisions)
    pairs = [c.object_ids for c in sim.collisions]
    repeats = len(pairs) - len(set(pairs))
    lost = int((sim.position[..., 2] < -0.5).any())
    empty_start = int(not inside[0].any())
    out_of_range = max(0, sc.min_visible_collisions - visible) + max(0, visible - sc.max_visible_collisions)
    no_tail = int(want_tail and not any(c.frame_id >= cfg.rendered_frames for c in sim.collisions))
    penalty = 10 * (lost + empty_start) + 2 * repeats + out_of_range + no_tail
    return SceneCheck(penalty == 0, penalty)


@dataclass
class VideoSummary:
    split: str
    index: int
    num_objects: int
    collisions: int
    enters: int
    exits: int
    tail_collisions: int
    attempts: int


def generate_video(world: World, split: str, index: int, layout: ClevrerLayout) -> VideoSummary:
    """Simulates, renders and writes every file of one video."""
    cfg, cam = world.cfg, world.camera
    rng = np.random.default_rng([cfg.seed, index])
    best: tuple[float, SceneSpec, SimResult, np.ndarray, dict[int, SimResult]] | None = None
    attempts = 0
    for attempts in range(1, cfg.scene.max_attempts + 1):
        scene = sample_scene(cfg, cam, rng)
        sim = world.simulate(scene)
        want_tail, without_late = scene.late is not None, {}
        if want_tail:
            scene = add_late_object(cfg, cam, scene, sim.position, rng)
            if len(scene.objects) > len(sim.object_ids):
                # the run without the late object is exactly its counterfactual
                without_late = {scene.objects[-1].object_id: sim}
                sim = world.simulate(scene)
        inside = cam.in_view(sim.position)  # [F, N]
        check = check_scene(cfg, sim, inside, want_tail)
        if best is None or check.penalty < best[0]:
            best = (check.penalty, scene, sim, inside, without_late)
        if check.ok:
            break
    _, scene, sim, inside, without_late = best
    R = cfg.rendered_frames
    props = [ObjectProperty(o.object_id, o.color, o.material, o.shape) for o in scene.objects]
    ids = sim.object_ids
    euler = sim.euler()

    # Counterfactuals: the collisions (and view events) of a re-simulation without each object.
    counterfactuals = []
    for o in scene.objects:
        if o.object_id in without_late:
            cf = without_late[o.object_id]
        else:
            cf = world.simulate(scene, remove=o.object_id, factual=sim)
        cf_events = view_events_from_mask(cam.in_view(cf.position), cf.object_ids)
        counterfactuals.append({"removed_object_id": o.object_id,
                                "collision": _collisions_json(cf.collisions),
                                **_view_events_json(cf_events)})

    frames, seg = world.render(scene, sim, R) if cfg.render else (None, None)

    states = [FrameState(k, tuple(ObjectState(oid, tuple(_r(sim.position[k, j])), tuple(_r(euler[k, j])),
                                              tuple(_r(sim.velocity[k, j])), tuple(_r(sim.angular_velocity[k, j])),
                                              bool(inside[k, j]))
                                  for j, oid in enumerate(ids)))
              for k in range(len(sim.position))]  # every simulated frame: the rendered ones, then the tail
    annotation = Annotation(
        scene_index=index, video_filename=video_filename(index), object_property=props,
        motion_trajectory=states[:R],
        collision=[Collision(c.object_ids, c.frame_id, tuple(_r(c.location)))
                   for c in sim.collisions if c.frame_id < R],
    )
    tail_view = [e for e in view_events_from_mask(inside[R - 1:], ids, first_frame=R - 1)]
    tail = {
        "video_index": index, "video_filename": video_filename(index),
        "first_frame": R, "num_frames": cfg.simulated_frames, "fps": cfg.fps,
        "collision": _collisions_json([c for c in sim.collisions if c.frame_id >= R]),
        **_view_events_json(tail_view),
        # the simulator's continuation after the rendered frames (what a perfect rollout would predict)
        "motion_trajectory": trajectory_json(states[R:]),
    }
    cf_file = {"video_index": index, "video_filename": video_filename(index),
               "num_frames": cfg.simulated_frames, "fps": cfg.fps, "counterfactuals": counterfactuals}

    if cfg.render:
        write_video(layout.video_path(split, index), frames, fps=cfg.fps, crf=cfg.video.crf,
                    pix_fmt=cfg.video.pix_fmt, preset=cfg.video.preset, x264_params=cfg.video.x264_params)
        write_json_atomic(layout.proposal_path(index), proposals_json(seg, props, index))
    write_json_atomic(layout.tail_events_path(index), tail)
    write_json_atomic(layout.counterfactual_path(index), cf_file)
    write_json_atomic(layout.annotation_path(split, index), annotation.to_json())  # last: marks done
    visible_view = view_events_from_mask(inside[:R], ids)
    return VideoSummary(split, index, len(props), len(annotation.collision),
                        sum(e.kind == "in" for e in visible_view), sum(e.kind == "out" for e in visible_view),
                        len(tail["collision"]), attempts)


def video_files(layout: ClevrerLayout, split: str, index: int, render: bool = True) -> list[Path]:
    pixels = [layout.video_path(split, index), layout.proposal_path(index)] if render else []
    return pixels + [layout.tail_events_path(index), layout.counterfactual_path(index),
                     layout.annotation_path(split, index)]


def is_complete(layout: ClevrerLayout, split: str, index: int, render: bool = True) -> bool:
    return all(p.is_file() for p in video_files(layout, split, index, render))


def split_ranges(cfg: GeneratorConfig) -> dict[str, tuple[int, int]]:
    """Contiguous global index ranges per split, in CLEVRER's order (train, validation, test)."""
    ranges, start = {}, 0
    for s in SPLITS:
        n = getattr(cfg.splits, s)
        ranges[s] = (start, start + n)
        start += n
    return ranges


# ------------------------------------------------------------------- parallel driver
_WORLD: World | None = None
_LAYOUT: ClevrerLayout | None = None
_INIT_ERROR: str | None = None


def _init_worker(cfg: GeneratorConfig, root: str) -> None:
    """A worker's setup; a failure is kept and reported with the worker's first video (a pool whose
    initializer raises would otherwise restart the worker for ever)."""
    global _WORLD, _LAYOUT, _INIT_ERROR
    try:
        _WORLD, _LAYOUT, _INIT_ERROR = World(cfg), ClevrerLayout(root), None
    except Exception as e:  # noqa: BLE001 - reported by the driver, naming the video
        _INIT_ERROR = f"the worker could not start: {type(e).__name__}: {e}"


def _run_task(task: tuple[str, int]) -> tuple[str, int, VideoSummary | None, str | None]:
    split, index = task
    if _INIT_ERROR is not None:
        return split, index, None, _INIT_ERROR
    try:
        return split, index, generate_video(_WORLD, split, index, _LAYOUT), None
    except Exception as e:  # reported per video by the driver, never swallowed
        return split, index, None, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}"


class GenerationFailed(RuntimeError):
    """A video could not be generated; the run stopped there (videos already written are kept)."""

    user_error = True  # reported in one line naming the video

    def __init__(self, split: str, index: int, error: str):
        self.split, self.index, self.error = split, index, error
        super().__init__(f"{split} video {index} failed: {error.splitlines()[0]}; the videos written so far are "
                         "kept, and rerunning the command continues after fixing the cause")

    def __reduce__(self):
        return (type(self), (self.split, self.index, self.error))


@dataclass
class GenerationReport:
    generated: int = 0
    already_done: int = 0
    summaries: list[VideoSummary] = field(default_factory=list)
    seconds: float = 0.0


def _manifest(cfg: GeneratorConfig, report: GenerationReport | None, ranges,
              failure: tuple[str, int, str] | None = None) -> dict:
    from importlib.metadata import PackageNotFoundError, version
    try:
        pkg = version("object-dynamics-reasoning")
    except PackageNotFoundError:
        pkg = "unknown"
    return {
        "generator": GENERATOR_VERSION, "package_version": pkg, "preset": cfg.preset, "seed": cfg.seed,
        "rendered": cfg.render,
        "config": config_to_dict(cfg),
        "splits": {s: {"first_index": a, "num_videos": b - a} for s, (a, b) in ranges.items()},
        "complete": report is not None and failure is None,
        "failed": [] if failure is None else [{"split": failure[0], "index": failure[1],
                                              "error": failure[2].splitlines()[0]}],
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def check_existing(layout: ClevrerLayout, cfg: GeneratorConfig) -> None:
    """Refuses to add to a dataset generated with another config or seed. A manifest whose run wrote no
    video yet (e.g. a run stopped by a bad setting) is replaced: nothing of it would be lost."""
    if not layout.manifest_path.exists():
        return
    try:
        with open(layout.manifest_path) as f:
            old = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(layout.manifest_path, f"malformed manifest ({e}); this is not a dataset this generator "
                                              "wrote, use a new --out directory") from None
    if old.get("config") == config_to_dict(cfg) and old.get("generator") == GENERATOR_VERSION:
        return
    written = [p for p in layout.root.rglob("annotation_*.json")]
    if not written:
        logger.warning("%s: replacing the manifest of an earlier run that wrote no video", layout.manifest_path)
        return
    raise DataError(
        layout.manifest_path,
        f"this dataset was generated with another config, seed or generator version ({old.get('generator')}, "
        f"preset {old.get('preset')}, seed {old.get('seed')}) and holds {len(written)} videos; use a new --out "
        "directory")


@holds_lock("out")
def generate_dataset(cfg: GeneratorConfig, out: str | Path, workers: int = 1,
                     progress: bool = True) -> GenerationReport:
    """Generates every missing video of every split. The first video that fails stops the run with
    GenerationFailed naming it; the videos already written are kept, and a rerun continues."""
    import time
    cfg.validate()
    layout = ClevrerLayout(out)
    layout.root.mkdir(parents=True, exist_ok=True)
    check_existing(layout, cfg)
    # temporaries of a killed earlier run (never renamed into place): remove them
    for stale in layout.root.rglob(".*.tmp*"):
        stale.unlink()
    ranges = split_ranges(cfg)
    write_json_atomic(layout.manifest_path, _manifest(cfg, None, ranges))
    tasks = [(s, i) for s, (a, b) in ranges.items() for i in range(a, b)]
    report = GenerationReport()
    todo = [t for t in tasks if not is_complete(layout, *t, render=cfg.render)]
    report.already_done = len(tasks) - len(todo)
    t0 = time.perf_counter()
    bar = tqdm(total=len(tasks), initial=report.already_done, desc="generate", unit="video", disable=not progress)
    failure: tuple[str, int, str] | None = None
    pool = None
    try:
        if workers <= 1 or len(todo) <= 1:
            _init_worker(cfg, str(layout.root))
            results = map(_run_task, todo)
        else:
            pool = ProcessPoolExecutor(min(workers, len(todo)), mp_context=mp.get_context("spawn"),
                                       initializer=_init_worker, initargs=(cfg, str(layout.root)))
            futures = {pool.submit(_run_task, t): t for t in todo}
            results = (_result(f, futures[f]) for f in as_completed(futures))
        for split, index, summary, err in results:
            if err is not None:
                failure = (split, index, err)
                logger.error("%s video %d failed: %s", split, index, err)
                break
            report.generated += 1
            report.summaries.append(summary)
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    report.seconds = time.perf_counter() - t0
    write_json_atomic(layout.manifest_path, _manifest(cfg, report, ranges, failure))
    if failure is not None:
        raise GenerationFailed(*failure)
    return report


def _result(future, task: tuple[str, int]) -> tuple[str, int, VideoSummary | None, str | None]:
    """A finished task's result; a worker that died (killed, out of memory) is that video's failure."""
    try:
        return future.result()
    except BrokenProcessPool as e:
        return task[0], task[1], None, f"a worker process died while generating it ({e})"
