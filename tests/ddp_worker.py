"""One rank of tests/test_distributed.py, launched by torchrun: `ddp_worker.py OUT {train,crash}`.

train: three `fit` calls on a tiny MLP (2 epochs of plain SGD, 10 steps; early stopping; resuming the first run's
checkpoint), each rank saving its weights, History, printed text and checkpoint writes to OUT/rank<r>.pt.
crash: rank 1 raises in its 8th step (epoch 2) while rank 0 waits for it in an all-reduce.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import torch
from torch import nn
from torch.distributed.elastic.multiprocessing.errors import record
from torch.utils.data import DataLoader, TensorDataset

from tlcourse import distributed, train

N_TRAIN, N_VAL, BATCH = 80, 21, 8  # 2 ranks x 8 = one batch of 16; 80 / 16 = 5 steps an epoch


def data(n: int, seed: int) -> TensorDataset:
    """A small learnable problem: 3 classes from 6 features."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return TensorDataset(x, (x[:, :3].argmax(1)).long())


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def ascent_after_first_epoch(optimizer):
    """LR turns negative after epoch 1 (gradient ascent): validation worsens, so early stopping keeps epoch 1."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0 if e == 0 else -1.0)


def run(label: str, out: dict, **kwargs):
    """One fit, with what it printed (stdout and stderr, progress bars included) and the weights it left."""
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        history = train.fit(device="cpu", **kwargs)
    model = kwargs["model"]
    out[label] = {
        "records": history.records,
        "stop_reason": history.stop_reason,
        "best_epoch": history.best_epoch,
        "weights": {k: v.clone() for k, v in model.state_dict().items()},
        "printed": text.getvalue(),
    }


@record  # a failing rank writes its traceback for torchrun's report, which then names the rank that failed first
def main(out_dir: Path, mode: str) -> None:
    distributed.setup("cpu", timeout_s=60)
    me = distributed.rank()
    writes = []
    save = train.save_checkpoint  # count this rank's checkpoint writes (a test's wrapper, not the product's code)
    train.save_checkpoint = lambda *a, **k: (writes.append(a[0]), save(*a, **k))[1]
    loader = DataLoader(data(N_TRAIN, 0), batch_size=BATCH, shuffle=True)
    val = DataLoader(data(N_VAL, 1), batch_size=BATCH)
    out: dict = {"rank": me, "world": distributed.world_size()}
    if mode == "crash":
        crash_fit(loader, out_dir)
    model = mlp()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    run("plain", out, model=model, train_loader=loader, val_loader=val, optimizer=sgd, epochs=2,
        checkpoint=out_dir / "ckpt.pt")  # fmt: skip
    model = mlp()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    stopper = train.EarlyStopping(patience=2)
    run("early", out, model=model, train_loader=loader, val_loader=val, optimizer=sgd, epochs=6,
        scheduler=ascent_after_first_epoch(sgd), early_stopping=stopper)  # fmt: skip
    model = mlp()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    run("resumed", out, model=model, train_loader=loader, val_loader=val, optimizer=sgd, epochs=3,
        checkpoint=out_dir / "ckpt.pt", resume=True)  # fmt: skip
    out["checkpoint_writes"] = [str(p) for p in writes]
    torch.save(out, out_dir / f"rank{me}.pt")
    distributed.teardown()


def crash_fit(loader, out_dir: Path) -> None:
    """Rank 1's loss raises at its 8th batch (epoch 2, after one checkpoint); rank 0 then waits in an all-reduce."""
    calls = []

    def loss_fn(logits, y):
        calls.append(1)
        if distributed.rank() == 1 and len(calls) == 8:
            raise RuntimeError("rank 1 crashed on purpose")
        return nn.functional.cross_entropy(logits, y)

    model = mlp()
    train.fit(model, loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, device="cpu",
              loss_fn=loss_fn, checkpoint=out_dir / "crash.pt", progress=False)  # fmt: skip
    sys.exit(0)  # not reached on rank 1; rank 0 is stopped by torchrun


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
