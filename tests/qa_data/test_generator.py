"""CLEVRER-sim: schema, physical consistency, masks, determinism and resume."""
import json
import shutil

import numpy as np
import pytest
from scipy import ndimage

from qa_data.clevrer.annotations import COLORS, MATERIALS, SHAPES, load_annotation
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.masks import load_masks
from qa_data.clevrer.video_io import read_video
from qa_data.sim.generate import generate_dataset, split_ranges, video_files

OBJECT_KEYS = {"object_id", "location", "orientation", "velocity", "angular_velocity", "inside_camera_view"}


def _all(sim_data, cfg):
    layout = ClevrerLayout(sim_data)
    for split, (a, b) in split_ranges(cfg).items():
        for idx in range(a, b):
            yield layout, split, idx


def test_annotation_schema_matches_clevrer(sim_data, tiny_cfg):
    for layout, split, idx in _all(sim_data, tiny_cfg):
        raw = json.loads(layout.annotation_path(split, idx).read_text())
        assert set(raw) == {"scene_index", "video_filename", "object_property", "motion_trajectory", "collision"}
        assert raw["scene_index"] == idx and raw["video_filename"] == f"video_{idx:05d}.mp4"
        props = raw["object_property"]
        assert 3 <= len(props) <= 6
        assert len({(o["color"], o["material"], o["shape"]) for o in props}) == len(props)  # no two identical
        for o in props:
            assert set(o) == {"object_id", "color", "material", "shape"}
            assert o["color"] in COLORS and o["material"] in MATERIALS and o["shape"] in SHAPES
        assert [f["frame_id"] for f in raw["motion_trajectory"]] == list(range(128))
        for fr in raw["motion_trajectory"]:
            assert sorted(o["object_id"] for o in fr["objects"]) == sorted(o["object_id"] for o in props)
            for s in fr["objects"]:
                assert set(s) == OBJECT_KEYS and isinstance(s["inside_camera_view"], bool)
                assert all(len(s[k]) == 3 and all(isinstance(v, float) for v in s[k])
                           for k in ("location", "orientation", "velocity", "angular_velocity"))
        for c in raw["collision"]:
            assert set(c) == {"object_ids", "frame_id", "location"} and len(c["object_ids"]) == 2
            assert 0 <= c["frame_id"] < 128
        load_annotation(layout.annotation_path(split, idx))  # typed reader accepts it


def _surface_distance(client, h, shape_a, pose_a, shape_b, pose_b) -> float:
    """Closest distance between two objects' surfaces at the given (location, euler) poses."""
    import pybullet

    def body(shape, pose):
        if shape == "cube":
            col = pybullet.createCollisionShape(pybullet.GEOM_BOX, halfExtents=[h] * 3, physicsClientId=client)
        elif shape == "sphere":
            col = pybullet.createCollisionShape(pybullet.GEOM_SPHERE, radius=h, physicsClientId=client)
        else:
            col = pybullet.createCollisionShape(pybullet.GEOM_CYLINDER, radius=h, height=2 * h, physicsClientId=client)
        return pybullet.createMultiBody(1, col, -1, pose[0], pybullet.getQuaternionFromEuler(pose[1]),
                                        physicsClientId=client)

    pybullet.resetSimulation(physicsClientId=client)
    a, b = body(shape_a, pose_a), body(shape_b, pose_b)
    pts = pybullet.getClosestPoints(a, b, distance=10.0, physicsClientId=client)
    return min(p[8] for p in pts)


def test_collisions_are_contacts(sim_data, tiny_cfg):
    """At an annotated collision's frame the two objects' surfaces touch (within the distance
    they close in one frame), checked geometrically from the annotated poses."""
    import pybullet

    client = pybullet.connect(pybullet.DIRECT)
    h, dt = tiny_cfg.physics.object_half_size, 1.0 / tiny_cfg.fps
    n = 0
    try:
        for layout, split, idx in _all(sim_data, tiny_cfg):
            ann = load_annotation(layout.annotation_path(split, idx))
            for c in ann.collision:
                fr = ann.motion_trajectory[c.frame_id]
                st = {s.object_id: s for s in fr.objects}
                a, b = (st[i] for i in c.object_ids)
                gap = _surface_distance(client, h, ann.object(a.object_id).shape, (a.location, a.orientation),
                                        ann.object(b.object_id).shape, (b.location, b.orientation))
                closing = np.linalg.norm(np.subtract(a.velocity, b.velocity)) * dt
                assert gap <= closing + 0.01, (idx, c, gap, closing)
                assert np.linalg.norm(np.subtract(a.location, c.location)) <= 2 * h * np.sqrt(3)
                n += 1
    finally:
        pybullet.disconnect(client)
    assert n > 0


def test_tail_events_and_counterfactuals(sim_data, tiny_cfg):
    for layout, split, idx in _all(sim_data, tiny_cfg):
        ann = load_annotation(layout.annotation_path(split, idx))
        tail = json.loads(layout.tail_events_path(idx).read_text())
        assert tail["first_frame"] == 128 and tail["num_frames"] == 175
        assert all(c["frame_id"] >= 128 for c in tail["collision"])
        assert all(e["frame_id"] >= 128 for e in tail["enter"] + tail["exit"])
        factual = [(tuple(c.object_ids), c.frame_id) for c in ann.collision] + \
                  [(tuple(c["object_ids"]), c["frame_id"]) for c in tail["collision"]]
        cf = json.loads(layout.counterfactual_path(idx).read_text())["counterfactuals"]
        assert sorted(c["removed_object_id"] for c in cf) == sorted(o.object_id for o in ann.object_property)
        for entry in cf:
            removed = entry["removed_object_id"]
            assert all(removed not in c["object_ids"] for c in entry["collision"])
            if all(removed not in pair for pair, _ in factual):  # it touched nothing: same outcome
                assert [(tuple(c["object_ids"]), c["frame_id"]) for c in entry["collision"]] == factual


def test_the_tail_file_carries_the_simulators_continuation(sim_data, tiny_cfg):
    """Frames 128..174 of the same simulation, in the annotation's schema: positions continue the annotated
    motion (one frame's step from the last annotated frame), for the same objects."""
    dt = 1.0 / tiny_cfg.fps
    for layout, split, idx in _all(sim_data, tiny_cfg):
        ann = load_annotation(layout.annotation_path(split, idx))
        future = json.loads(layout.tail_events_path(idx).read_text())["motion_trajectory"]
        assert [f["frame_id"] for f in future] == list(range(128, 175))
        last = {s.object_id: s for s in ann.motion_trajectory[-1].objects}
        first = {o["object_id"]: o for o in future[0]["objects"]}
        assert set(first) == set(last)
        for oid, state in last.items():
            step = np.asarray(first[oid]["location"]) - np.asarray(state.location)
            assert np.linalg.norm(step[:2]) <= np.linalg.norm(state.velocity[:2]) * dt * 1.5 + 0.02, (idx, oid)


def test_masks_agree_with_pixels(sim_data, tiny_cfg):
    checked = 0
    for layout, split, idx in _all(sim_data, tiny_cfg):
        ann = load_annotation(layout.annotation_path(split, idx))
        video = read_video(layout.video_path(split, idx)).astype(np.float32)  # [T, H, W, 3]
        masks = load_masks(layout.proposal_path(idx), ann.object_property)  # [T, H, W]
        assert masks.shape == video.shape[:3]
        inside = ann.inside_view()
        for t in range(0, 128, 16):
            for n, o in enumerate(ann.object_property):
                m = masks[t] == o.object_id + 1
                if inside[t, n]:
                    assert m.any(), f"video {idx} frame {t}: in-view object {o.object_id} has no mask"
                if m.sum() < 6:
                    continue
                ring = ndimage.binary_dilation(m, iterations=2) & ~ndimage.binary_dilation(m) & (masks[t] == 0)
                if ring.sum() < 4:
                    continue
                diff = np.abs(video[t][m].mean(0) - video[t][ring].mean(0)).sum()
                assert diff > 25, f"video {idx} frame {t} object {o.description()}: mask pixels look like floor"
                checked += 1
    assert checked > 20


def test_same_seed_same_data_and_resume(tmp_path, sim_data, tiny_cfg):
    root = tmp_path / "again"
    layout, ref = ClevrerLayout(root), ClevrerLayout(sim_data)
    # an interrupted run: two complete videos and a stray temporary file of a third
    first = generate_dataset(tiny_cfg, root, workers=1, progress=False)
    assert first.generated == 6
    victim = split_ranges(tiny_cfg)["train"][0] + 1
    layout.annotation_path("train", victim).unlink()
    layout.proposal_path(victim).unlink()
    stray = layout.proposal_path(victim).parent / f".proposal_{victim:05d}.json.tmp4242"
    stray.write_text("partial")
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*.json") if "annotation" in p.name}
    again = generate_dataset(tiny_cfg, root, workers=2, progress=False)
    assert (again.generated, again.already_done) == (1, 5)
    assert not stray.exists() and not list(root.rglob(".*.tmp*"))
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # complete videos untouched
    # identical to the reference run, byte for byte (annotations, masks, tail, counterfactuals)
    for split, (a, b) in split_ranges(tiny_cfg).items():
        for idx in range(a, b):
            for mine, theirs in zip(video_files(layout, split, idx)[1:], video_files(ref, split, idx)[1:]):
                assert mine.read_bytes() == theirs.read_bytes(), mine


def test_refuses_to_mix_configs(tmp_path, tiny_cfg):
    import copy
    generate_dataset(tiny_cfg, tmp_path, workers=1, progress=False)
    other = copy.deepcopy(tiny_cfg)
    other.seed = 7
    with pytest.raises(ValueError, match="another config"):
        generate_dataset(other, tmp_path, workers=1, progress=False)


def test_different_seed_different_scenes(tmp_path, sim_data, tiny_cfg):
    import copy
    other = copy.deepcopy(tiny_cfg)
    other.seed = 1
    other.splits.train, other.splits.validation, other.splits.test = 1, 0, 0
    generate_dataset(other, tmp_path, workers=1, progress=False)
    a = ClevrerLayout(tmp_path).annotation_path("train", 0).read_bytes()
    assert a != ClevrerLayout(sim_data).annotation_path("train", 0).read_bytes()


def test_failures_are_reported(tmp_path, tiny_cfg, monkeypatch):
    import qa_data.sim.generate as gen

    def boom(*a, **k):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(gen, "generate_video", boom)
    with pytest.raises(gen.GenerationFailed, match="train video 0 failed: RuntimeError: renderer exploded"):
        gen.generate_dataset(tiny_cfg, tmp_path, workers=1, progress=False)  # the first failure stops the run
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["complete"] is False and [f["index"] for f in manifest["failed"]] == [0]
    assert not list(tmp_path.rglob("annotation_*.json"))  # nothing half-written
    shutil.rmtree(tmp_path)


def test_the_same_frames_encode_to_the_same_bytes(tmp_path):
    """x264's mbtree made the bitstream depend on memory it does not initialise (about 1 in 3 encodings differed
    within a process); the generator's videos must be a function of the config and seed."""
    import hashlib

    from qa_data.clevrer.video_io import read_video, write_video

    rng = np.random.default_rng(0)
    frames = (rng.random((40, 64, 96, 3)) * 255).astype(np.uint8)
    frames[:, 10:30, 10:30] = 200
    digests = set()
    for _ in range(16):
        write_video(tmp_path / "v.mp4", frames, crf=16)
        digests.add(hashlib.md5((tmp_path / "v.mp4").read_bytes()).hexdigest())
        read_video(tmp_path / "v.mp4")  # decoding between encodings changes what the heap holds
    assert len(digests) == 1
