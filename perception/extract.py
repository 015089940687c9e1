"""Slot extraction: a trained perception model run over every video of a split, its per-frame
slot features written to the HDF5 cache of `qa_data.slots.slot_cache`.

Work is cut into fixed batches of consecutive videos (the same cut for any number of processes
and for every rerun), so each video's features come from the same computation however the run
is distributed or interrupted. Processes take pending batches round-robin and compute; every
round the results are gathered to the main process, the only writer, which places rows by video
index and marks them done. Rerunning fills in what is still pending; a cache made by another
checkpoint or with other settings is refused.

`rollout=N` (video models with a predictor: ODDN and its variants, PROVIDE) appends N frames the model
predicts after the observed ones, at the cache's stride, which must be the model's training stride (a
prediction step is one training step apart). The cache marks them predicted (`observed_frames`), and N is
part of the producer's identity: a QA model trained on a rollout cache is refused a cache without one.

`track=True` (models that decompose each frame on its own: IODINE, ODDN) reorders each frame's slots into tracks
(`perception.tracking`), so that one slot index is one object through the video, as the QA stage's object-track
tokens read it; predicted frames continue the last observed frame's order. The cache's `slot_tracks` attribute says
where its tracks come from: `model` (PROVIDE's slots are tracks), `matched` (tracked here) or `none`.

`ground=True` (slot tracks and a dataset with instance masks) also records which annotated object each slot track
holds (`slot_objects`, `perception.tracking.track_objects`): the model's masks of the observed frames against the
annotation's, the target of the QA stage's grounding loss on perception slots. Evaluation never reads it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, gather_object
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from perception.loaded_run import LoadedRun
from perception.registry import (
    decompose,
    feature_dims,
    is_video_model,
    model_class,
    model_label,
    rollout_features,
    slot_features,
)
from perception.tracking import apply_order, rollout_order, track_objects
from qa_data.clevrer.datasets import ClipConfig
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.config import ConfigError, config_to_dict
from qa_data.errors import DataError
from qa_data.provenance import code_version, file_sha256
from qa_data.runtime.accelerator import make_accelerator
from qa_data.runtime.precision import PRECISIONS, resolve_precision
from qa_data.runtime.run_lock import holds_lock
from qa_data.slots.slot_cache import (  # noqa: F401
    DONE,
    FORMAT,
    FORMAT_VERSION,
    PENDING,
    SKIPPED,
    CacheMismatch,
    CacheWriter,
    SlotLayout,
    check_or_create,
    read_attrs,
    split_file,
)
from qa_data.sources import open_clips, split_name, video_frames, video_indices

logger = logging.getLogger(__name__)

DTYPES = ("float16", "float32")


@dataclass
class ExtractConfig:
    """Settings of one extraction (`scripts/extract_slots.py` flags)."""

    split: str = "train"
    frame_stride: int = 0  # every S-th source frame; 0: the model's training stride (frames.frame_stride)
    batch_size: int = 4  # videos per forward pass; part of the cache identity (it fixes the batches)
    dtype: str = "float16"  # stored feature type: float16 | float32
    precision: str = "auto"  # autocast: auto (bf16 on GPU and CPUs with native bf16, else none) | no | bf16 | fp16
    num_videos: int = 0  # the first N videos of the split (0: all)
    num_workers: int = 0  # DataLoader workers decoding videos, per process
    retry_skipped: bool = False  # recompute videos skipped by an earlier run (e.g. after repairing them)
    rollout: int = 0  # frames predicted past the last observed one (video models with a predictor)
    track: bool = False  # reorder each frame's slots into tracks (models that decompose frame by frame)
    ground: bool = False  # record the annotated object of each slot track (needs tracks and instance masks)
    ground_min_share: float = 0.5  # a track holds its object in at least this share of the frames the object is in

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not 0 < self.ground_min_share <= 1:
            raise ConfigError(f"--ground-min-share must be in (0, 1], got {self.ground_min_share}")
        if self.batch_size < 1 or self.frame_stride < 0 or self.num_videos < 0 or self.rollout < 0:
            raise ConfigError("--batch-size must be >= 1, --frame-stride, --num-videos and --rollout >= 0; got "
                              f"{self.batch_size}, {self.frame_stride}, {self.num_videos}, {self.rollout}")


@dataclass
class ExtractResult:
    path: Path
    computed: int  # videos whose features this run wrote
    already_done: int  # videos done before this run
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (video index, reason), this run
    seconds: float = 0.0  # the extraction loop (model loading and file creation excluded)
    layout: SlotLayout | None = None  # what the cache holds per slot and frame

    @property
    def videos_per_second(self) -> float:
        return (self.computed + len(self.skipped)) / self.seconds if self.seconds > 0 else float("nan")


def video_seeds(video_index: torch.Tensor, frame_index: torch.Tensor, source_frames: int) -> torch.Tensor:
    """Latent-noise seeds [B, T]: one per (video, source frame), independent of batching."""
    span = max(1000, source_frames)
    return video_index[:, None] * span + frame_index[None, :]


def cache_attrs(loaded: LoadedRun, data_root: Path, split: str, ecfg: ExtractConfig, layout: SlotLayout,
                precision: str, indices: list[int], source_frames: int) -> dict:
    cfg = loaded.cfg
    extraction = {"frame_stride": layout.frame_stride, "batch_size": ecfg.batch_size, "dtype": ecfg.dtype,
                  "precision": precision}
    producer_id, label = file_sha256(loaded.path), model_label(cfg)
    if ecfg.rollout:
        extraction["rollout"] = ecfg.rollout
        # the checkpoint and N: a rollout cache is another feature source than the same model's observed frames
        producer_id = hashlib.sha256(f"{producer_id}+rollout={ecfg.rollout}".encode()).hexdigest()
        label = f"{label}+rollout"
    if ecfg.track:
        extraction["track"] = True
        producer_id = hashlib.sha256(f"{producer_id}+track".encode()).hexdigest()  # other slot order, other source
    if ecfg.ground:
        extraction["ground"] = True  # the same features with targets beside them: the same producer
    attrs = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "model": cfg.model, "model_label": label,
        "producer": "perception", "producer_id": producer_id, "source_sha256": "",
        "producer_info": json.dumps({"checkpoint": str(loaded.path.resolve()), "checkpoint_step": loaded.step,
                                     "perception_config": config_to_dict(cfg)}, sort_keys=True),
        "extraction": json.dumps(extraction, sort_keys=True), "dataset": cfg.frames.dataset,
        "data_root": str(Path(data_root).resolve()), "dataset_id": ClevrerLayout(data_root).dataset_id,
        "split": split, **layout.attrs(), "slot_tracks": slot_tracks(cfg, ecfg), "source_frames": source_frames,
        "resolution": list(cfg.frames.preprocess.size),
        "video_index_first": indices[0], "video_index_last": indices[-1], "num_videos": len(indices),
        "code_version": code_version(),
    }
    if ecfg.ground:
        attrs["grounding"] = json.dumps({"rule": "per observed frame, an object is held by the slot with most of its "
                                                 "pixels; tracks and objects paired one to one by frames held",
                                         "min_share": ecfg.ground_min_share}, sort_keys=True)
    return attrs


def slot_tracks(cfg, ecfg: ExtractConfig) -> str:
    """Where a cache's slot tracks come from: `model`, `matched` (`ecfg.track`) or `none`."""
    if model_class(cfg).tracks_slots:
        return "model"
    return "matched" if ecfg.track else "none"


class VideoBatches(Dataset):
    """Item i: the videos of batch i, `{"video_index": [ints], "frames": [b, T, 3, H, W] or None, "masks":
    [b, T, H, W] instance ids or None (clips without masks), "skipped": [(video index, reason)]}`; a video that
    cannot be read is a skip, never a partial row."""

    def __init__(self, root: Path, split: str, dataset: str, clip: ClipConfig, batches: list[list[int]]):
        self.root, self.split, self.dataset, self.clip, self.batches = root, split, dataset, clip, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict:
        good, frames, masks, skipped = [], [], [], []
        for idx in self.batches[i]:
            try:
                item = open_clips(self.root, self.split, self.clip, self.dataset, indices=[idx])[0]
            except DataError as e:
                skipped.append((idx, str(e)))
                continue
            good.append(idx)
            frames.append(item["frames"])  # [T, 3, H, W]
            if self.clip.with_masks:
                masks.append(torch.as_tensor(item["masks"]))  # [T, H, W]
        return {"video_index": good, "frames": torch.stack(frames) if frames else None,
                "masks": torch.stack(masks) if masks else None, "skipped": skipped}


def _as_is(item):
    return item


@holds_lock("slots_dir")
def extract(loaded: LoadedRun, data_root: Path, slots_dir: Path, ecfg: ExtractConfig,
            accelerator: Accelerator | None = None, progress: bool = True) -> ExtractResult:
    """Fills `slots_dir/<split>.h5` with the features of every pending video; every process calls it."""
    accelerator = accelerator or make_accelerator()
    cfg, model = loaded.cfg, loaded.model
    device = accelerator.device
    model.to(device).eval().requires_grad_(False)  # inference still differentiates w.r.t. the latents
    dataset = cfg.frames.dataset
    split = split_name(ecfg.split, dataset)
    data_root = Path(data_root)
    indices = video_indices(data_root, split, dataset)
    if ecfg.num_videos:
        indices = indices[:ecfg.num_videos]
    if not indices:
        raise DataError(data_root, f"split {split!r} has no videos")
    source_frames = video_frames(data_root, split, dataset)
    stride = ecfg.frame_stride or cfg.frames.frame_stride
    frame_index = list(range(0, source_frames, stride))  # observed
    if ecfg.rollout:
        if not is_video_model(cfg):
            raise ConfigError(f"--rollout: {model_label(cfg)} is an image model with no predictor to roll out; "
                              "rollouts need a video model (ODDN and its variants, PROVIDE)")
        if stride != cfg.frames.frame_stride:
            raise ConfigError(f"--rollout needs the model's training stride ({cfg.frames.frame_stride}): one "
                              f"prediction step is that many frames, not --frame-stride {stride}")
    if ecfg.track and model_class(cfg).tracks_slots:
        raise ConfigError(f"--track: {model_label(cfg)} carries each slot from frame to frame; its slots are tracks "
                          "already")
    if ecfg.ground and slot_tracks(cfg, ecfg) == "none":
        raise ConfigError(f"--ground pairs each slot track with an object, but {model_label(cfg)} decomposes every "
                          "frame on its own: add --track")
    if ecfg.ground and dataset != "clevrer":
        raise ConfigError(f"--ground needs CLEVRER(-sim) annotations; {dataset} has no annotated objects")
    observed = len(frame_index)
    frame_index += [frame_index[-1] + stride * i for i in range(1, ecfg.rollout + 1)]  # predicted
    if stride != cfg.frames.frame_stride and feature_dims(model, cfg)[1]:
        logger.warning("frame stride %d differs from the model's training stride %d: its dynamics were learned "
                       "between frames %d apart", stride, cfg.frames.frame_stride, cfg.frames.frame_stride)
    precision = resolve_precision(ecfg.precision, device)
    layout = SlotLayout(*feature_dims(model, cfg), num_slots=cfg.iodine.num_slots, frame_stride=stride,
                        frames_per_video=len(frame_index), observed_frames=observed)
    attrs = cache_attrs(loaded, data_root, split, ecfg, layout, precision, indices, source_frames)
    dim = layout.dim
    path = split_file(slots_dir, split)

    # The main process creates or checks the cache and reads its status; the others get the verdict.
    message = [None, None]
    if accelerator.is_main_process:
        try:
            check_or_create(path, attrs, indices, frame_index, dim, ecfg.dtype)
            writer = CacheWriter(path)
            message = [writer.status(), None]
        except DataError as e:
            message = [None, e]
    if accelerator.num_processes > 1:
        broadcast_object_list(message)
    status, error = message
    if error is not None:
        raise error

    wanted = {PENDING, SKIPPED} if ecfg.retry_skipped else {PENDING}
    batches = [indices[i:i + ecfg.batch_size] for i in range(0, len(indices), ecfg.batch_size)]
    row_of = {v: i for i, v in enumerate(indices)}
    pending = [b for b in batches if any(int(status[row_of[v]]) in wanted for v in b)]
    already = int((status == DONE).sum())
    todo = sum(len(b) for b in pending)
    world, rank = accelerator.num_processes, accelerator.process_index
    mine = pending[rank::world]
    rounds = math.ceil(len(pending) / world)
    if accelerator.is_main_process:
        logger.info("%s: %d of %d videos already done, %d to extract in %d batches on %d process(es)",
                    path, already, len(indices), todo, len(pending), world)

    clip = ClipConfig(clip_len=observed, stride=stride, random_start=False, start_frame=0, with_masks=ecfg.ground,
                      expected_frames=source_frames, preprocess=cfg.frames.preprocess)
    loader = iter(DataLoader(VideoBatches(data_root, split, dataset, clip, mine), batch_size=None,
                             num_workers=ecfg.num_workers, collate_fn=_as_is))
    frame_t = torch.tensor(frame_index[:observed], dtype=torch.long)
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    result = ExtractResult(path=path, computed=0, already_done=already, layout=layout)
    bar = tqdm(total=todo, unit="video", desc=f"extract {split}",
               disable=not (progress and accelerator.is_main_process))
    start = time.perf_counter()
    for r in range(rounds):
        out = None
        if r < len(mine):
            item = next(loader)
            feats = objects = None
            if item["frames"] is not None:
                video = item["frames"].to(device)  # [b, T, 3, H, W]
                seeds = video_seeds(torch.tensor(item["video_index"]), frame_t, source_frames).to(device)  # [b, T]

                def autocast():
                    return torch.autocast(device.type, dtype=amp) if amp is not None else nullcontext()

                with autocast():
                    f = (rollout_features(model, cfg, video, ecfg.rollout, seeds) if ecfg.rollout  # [b, T + N, K, D]
                         else slot_features(model, cfg, video, seeds))  # [b, T, K, D]
                order = None
                if ecfg.track:
                    order = rollout_order(f.float(), layout.d_static, observed)  # [b, T (+ N), K]
                    f = apply_order(f, order)  # slot j: track j
                if ecfg.ground:
                    with autocast():
                        masks = decompose(model, cfg, video, seeds).masks.float()  # [b, T, K, h, w], slot order of f
                    if order is None:  # the model's slots are tracks
                        order = torch.arange(masks.shape[2], device=masks.device).expand(*masks.shape[:3])
                    objects = torch.stack([track_objects(item["masks"][j], masks[j].cpu(), order[j, :observed].cpu(),
                                                         ecfg.ground_min_share)
                                           for j in range(len(item["video_index"]))]).numpy()  # [b, K]
                if f.shape != (len(item["video_index"]), len(frame_index), layout.num_slots, dim):
                    raise RuntimeError(f"{model_label(cfg)} gave features {list(f.shape)}, expected "
                                       f"[{len(item['video_index'])}, {len(frame_index)}, {attrs['num_slots']}, {dim}]")
                feats = f.float().cpu().numpy().astype(ecfg.dtype)
            out = (item["video_index"], feats, objects, item["skipped"])
        gathered = gather_object([out]) if world > 1 else [out]
        if accelerator.is_main_process:
            for part in gathered:
                if part is None:
                    continue
                videos, feats, objects, skipped = part
                for j, v in enumerate(videos):
                    if np.isfinite(feats[j]).all():
                        writer.write(v, feats[j], objects=None if objects is None else objects[j])
                        result.computed += 1
                    else:
                        skipped.append((v, "the model gave non-finite features"))
                for v, reason in skipped:
                    logger.warning("skipped video %d: %s", v, reason)
                    writer.skip(v, reason)
                result.skipped += skipped
                writer.flush()
                bar.update(len(set(videos) | {v for v, _ in skipped}))
            logger.info("round %d/%d written", r + 1, rounds)
    result.seconds = time.perf_counter() - start
    bar.close()
    if accelerator.is_main_process:
        final = writer.status()
        writer.close()
        left = int((final == PENDING).sum())
        if left:
            raise RuntimeError(f"{path}: {left} videos still pending after extraction")
    counts = [result.computed, result.skipped]
    if world > 1:
        counts = broadcast_object_list(counts)
    result.computed, result.skipped = counts
    return result
