"""Training on several processes with torch.distributed (launched by `torchrun`): who am I, my share, sums over all.

Every helper is a no-op when torch.distributed is not initialised, so code written with them runs unchanged in one
process. `train.fit` uses them; a script launched by torchrun calls `setup()` first and `teardown()` last::

    device = distributed.setup()                 # gloo on the CPU, nccl on CUDA (one GPU per process)
    history = train.fit(model, loader, val_loader, optimizer=..., epochs=..., device=device)
    if distributed.is_main():                    # rank 0 alone writes files and prints
        ...
    distributed.teardown()

`torchrun(script, *args)` launches such a script from Python (a notebook, a test) on this machine only.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader, IterableDataset, RandomSampler, Sampler, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from .runtime import pick_device

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def is_initialized() -> bool:
    """Whether this process is one of several (torch.distributed has a process group)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's number, 0 to world_size() - 1 (0 in a single process)."""
    return dist.get_rank() if is_initialized() else 0


_this_rank = rank  # for ShardSampler, whose argument is named `rank` as DistributedSampler's


def world_size() -> int:
    """How many processes train together (1 in a single process)."""
    return dist.get_world_size() if is_initialized() else 1


def local_rank() -> int:
    """This process's number on its own machine (torchrun's LOCAL_RANK): which GPU it drives."""
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main() -> bool:
    """True on rank 0, the process that prints, draws and writes files (and in a single process)."""
    return rank() == 0


def setup(device: str | torch.device | None = None, timeout_s: float = 300) -> torch.device:
    """Join the process group torchrun describes (its environment variables); returns this rank's device.

    Outside torchrun (no RANK/WORLD_SIZE in the environment) nothing is initialised: one process, as usual.
    The backend follows the device: nccl with one GPU per process (LOCAL_RANK picks it), gloo on the CPU.
    """
    device = pick_device(device)
    if is_initialized() or "WORLD_SIZE" not in os.environ:
        return rank_device(device)
    missing = [name for name in TORCHRUN_ENV if name not in os.environ]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not set: launch this script with torchrun --nproc-per-node N.")
    device = rank_device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(device), timeout=datetime.timedelta(seconds=timeout_s))
    return device


def backend_for(device: torch.device) -> str:
    """nccl for CUDA tensors, gloo for CPU tensors: the backends torch recommends for each."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def rank_device(device: torch.device) -> torch.device:
    """The device this rank uses: under torchrun, on CUDA, the GPU numbered LOCAL_RANK unless an index was given."""
    device = torch.device(device)
    launched = is_initialized() or "LOCAL_RANK" in os.environ
    if launched and device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank())
    return device


def teardown() -> None:
    """Leave the process group (a no-op in a single process)."""
    if is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model in DistributedDataParallel when distributed (rank 0's weights copied to all); else the model."""
    if not is_initialized() or isinstance(model, DistributedDataParallel):
        return model
    ids = [device.index] if torch.device(device).type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def gradient_bytes(model: nn.Module) -> int:
    """Bytes DDP all-reduces per step: every gradient of a parameter that trains, once."""
    return sum(p.numel() * p.element_size() for p in unwrap(model).parameters() if p.requires_grad)


class ShardSampler(Sampler[int]):
    """Rank r's share of a dataset: examples r, r + W, r + 2W, ... with no padding, so each counts exactly once.

    DistributedSampler pads with repeated examples so every rank has as many batches (training needs that: each
    step all-reduces); evaluation has no collective per batch, and its sums must count every example once.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None):
        self.size = len(dataset)
        self.num_replicas = world_size() if num_replicas is None else num_replicas
        self.rank = _this_rank() if rank is None else rank

    def __iter__(self):
        return iter(range(self.rank, self.size, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.num_replicas))


def is_sharded(loader) -> bool:
    """Whether `loader` reads one rank's share (its sums must be added over ranks) in a distributed run."""
    return is_initialized() and isinstance(getattr(loader, "sampler", None), (DistributedSampler, ShardSampler))


def shard(loader, *, pad: bool = True, seed: int = 0):
    """The same DataLoader reading this rank's share: DistributedSampler (pad=True, for training), else ShardSampler.

    Batch size, workers, collate function and drop_last are kept; the loader's batch size becomes the batch per
    process, so the effective batch is world_size() times it. A shuffling loader shuffles with one permutation per
    epoch shared by all ranks (seed + epoch; `set_epoch` each epoch). Unchanged when not distributed or already sharded.
    """
    if not is_initialized() or is_sharded(loader):
        return loader
    shuffle = _check_shardable(loader)
    sampler: Sampler[int]
    if pad:
        sampler = DistributedSampler(loader.dataset, shuffle=shuffle, seed=seed)
    else:
        sampler = ShardSampler(loader.dataset)
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        prefetch_factor=loader.prefetch_factor,
        persistent_workers=loader.persistent_workers,
    )


def _check_shardable(loader) -> bool:
    """Whether the loader shuffles; a clear TypeError for loaders whose order cannot be split by rank."""
    fix = "Pass a torch DataLoader with shuffle=True/False, or one whose sampler is already a DistributedSampler."
    if not isinstance(loader, DataLoader) or isinstance(loader.dataset, IterableDataset):
        raise TypeError(f"Cannot give each rank its share of a {type(loader).__name__}. {fix}")
    if loader.batch_size is None or type(loader.batch_sampler) is not BatchSampler:
        raise TypeError(f"Cannot shard a DataLoader with a custom batch_sampler or batch_size=None. {fix}")
    if type(loader.sampler) not in (SequentialSampler, RandomSampler) or getattr(loader.sampler, "replacement", False):
        raise TypeError(f"Cannot shard a DataLoader with a {type(loader.sampler).__name__}. {fix}")
    return isinstance(loader.sampler, RandomSampler)


def set_epoch(loader, epoch: int) -> None:
    """Tell a DistributedSampler the epoch, so each epoch shuffles differently (and identically on every rank)."""
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)


def _reduce(values, op) -> list[float]:
    """All-reduce a few numbers in float64 (exact for counts below 2**53); identity in a single process."""
    if not is_initialized():
        return [float(v) for v in values]
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=op)
    return tensor.tolist()


def sum_over_ranks(*values: float) -> list[float]:
    """Each value added up over all ranks (loss sums, right answers, counts): the same numbers on every rank."""
    return _reduce(values, dist.ReduceOp.SUM if is_initialized() else None)


def max_over_ranks(*values: float) -> list[float]:
    """Each value's maximum over all ranks (e.g. seconds: an epoch lasts as long as its slowest rank)."""
    return _reduce(values, dist.ReduceOp.MAX if is_initialized() else None)


def ranks_where(flag: bool) -> list[int]:
    """The ranks on which `flag` is true, known to every rank (so all take the same branch); [0] or [] alone."""
    flags = [0.0] * world_size()
    flags[rank()] = float(bool(flag))
    return [r for r, f in enumerate(sum_over_ranks(*flags)) if f]


def broadcast_object(obj=None, src: int = 0):
    """Rank `src`'s picklable object on every rank (e.g. a choice made once by rank 0); `obj` in a single process."""
    if not is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    """Wait until every rank gets here (e.g. until rank 0 has written a file the others read)."""
    if is_initialized():
        dist.barrier()


def free_port() -> int:
    """A TCP port free on the loopback interface, for the rendezvous of one local run."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(script, *args: str, nproc: int = 2, timeout: float = 600, threads: int | None = None, check: bool = True):
    """Run `script` under `torchrun --nproc-per-node nproc` on this machine only (loopback, a free port).

    `threads` sets each process's OMP_NUM_THREADS (torchrun's default is 1 with several processes). Returns the
    CompletedProcess (stdout and stderr as text); with check=True a failed run raises RuntimeError with torchrun's
    report, which names the rank that failed first.
    """
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", "--nnodes=1"]
    command += ["--master-addr=127.0.0.1", f"--master-port={free_port()}", str(Path(script)), *map(str, args)]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1"}
    if Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # gloo talks over loopback, never another interface
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        first = failed_rank(done.stderr)
        who = f"rank {first} failed first" if first is not None else "a rank failed"
        tail = "\n".join(done.stderr.splitlines()[-40:])
        raise RuntimeError(f"torchrun exited with {done.returncode}: {who}. Its report:\n{tail}")
    return done


def failed_rank(report: str) -> int | None:
    """The rank torchrun's error report names as the root cause (the first failure), or None."""
    found = re.search(r"Root Cause \(first observed failure\):.*?rank\s*:\s*(\d+)", report, re.DOTALL)
    return int(found.group(1)) if found else None


def effective_batch(batch_per_process: int, processes: int | None = None) -> int:
    """Examples per optimiser step: every process's batch, since their gradients are averaged into one step."""
    return batch_per_process * (world_size() if processes is None else processes)


def steps_per_epoch(examples: int, batch_per_process: int, processes: int, drop_last: bool = False) -> int:
    """Optimiser steps in an epoch with DistributedSampler's padding: every rank reads ceil(examples / processes)."""
    share = math.ceil(examples / processes)
    return share // batch_per_process if drop_last else math.ceil(share / batch_per_process)
