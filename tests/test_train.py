"""The training loop on tiny synthetic data: early stopping, resume, NaN guard, checkpoints, time budget, steps."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tlcourse import runtime, storage, train
from tlcourse.errors import CheckpointError


def loaders(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] > 0).long()
    return DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True), DataLoader(TensorDataset(x, y), batch_size=64)


def sgd_fit(model, tr, va, lr=0.1, **kwargs):
    """`fit` on the CPU with plain SGD: what most of these tests need, plus the option under test."""
    return train.fit(model, tr, va, optimizer=torch.optim.SGD(model.parameters(), lr=lr), device="cpu", **kwargs)


def test_fit_learns_and_records_history():
    runtime.seed_everything(0)
    model, (tr, va) = nn.Linear(5, 2), loaders()
    h = sgd_fit(model, tr, va, lr=0.5, epochs=5)
    assert len(h) == 5 and h.last["val_acc"] > 0.9 and h["epoch"] == [1, 2, 3, 4, 5]
    assert all(r["seconds"] > 0 and r["lr"] == 0.5 for r in h.records)


def test_early_stopping_restores_the_best_epoch():
    model, (tr, va) = nn.Linear(5, 2), loaders()
    stopper = train.EarlyStopping(patience=2, monitor="val_loss")
    # after epoch 1 the learning rate turns negative (gradient ascent): validation gets worse, epoch 1 stays best
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 if e == 0 else -1.0)
    h = train.fit(model, tr, va, optimizer=opt, scheduler=sched, epochs=10, early_stopping=stopper, device="cpu")
    assert h.stop_reason == "early stopping" and h.best_epoch == 1 and len(h) == 3
    assert train.evaluate(model, va).loss == pytest.approx(h.records[0]["val_loss"], rel=1e-5)
    assert train.replay_early_stopping(h["val_loss"], patience=2) == (len(h), h.best_epoch)  # the replay agrees
    assert h.best_record["val_acc"] == pytest.approx(train.evaluate(model, va).acc)  # the restored model's score
    assert all(0 < r["train_seconds"] <= r["seconds"] for r in h.records)  # the validation pass is left out


def test_replay_early_stopping_on_recorded_losses():
    assert train.replay_early_stopping([1.0, 0.8, 0.9, 0.95, 0.7], patience=2) == (4, 2)
    assert train.replay_early_stopping([1.0, 0.8, 0.9, 0.95, 0.7], patience=3) == (5, 5)
    assert train.replay_early_stopping([0.5, 0.5, 0.5], patience=2) == (3, 1)  # equal is not better


def test_resume_continues_the_epoch_count(tmp_path):
    ckpt = tmp_path / "run.pt"
    model, (tr, va) = nn.Linear(5, 2), loaders()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train.fit(model, tr, va, optimizer=opt, epochs=2, checkpoint=ckpt, device="cpu")
    model2 = nn.Linear(5, 2)
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.1)
    h = train.fit(model2, tr, va, optimizer=opt2, epochs=4, checkpoint=ckpt, resume=True, device="cpu")
    assert h["epoch"] == [1, 2, 3, 4]
    assert torch.load(ckpt, weights_only=True)["epoch"] == 4


def test_existing_checkpoint_is_never_overwritten_silently(tmp_path):
    ckpt = tmp_path / "run.pt"
    model, (tr, va) = nn.Linear(5, 2), loaders()
    sgd_fit(model, tr, va, epochs=1, checkpoint=ckpt)
    before = ckpt.read_bytes()
    with pytest.raises(CheckpointError, match="resume=True"):
        sgd_fit(model, tr, va, epochs=1, checkpoint=ckpt)
    other = nn.Sequential(nn.Linear(5, 3), nn.Linear(3, 2))
    with pytest.raises(CheckpointError, match="different architecture.*missing"):
        sgd_fit(other, tr, va, epochs=2, checkpoint=ckpt, resume=True)
    assert ckpt.read_bytes() == before


def test_checkpoint_mismatch_names_keys(tmp_path):
    path = storage.save_checkpoint(tmp_path / "a.pt", nn.Linear(5, 2))
    with pytest.raises(CheckpointError, match=r"shape differs: \['bias', 'weight'\]"):
        storage.load_checkpoint(path, nn.Linear(5, 3))
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


def test_nan_guard_stops_and_keeps_best_weights(capsys):
    model, (tr, va) = nn.Linear(5, 2), loaders()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 if e < 2 else float("inf"))
    h = train.fit(
        model,
        tr,
        va,
        optimizer=opt,
        scheduler=sched,
        epochs=5,
        device="cpu",
        early_stopping=train.EarlyStopping(patience=None),
    )
    assert "non-finite loss in epoch 3" in h.stop_reason and len(h) == 2 and h.best_epoch == 2
    assert "Best weights (epoch 2) restored" in capsys.readouterr().out
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert train.evaluate(model, va).loss == pytest.approx(h.records[1]["val_loss"], rel=1e-5)


def test_nan_guard_without_early_stopping_says_the_weights_are_not_restored(capsys):
    model, (tr, va) = nn.Linear(5, 2), loaders()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 if e < 2 else float("inf"))
    h = train.fit(model, tr, va, optimizer=opt, scheduler=sched, epochs=5, device="cpu")
    assert "non-finite loss in epoch 3" in h.stop_reason and h.best_epoch == 2
    assert "pass early_stopping=" in capsys.readouterr().out


def test_fit_copies_no_weights_unless_early_stopping_is_asked(monkeypatch):
    copies = []
    monkeypatch.setattr(train.copy, "deepcopy", lambda obj, *a: copies.append(obj) or obj)
    model, (tr, va) = nn.Linear(5, 2), loaders()
    h = sgd_fit(model, tr, va, lr=0.5, epochs=3)
    assert copies == [] and h.best_epoch == h.best_epoch_of("val_loss")


def test_history_records_every_param_groups_lr():
    model, (tr, va) = nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 2)), loaders()
    opt = torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 1e-3},
            {"params": model[1].parameters(), "lr": 1e-2},
            {"params": [], "lr": 1e-4},
        ],
        lr=1.0,
    )
    h = train.fit(model, tr, va, optimizer=opt, epochs=1, device="cpu", progress=False)
    assert h.last["lrs"] == [1e-3, 1e-2, 1e-4] and h.last["lr"] == 1e-2  # lr: the largest, the head's


def test_time_budget_stops_training():
    model, (tr, va) = nn.Linear(5, 2), loaders()
    h = sgd_fit(model, tr, va, epochs=1000, time_budget=0.0001)
    assert len(h) == 1 and "time budget" in h.stop_reason


def test_steps_counts_optimizer_steps_and_ends_an_epoch_part_way():
    model, (tr, va) = nn.Linear(5, 2), loaders()  # 4 batches an epoch
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    taken = []
    optimizer.register_step_post_hook(lambda *_: taken.append(1))
    h = train.fit(model, tr, va, optimizer=optimizer, steps=10, device="cpu", progress=False)
    assert len(taken) == 10 and h["epoch"] == [1, 2, 3] and h.last["val_acc"] is not None


def test_steps_matching_whole_epochs_trains_like_epochs():
    runs = []
    for budget in ({"epochs": 2}, {"steps": 8}):
        runtime.seed_everything(0)
        model, (tr, va) = nn.Linear(5, 2), loaders()
        h = sgd_fit(model, tr, va, progress=False, **budget)
        runs.append((model.weight.detach().clone(), h["train_loss"]))
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]


@pytest.mark.parametrize("budget", [{}, {"epochs": 2, "steps": 8}, {"steps": 0}])
def test_epochs_or_steps_exactly_one_is_asked_for(budget):
    model, (tr, va) = nn.Linear(5, 2), loaders()
    with pytest.raises(ValueError, match="epochs|steps"):
        sgd_fit(model, tr, va, **budget)


def test_predict_returns_probabilities():
    model, (_, va) = nn.Linear(5, 2), loaders()
    probs = train.predict(model, va)
    assert probs.shape == (64, 2) and torch.allclose(probs.sum(1), torch.ones(64))


def test_photo_batches_go_channels_last_on_cpu_tiny_ones_do_not():
    cpu = torch.device("cpu")
    assert runtime.to_device(torch.zeros(2, 3, 64, 80), cpu).is_contiguous(memory_format=torch.channels_last)
    digits = runtime.to_device(torch.zeros(2, 1, 8, 8), cpu)
    assert digits.is_contiguous() and digits.stride() == (64, 64, 8, 1)


def test_atomic_save_from_two_processes_at_once_leaves_one_complete_file(tmp_path):
    import multiprocessing

    target = tmp_path / "shared.pt"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_save_many, args=(target, i)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert torch.load(target, weights_only=True).shape == (256, 256)
    assert not list(tmp_path.glob(".*.tmp")) and oct(target.stat().st_mode & 0o777) == "0o644"


def _save_many(path, value):
    for _ in range(20):
        storage.atomic_save(torch.full((256, 256), float(value)), path)


def test_live_plot_is_a_function_the_caller_passes_and_training_does_not_import_plotting():
    seen = []
    model, (tr, va) = nn.Linear(5, 2), loaders()
    sgd_fit(model, tr, va, epochs=3, live_plot=lambda history: seen.append(len(history)))
    assert seen == [1, 2, 3]  # called with the History after every epoch
    import subprocess
    import sys

    code = "import sys, tlcourse.train; print('tlcourse.plots' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_loss_scaler_is_always_there_and_only_enabled_for_fp16():
    scaler = runtime.grad_scaler(torch.device("cpu"))
    assert isinstance(scaler, torch.amp.GradScaler) and not scaler.is_enabled()
    loss = torch.tensor(2.0, requires_grad=True)
    assert scaler.scale(loss) is loss  # disabled: a pass-through, so the loop has no `if scaler` branches


def test_live_plot_true_draws_with_the_display_plots_registers():
    from tlcourse import plots

    assert train.live_display is plots.live_curves  # importing plots registers it; train never imports plots
    model, (tr, va) = nn.Linear(5, 2), loaders()
    h = sgd_fit(model, tr, va, epochs=2, live_plot=True)
    assert len(h) == 2
