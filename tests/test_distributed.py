"""`fit` under torchrun: 2 processes with gloo on loopback against one process with the big batch.

One torchrun launch (tests/ddp_worker.py, module fixture) serves the equivalence, History, early-stopping, resume and
rank-0-only tests; a second one crashes a rank. Each launch is bounded by a timeout; the rendezvous is 127.0.0.1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from tlcourse import distributed, storage, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ddp_worker as worker  # noqa: E402

WORKER = Path(worker.__file__)
LAUNCH_TIMEOUT = 150  # seconds: startup of 3 Python processes importing torch on 2 loaded cores, plus 3 tiny fits


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of the 2 ranks of the `train` run saved, with the run's folder."""
    out = tmp_path_factory.mktemp("ddp")
    distributed.torchrun(WORKER, out, "train", nproc=2, timeout=LAUNCH_TIMEOUT)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)], out


def reference(label: str, tmp_path) -> dict:
    """The same fit in this process, not distributed, with the big batch: 16 = 2 ranks x 8, one shared order.

    DistributedSampler with one replica draws the same permutation (seed + epoch) the two ranks split between them.
    """
    train_set = worker.data(worker.N_TRAIN, 0)
    sampler = DistributedSampler(train_set, num_replicas=1, rank=0, shuffle=True, seed=0)
    loader = DataLoader(train_set, batch_size=2 * worker.BATCH, sampler=sampler)
    val = DataLoader(worker.data(worker.N_VAL, 1), batch_size=64)
    model = worker.mlp()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    kwargs = {"epochs": 2, "checkpoint": tmp_path / "ref.pt"}
    if label == "early":
        stopper = train.EarlyStopping(patience=2)
        kwargs = {"epochs": 6, "scheduler": worker.ascent_after_first_epoch(sgd), "early_stopping": stopper}
    history = train.fit(model, loader, val, optimizer=sgd, device="cpu", progress=False, **kwargs)
    return {"history": history, "weights": model.state_dict()}


def max_abs_diff(a: dict, b: dict) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.slow
def test_two_ranks_of_8_train_like_one_process_with_batch_16(ranks, tmp_path):
    (r0, r1), _ = ranks
    assert (r0["rank"], r1["rank"], r0["world"]) == (0, 1, 2)
    ref = reference("plain", tmp_path)
    moved = max_abs_diff(ref["weights"], worker.mlp().state_dict())
    assert moved > 1e-2  # 10 SGD steps really changed the weights
    assert max_abs_diff(r0["plain"]["weights"], ref["weights"]) < 1e-6
    assert max_abs_diff(r0["plain"]["weights"], r1["plain"]["weights"]) == 0.0  # the replicas stay identical
    for got, want in zip(r0["plain"]["records"], ref["history"].records, strict=True):
        assert got["train_acc"] == want["train_acc"] and got["val_acc"] == want["val_acc"]
        assert got["train_loss"] == pytest.approx(want["train_loss"], abs=1e-6)
        assert got["val_loss"] == pytest.approx(want["val_loss"], abs=1e-6)


@pytest.mark.slow
def test_history_is_identical_on_every_rank(ranks):
    (r0, r1), _ = ranks
    for label in ("plain", "early", "resumed"):
        assert r0[label]["records"] == r1[label]["records"]  # seconds included: the slowest rank's
        for key in ("stop_reason", "best_epoch"):
            assert r0[label][key] == r1[label][key]
    assert len(r0["plain"]["records"]) == 2 and r0["plain"]["records"][0]["epoch"] == 1


@pytest.mark.slow
def test_early_stopping_stops_and_restores_the_same_epoch_on_every_rank(ranks, tmp_path):
    (r0, r1), _ = ranks
    ref = reference("early", tmp_path)
    assert r0["early"]["stop_reason"] == "early stopping" == ref["history"].stop_reason
    assert r0["early"]["best_epoch"] == 1 == ref["history"].best_epoch
    assert len(r0["early"]["records"]) == len(ref["history"]) == 3
    assert max_abs_diff(r0["early"]["weights"], r1["early"]["weights"]) == 0.0
    assert max_abs_diff(r0["early"]["weights"], ref["weights"]) < 1e-6


@pytest.mark.slow
def test_only_rank_0_prints_and_writes_the_checkpoint(ranks):
    (r0, r1), out = ranks
    assert r0["checkpoint_writes"] == [str(out / "ckpt.pt")] * 3  # 2 epochs, then the resumed third
    assert r1["checkpoint_writes"] == []
    assert "epochs" in r0["plain"]["printed"] and "Resuming ckpt.pt after epoch 2." in r0["resumed"]["printed"]
    assert all(r1[label]["printed"] == "" for label in ("plain", "early", "resumed"))
    model = worker.mlp()
    state = storage.load_checkpoint(out / "ckpt.pt", model)
    assert state["epoch"] == 3 and [r["epoch"] for r in state["history"]] == [1, 2, 3]
    assert max_abs_diff(model.state_dict(), r1["resumed"]["weights"]) == 0.0
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_a_crashed_rank_is_named_and_leaves_no_half_written_checkpoint(tmp_path):
    done = distributed.torchrun(WORKER, tmp_path, "crash", nproc=2, timeout=LAUNCH_TIMEOUT, check=False)
    report = done.stderr + done.stdout
    assert done.returncode != 0
    assert distributed.failed_rank(done.stderr) == 1, report[-3000:]  # torchrun's root cause: rank 1
    assert "rank 1 crashed on purpose" in report
    assert not list(tmp_path.glob(".*.tmp"))
    state = storage.load_checkpoint(tmp_path / "crash.pt", worker.mlp())  # epoch 1's, complete
    assert state["epoch"] == 1


def test_outside_torchrun_the_helpers_are_single_process():
    loader = DataLoader(TensorDataset(torch.zeros(10, 2)), batch_size=4, shuffle=True)
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.shard(loader) is loader and not distributed.is_sharded(loader)
    assert distributed.sum_over_ranks(1.5, 2) == [1.5, 2.0] and distributed.ranks_where(True) == [0]
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}
    model = torch.nn.Linear(3, 2)
    assert distributed.wrap(model, torch.device("cpu")) is model and distributed.gradient_bytes(model) == 8 * 4


def test_shard_sampler_splits_without_padding_and_steps_count_the_padding():
    shares = [list(distributed.ShardSampler(range(21), num_replicas=2, rank=r)) for r in range(2)]
    assert shares == [list(range(0, 21, 2)), list(range(1, 21, 2))]
    assert distributed.steps_per_epoch(245, 16, 2) == 8 and distributed.steps_per_epoch(245, 16, 2, drop_last=True) == 7
    assert distributed.effective_batch(16, 2) == 32


def test_loaders_that_cannot_be_split_by_rank_get_a_clear_error():
    data = TensorDataset(torch.zeros(10, 2))
    weighted = torch.utils.data.WeightedRandomSampler([1.0] * 10, 10)
    for loader, what in [
        ([(torch.zeros(2), torch.zeros(2))], "list"),
        (DataLoader(data, batch_size=None), "batch_size=None"),
        (DataLoader(data, sampler=weighted, batch_size=2), "WeightedRandomSampler"),
    ]:
        with pytest.raises(TypeError, match=what):
            distributed._check_shardable(loader)
    assert distributed._check_shardable(DataLoader(data, batch_size=2, shuffle=True)) is True
