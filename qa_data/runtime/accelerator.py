"""The `accelerate.Accelerator` every entry point uses."""
from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from accelerate import Accelerator


def make_accelerator(**kwargs) -> Accelerator:
    """An Accelerator that is distributed whenever the launcher started several processes.

    On a machine without CUDA, `accelerate launch --multi_gpu --num_processes N` starts N processes
    but accelerate then sets up no process group: N independent single-process copies would run.
    There we ask for CPU processes, which joins them in a gloo group (accelerate's MULTI_CPU).
    """
    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if several and not torch.cuda.is_available():
        kwargs.setdefault("cpu", True)
    return Accelerator(**kwargs)


def release(accelerator: Accelerator) -> None:
    """Ends a distributed run cleanly: every process meets, then the process group is destroyed, so no
    gloo thread is left running at interpreter exit (which can abort a process after its work is done)."""
    import torch.distributed as dist

    if accelerator.num_processes > 1 and dist.is_available() and dist.is_initialized():
        accelerator.wait_for_everyone()
        dist.destroy_process_group()


@contextmanager
def random_streams_kept(accelerator: Accelerator) -> Iterator[None]:
    """Work inside training (an evaluation) that leaves every random stream a checkpoint saves (Python, numpy,
    torch on the CPU and on the accelerator's device) as it found them: the training after it is the one a run
    resumed from that checkpoint does."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    device = accelerator.device
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
