"""Checks for lesson 10: scaling out (each rank's share, gradients averaged with all_reduce, the LR for a bigger batch).

`check_average_gradients` runs the learner's function where it matters: in 2 processes joined by a gloo group on
loopback (forked from this kernel, so the function needs no pickling), against the gradient of the whole batch.
"""

from __future__ import annotations

import datetime
import math
import multiprocessing
import os
import queue
from typing import Any, cast

import torch
from torch import nn
from torch.utils.data.distributed import DistributedSampler

from ..distributed import free_port
from .feedback import exercise, fail, ok

WORLD, TIMEOUT_S, COLLECTIVE_TIMEOUT_S = 2, 30, 10  # a rank left waiting in a collective gives up after 10 s


@exercise("10")
def check_shard_indices(fn) -> str:
    """fn(n, rank, world_size) -> the indices rank reads: DistributedSampler's order without shuffling."""
    for n, world in [(10, 2), (10, 3), (7, 4), (5, 1), (2, 3), (12, 4)]:
        for rank in range(world):
            indices = cast(Any, range(n))  # a sequence is all DistributedSampler reads (its len)
            want: list[int] = list(DistributedSampler(indices, num_replicas=world, rank=rank, shuffle=False))
            got = [int(i) for i in fn(n, rank, world)]
            if got != want:
                per_rank = math.ceil(n / world)
                hint = (
                    "DistributedSampler interleaves: rank r reads r, r + world_size, r + 2 * world_size, ..."
                    if got == list(range(rank * per_rank, min(n, (rank + 1) * per_rank)))
                    else "Every rank needs as many examples (each step all-reduces): first repeat indices from the "
                    "start until there are world_size * ceil(n / world_size), then take every world_size-th."
                    if got == list(range(rank, n, world))
                    else "Pad range(n) with its first indices to world_size * ceil(n / world_size), then take "
                    "indices[rank::world_size]."
                )
                fail(f"shard_indices({n}, rank={rank}, world_size={world}) gave {got}, expected {want}.", hint)
    return ok("shard_indices splits the data exactly as DistributedSampler(shuffle=False) does.")


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 4, generator=g), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(4, 3)


def _rank_main(fn, rank: int, port: int, results) -> None:
    """One rank: join the group, backward on its half of the batch, call fn(model), send back its gradients."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=WORLD,
            timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S),
        )
        model, (x, y) = _model(), _batch()
        nn.functional.cross_entropy(model(x[rank::WORLD]), y[rank::WORLD]).backward()
        fn(model)
        results.put(
            (rank, "ok", [cast(torch.Tensor, p.grad).tolist() for p in model.parameters()])
        )  # lists: the process exits next
    except BaseException as err:  # noqa: B036 - whatever happens, the parent must hear of it
        results.put((rank, type(err).__name__, str(err)))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        os._exit(0)  # a forked kernel must not run the kernel's exit handlers


def _run_two_ranks(fn) -> dict:
    """{rank: ('ok', gradients) or (error name, message)} from 2 forked processes calling fn(model)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        fail("This check forks 2 processes, which this system cannot do.", "Run it on Linux or macOS.")
    context, port = multiprocessing.get_context("fork"), free_port()
    results = context.Queue()
    ranks = [context.Process(target=_rank_main, args=(fn, r, port, results), daemon=True) for r in range(WORLD)]
    for process in ranks:
        process.start()
    got: dict[int, tuple] = {}
    try:
        while len(got) < WORLD:
            rank, status, value = results.get(timeout=TIMEOUT_S)
            got[rank] = (status, value)
    except queue.Empty:
        pass
    finally:
        for process in ranks:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    return got


@exercise("10")
def check_average_gradients(fn) -> str:
    """fn(model) on 2 ranks, each after backward on half a batch: every rank ends with the whole batch's gradient."""
    got = _run_two_ranks(fn)
    errors = {rank: value for rank, (status, value) in got.items() if status != "ok"}
    if any(got[rank][0] == "NotImplementedError" for rank in errors):
        raise NotImplementedError(errors[min(errors)])
    if errors:
        rank = min(errors)
        # a collective that failed because another rank had finished without it (or never joined in time)
        waited = len(errors) < len(got) or any(word in errors[rank] for word in ("gloo", "Timed out", "timed out"))
        hint = _HANG_HINT if waited else "Each rank calls average_gradients(model) after its own backward pass."
        fail(f"On rank {rank}, average_gradients raised {got[rank][0]}: {errors[rank]}", hint)
    if len(got) < WORLD:
        fail(f"Only {len(got)} of the {WORLD} processes finished within {TIMEOUT_S} s.", _HANG_HINT)
    model, (x, y) = _model(), _batch()
    nn.functional.cross_entropy(model(x), y).backward()
    want = [cast(torch.Tensor, p.grad) for p in model.parameters()]
    local = _model()
    nn.functional.cross_entropy(local(x[0::WORLD]), y[0::WORLD]).backward()
    for rank in range(WORLD):
        grads = [torch.tensor(g) for g in got[rank][1]]
        if all(torch.allclose(g, w, atol=1e-6) for g, w in zip(grads, want)):
            continue
        if all(torch.allclose(g, WORLD * w, atol=1e-6) for g, w in zip(grads, want)):
            hint = "all_reduce adds the gradients of every rank: divide by dist.get_world_size() to average them."
        elif rank == 0 and all(
            torch.allclose(g, cast(torch.Tensor, p.grad), atol=1e-6) for g, p in zip(grads, local.parameters())
        ):
            hint = "The gradients are unchanged: call dist.all_reduce(p.grad) for every parameter with a gradient."
        else:
            hint = "For each parameter: dist.all_reduce(p.grad, op=dist.ReduceOp.SUM), then p.grad /= world size."
        fail(f"On rank {rank} the gradients are not the average over both ranks' halves of the batch.", hint)
    return ok("average_gradients gives every rank the gradient of the whole batch, as DDP does.")


_HANG_HINT = (
    "Every rank must call dist.all_reduce on the same parameters, in the same order (a rank that skips one "
    "leaves the others waiting); change p.grad in place."
)


@exercise("10")
def check_scaled_lr(fn) -> str:
    """fn(base_lr, base_batch, batch_per_process, processes) -> the linear scaling rule's learning rate."""
    cases = [(0.01, 24, 24, 2), (0.1, 256, 32, 8), (0.01, 24, 12, 2), (3e-4, 32, 64, 4)]
    for base_lr, base_batch, batch, processes in cases:
        want = base_lr * batch * processes / base_batch
        got = float(fn(base_lr, base_batch, batch, processes))
        if math.isclose(got, want, rel_tol=1e-9):
            continue
        k = batch * processes / base_batch
        hint = (
            "The effective batch is batch_per_process * processes: every process's batch goes into one step."
            if math.isclose(got, base_lr * batch / base_batch, rel_tol=1e-9)
            else "The linear rule multiplies the LR by k, the factor the batch grew by (not by sqrt(k))."
            if math.isclose(got, base_lr * math.sqrt(k), rel_tol=1e-9)
            else "k = effective batch / base_batch; the new LR is base_lr * k."
        )
        fail(
            f"scaled_lr(base_lr={base_lr}, base_batch={base_batch}, batch_per_process={batch}, processes={processes}) "
            f"gave {got:g}, expected {want:g}.",
            hint,
        )
    return ok("scaled_lr follows the linear scaling rule: k times the batch, k times the learning rate.")
