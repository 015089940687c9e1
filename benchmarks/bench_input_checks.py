"""What the input checks of docs/reliability.md cost: reading with and without them.

    python benchmarks/bench_input_checks.py [--repeats 5]

Generates 3 tiny CLEVRER-sim videos with questions in a temporary folder, then times, per file: decoding a
proposal file's RLE masks (at the generated 96x64, and upscaled to CLEVRER's 480x320), parsing an
annotation, and parsing a question file, each with the checks and with them switched off.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from contextlib import contextmanager

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils
from summary import emit  # noqa: E402  (benchmarks/summary.py)

import qa_data.clevrer.masks as masks
from qa_data.clevrer.annotations import parse_annotation
from qa_data.clevrer.layout import ClevrerLayout
from qa_data.clevrer.questions import parse_questions
from qa_data.qgen.config import build_question_config
from qa_data.qgen.generate import generate_questions
from qa_data.sim.config import build_config
from qa_data.sim.generate import generate_dataset


def timed(fn, repeats: int) -> float:
    """Median wall seconds of `fn()`."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


@contextmanager
def rle_checks_off():
    saved = masks.check_rle
    masks.check_rle = lambda *args, **kwargs: None
    try:
        yield
    finally:
        masks.check_rle = saved


def upscaled(proposal: dict, factor: int) -> dict:
    """The proposal file with every mask upscaled `factor` times (a CLEVRER-sized file from a tiny one)."""
    out = json.loads(json.dumps(proposal))
    for fr in out["frames"]:
        for ob in fr["objects"]:
            m = mask_utils.decode({"size": ob["mask"]["size"], "counts": ob["mask"]["counts"].encode()})
            big = np.kron(m, np.ones((factor, factor), dtype=np.uint8))
            rle = mask_utils.encode(np.asfortranarray(big))
            ob["mask"] = {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(build_config("tiny", 3, 0, []), tmp, workers=1, progress=False)
        generate_questions(tmp, build_question_config(), workers=1, progress=False)
        layout = ClevrerLayout(tmp)
        proposal = json.loads(layout.proposal_path(0).read_text())
        annotation = json.loads(layout.annotation_path("train", 0).read_text())
        questions = json.loads(layout.questions_path("train").read_text())
    for label, data in (("96x64", proposal), ("480x320 (upscaled)", upscaled(proposal, 5))):
        n = sum(len(fr["objects"]) for fr in data["frames"])
        checked = timed(lambda: masks.decode_proposals(data), args.repeats)
        with rle_checks_off():
            plain = timed(lambda: masks.decode_proposals(data), args.repeats)
        rows.append({"read": f"proposal file, {n} masks, {label}", "checked ms": 1000 * checked,
                     "unchecked ms": 1000 * plain})
    rows.append({"read": f"annotation, {len(annotation['motion_trajectory'])} frames (checked)",
                 "checked ms": 1000 * timed(lambda: parse_annotation(annotation), args.repeats),
                 "unchecked ms": np.nan})
    nq = sum(len(s["questions"]) for s in questions)
    rows.append({"read": f"question file, {nq} questions (checked)",
                 "checked ms": 1000 * timed(lambda: parse_questions(questions), args.repeats), "unchecked ms": np.nan})
    table = pd.DataFrame(rows)
    table["overhead"] = (table["checked ms"] / table["unchecked ms"] - 1).map(
        lambda v: f"{100 * v:+.0f} %" if np.isfinite(v) else "-")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(table.to_markdown(index=False, floatfmt=".2f"))
    big = table.iloc[1]
    emit("input checks", [{"setup": big["read"], "figure": "RLE checks' overhead on decoding",
                           "value": round(100 * (big["checked ms"] / big["unchecked ms"] - 1)), "unit": "%"}])


if __name__ == "__main__":
    main()
