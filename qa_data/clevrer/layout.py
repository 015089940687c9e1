"""Paths of the real CLEVRER layout (also written by the CLEVRER-sim generator).

    videos/<split>/video_00000-01000/video_00000.mp4      (or a folder of PNG frames video_00000/)
    annotations/<split>/annotation_00000-01000/annotation_00000.json
    derender_proposals/proposal_00000.json
    questions/{train,validation,test}.json
    tail_events/tail_00000.json, counterfactuals/counterfactual_00000.json   (CLEVRER-sim extensions)

`val` is accepted wherever CLEVRER says `validation` (SlotFormer's layout uses it).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from qa_data.config import ConfigError

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {"val": "validation", "valid": "validation"}
# Global video indices of the full CLEVRER dataset.
CLEVRER_SPLIT_RANGES = {"train": (0, 10000), "validation": (10000, 15000), "test": (15000, 20000)}
CHUNK = 1000  # videos per sub-folder

_VIDEO_RE = re.compile(r"^video_(\d{5,})(\.mp4)?$")
_ANNOTATION_RE = re.compile(r"^annotation_(\d{5,})\.json$")


class NoPixelsError(FileNotFoundError):
    """A dataset generated without pixels (`generate_data.py --no-render`) asked for videos."""


def canonical_split(split: str) -> str:
    """`val` -> `validation`; rejects unknown names."""
    name = SPLIT_ALIASES.get(split, split)
    if name not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of {SPLITS} (or 'val')")
    return name


def chunk_name(prefix: str, index: int) -> str:
    """`video_00000-01000` for index 0..999, as CLEVRER names its sub-folders."""
    k = index // CHUNK
    return f"{prefix}_{k * CHUNK:05d}-{(k + 1) * CHUNK:05d}"


def video_filename(index: int) -> str:
    return f"video_{index:05d}.mp4"


@dataclass(frozen=True)
class ClevrerLayout:
    """Locates every file of one CLEVRER(-sim) dataset root."""

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    def _split_dir(self, kind: str, split: str) -> Path:
        split = canonical_split(split)
        candidates = [self.root / kind / split] + [
            self.root / kind / alias for alias, name in SPLIT_ALIASES.items() if name == split
        ]
        for c in candidates:
            if c.is_dir():
                return c
        return candidates[0]

    def video_path(self, split: str, index: int) -> Path:
        return self._split_dir("videos", split) / chunk_name("video", index) / f"video_{index:05d}.mp4"

    def frames_dir(self, split: str, index: int) -> Path:
        """A folder of PNG frames, the alternative to the mp4."""
        return self._split_dir("videos", split) / chunk_name("video", index) / f"video_{index:05d}"

    def video_source(self, split: str, index: int) -> Path:
        """The mp4 if present, else the PNG folder if present, else the mp4 path (for the error)."""
        mp4 = self.video_path(split, index)
        if mp4.exists():
            return mp4
        frames = self.frames_dir(split, index)
        return frames if frames.is_dir() else mp4

    def annotation_path(self, split: str, index: int) -> Path:
        return (self._split_dir("annotations", split) / chunk_name("annotation", index)
                / f"annotation_{index:05d}.json")

    def proposal_path(self, index: int) -> Path:
        return self.root / "derender_proposals" / f"proposal_{index:05d}.json"

    def tail_events_path(self, index: int) -> Path:
        return self.root / "tail_events" / f"tail_{index:05d}.json"

    def counterfactual_path(self, index: int) -> Path:
        return self.root / "counterfactuals" / f"counterfactual_{index:05d}.json"

    def questions_path(self, split: str) -> Path:
        split = canonical_split(split)
        qdir = self.root / "questions"
        for name in [split] + [a for a, n in SPLIT_ALIASES.items() if n == split]:
            if (qdir / f"{name}.json").exists():
                return qdir / f"{name}.json"
        return qdir / f"{split}.json"

    def answer_key_path(self, split: str) -> Path:
        """Our own answer key for a split whose question file has no answers (test)."""
        return self.root / "questions" / f"{canonical_split(split)}_answers.json"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def questions_manifest_path(self) -> Path:
        """Written last by the question generator: its presence marks finished question files."""
        return self.root / "questions" / "questions_manifest.json"

    @property
    def dataset_id(self) -> str:
        """What makes this dataset's videos, annotations and questions (CLEVRER-sim: a hash of its manifest's
        generator version, seed, config and split ranges, `clevrer-sim:<16 hex>`); "" where the dataset carries
        no such record (real CLEVRER, an unreadable manifest)."""
        try:
            manifest = json.loads(self.manifest_path.read_text())
            made_by = {k: manifest[k] for k in ("generator", "seed", "config", "splits")}
        except (OSError, ValueError, KeyError, TypeError):
            return ""
        digest = hashlib.sha256(json.dumps(made_by, sort_keys=True).encode()).hexdigest()
        return f"clevrer-sim:{digest[:16]}"

    @property
    def rendered(self) -> bool:
        """False only for a CLEVRER-sim dataset whose manifest says it was generated without pixels."""
        if not self.manifest_path.is_file():
            return True  # real CLEVRER has no manifest
        try:
            return bool(json.loads(self.manifest_path.read_text()).get("rendered", True))
        except (OSError, ValueError):
            return True

    def require_pixels(self) -> None:
        """Raises NoPixelsError, naming the dataset, if it has no videos by design."""
        if not self.rendered:
            raise NoPixelsError(
                f"{self.root}: this dataset was generated with --no-render (manifest.json: rendered false) and has "
                "no videos or masks; it serves annotations and questions (scripts/extract_states.py, QA training "
                "on state caches) but not perception training, evaluation or slot extraction. Generate it "
                "again without --no-render for pixels.")

    def annotation_indices(self, split: str) -> list[int]:
        """Indices of the annotations present in a split, sorted (works with or without videos)."""
        base = self._split_dir("annotations", split)
        if not base.is_dir():
            raise FileNotFoundError(f"{base}: no annotation folder for split {split!r} under {self.root}")
        found = set()
        for chunk in base.iterdir():
            if chunk.is_dir():
                for entry in chunk.iterdir():
                    m = _ANNOTATION_RE.match(entry.name)
                    if m:
                        found.add(int(m.group(1)))
        return sorted(found)

    def video_indices(self, split: str) -> list[int]:
        """Indices of the videos present in a split (mp4 files or PNG frame folders), sorted."""
        self.require_pixels()
        base = self._split_dir("videos", split)
        if not base.is_dir():
            raise FileNotFoundError(f"{base}: no video folder for split {split!r} under {self.root}")
        found = set()
        for chunk in base.iterdir():
            if not chunk.is_dir():
                continue
            for entry in chunk.iterdir():
                m = _VIDEO_RE.match(entry.name)
                if m and (entry.suffix == ".mp4" or entry.is_dir()):
                    found.add(int(m.group(1)))
        return sorted(found)
