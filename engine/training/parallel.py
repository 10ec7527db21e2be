"""Data-parallel training on one machine's CPU cores (`train emoji-* --procs N`).

N worker processes (torch.distributed over gloo, a file store in a temporary folder) each take
their slice of every global batch; their gradients are averaged before clipping, so every
worker takes the same optimizer step, and the run's numbers are the one-process run's up to
float rounding. Rank 0 writes every file; the others only compute.

Why processes and not `--threads 2`: one process with two intra-op threads spins for a core
that another job holds, and lost most of its speed whenever the machine was shared
(docs/benchmarks.md, "Emoji stage I training speed"); a worker that waits for the other one
waits in gloo, without spinning.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from engine.errors import CheckpointError, EngineError

# a worker waits this long for another one (rank 0 writes sample grids and IF folders meanwhile)
TIMEOUT = timedelta(hours=3)


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def part(self, n: int) -> slice:
        """This worker's rows of a global batch of n (n is a multiple of world)."""
        size = n // self.world
        return slice(self.rank * size, (self.rank + 1) * size)


def current() -> Ranks:
    """The running worker's place (rank 0 of 1 outside a worker)."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def barrier(ranks: Ranks) -> None:
    if ranks.world > 1:
        dist.barrier()


def average(params: Sequence[torch.Tensor], values: Sequence[torch.Tensor], ranks: Ranks
            ) -> list[torch.Tensor]:
    """The params' gradients averaged over the workers in place (one all-reduce of one flat
    buffer), and `values` (scalars, e.g. the loss) averaged the same way and returned."""
    if ranks.world == 1:
        return list(values)
    grads = []
    for p in params:
        if p.grad is None:  # the same on every worker: the graph is the same
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    flat = torch.cat([g.reshape(-1).float() for g in grads]
                     + [v.detach().reshape(-1).float() for v in values])
    dist.all_reduce(flat)
    flat /= ranks.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()
    return [flat[offset + i].clone() for i in range(len(values))]


def run_workers(target: Callable[..., Any], procs: int, args: tuple) -> None:
    """target(*args) in `procs` worker processes joined in one gloo group; an error in any of
    them is raised here once, as the first worker to fail raised it."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="dc-workers-") as tmp:
        try:
            mp.spawn(_worker, args=(procs, tmp, os.getpid(), target, args), nprocs=procs,
                     join=True)
        except (mp.ProcessRaisedException, mp.ProcessExitedException):
            raise _first_error(Path(tmp)) from None


def _worker(rank: int, procs: int, tmp: str, parent: int, target: Callable[..., Any],
            args: tuple) -> None:
    _end_with(parent)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank,
                            world_size=procs, timeout=TIMEOUT)
    try:
        target(*args)
    except BaseException as error:
        record = {"time": time.time(), "rank": rank, "type": type(error).__name__,
                  "message": str(error)}
        (Path(tmp) / f"error-{rank}.json").write_text(json.dumps(record))
        raise
    finally:
        dist.destroy_process_group()


def _end_with(parent: int, every_s: float = 0.5) -> None:
    """The worker exits when the process that started it is gone (killed, or its terminal
    closed): the workers would go on training among themselves, and rank 0 would write into
    a run folder that a `--resume` started meanwhile writes too."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _first_error(tmp: Path) -> Exception:
    records = []
    for path in tmp.glob("error-*.json"):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    if not records:
        return EngineError("a training worker stopped without a message (killed, or out of "
                           "memory?)")
    first = min(records, key=lambda r: r["time"])
    kinds = {"CheckpointError": CheckpointError, "EngineError": EngineError}
    if first["type"] in kinds:
        return kinds[first["type"]](first["message"])
    return EngineError(f"training worker {first['rank']} failed: {first['type']}: "
                       f"{first['message']}")
