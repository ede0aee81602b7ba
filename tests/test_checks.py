"""Exercise checks: a right answer passes, each typical mistake gets the message that names it, and every call
leaves a machine-readable outcome. The answers are written here, never taken from the package (the answer key)."""

import json
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from tlcourse import checks, pretrain

from .checking import fails, lite0, passes


# Outcomes
def test_every_call_records_an_outcome_and_writes_the_log(tmp_path, monkeypatch, capsys):
    log = tmp_path / "checks.jsonl"
    monkeypatch.setenv(checks.LOG_ENV, str(log))
    checks.check_global_pool(lambda maps: maps.mean(dim=(2, 3)))
    with pytest.raises(checks.ExerciseError):
        checks.check_global_pool(lambda maps: maps.sum(dim=(2, 3)))
    with pytest.raises(NotImplementedError):
        checks.check_global_pool(lambda maps: (_ for _ in ()).throw(NotImplementedError("Your turn")))
    with pytest.raises(ZeroDivisionError):
        checks.check_global_pool(lambda maps: 1 / 0)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["status"] for line in lines] == ["passed", "failed", "not attempted", "error"]
    assert {line["check"] for line in lines} == {"global_pool"} and {line["lesson"] for line in lines} == {"02"}
    assert "wrong values" in lines[1]["message"] and "ZeroDivisionError" in lines[3]["message"]
    assert [o.status for o in checks.outcomes()[-4:]] == ["passed", "failed", "not attempted", "error"]


def test_catalog_lists_every_check_by_lesson():
    # Which exercises a lesson has is read from its notebook (tests/test_classroom.py): nothing to bump here.
    lesson_modules = sorted(p.stem[-2:] for p in Path(checks.__file__).parent.glob("lesson[0-9][0-9].py"))
    assert sorted(checks.CATALOG) == lesson_modules  # every lesson module's checks are catalogued, under its number
    exported = {name for name in checks.__all__ if name.startswith("check_")}
    catalogued = [f"check_{name}" for names in checks.CATALOG.values() for name in names]
    assert sorted(catalogued) == sorted(exported)  # each check exported once, and nothing exported uncatalogued
    for lesson, names in checks.CATALOG.items():
        assert names, f"lesson {lesson} has no checks"
        for name in names:
            check = getattr(checks, f"check_{name}")
            assert callable(check) and check.__module__ == f"tlcourse.checks.lesson{lesson}"  # named by its lesson


def test_a_check_returns_nothing_so_a_notebook_cell_shows_only_the_green_line(capsys):
    assert checks.check_global_pool(lambda maps: maps.mean(dim=(2, 3))) is None


# Lesson 01
def test_top5_names(capsys):
    passes(capsys, checks.check_top5_names, lambda logits, cats: [cats[i] for i in logits.topk(5).indices.tolist()])
    fails(
        checks.check_top5_names,
        lambda logits, cats: sorted(cats[i] for i in logits.topk(5).indices.tolist()),
        match="wrong order",
    )
    fails(checks.check_top5_names, lambda logits, cats: [cats[int(v)] for v in logits.topk(5).values], match="indices")
    fails(checks.check_top5_names, lambda logits, cats: logits.topk(5).indices, match="list of names")


def test_freeze_features(capsys):
    def right(model):
        for p in model.features.parameters():
            p.requires_grad = False

    passes(capsys, checks.check_freeze_features, right, pretrain.SmallCNN)
    fails(
        checks.check_freeze_features,
        lambda model: model.requires_grad_(False),
        pretrain.SmallCNN,
        match="head is frozen",
    )
    fails(
        checks.check_freeze_features,
        lambda model: model.features[0].requires_grad_(False),
        pretrain.SmallCNN,
        match="Still trainable outside the head",
    )


def test_nearest(capsys):
    def cosine(query, bank, k):
        sims = nn.functional.normalize(bank, dim=1) @ nn.functional.normalize(query, dim=0)
        return sims.topk(k).indices

    passes(capsys, checks.check_nearest, cosine)
    fails(checks.check_nearest, lambda query, bank, k: (bank @ query).topk(k).indices, match="dot product")
    fails(checks.check_nearest, lambda query, bank, k: cosine(query, bank, k).flip(0), match="expected")


# Lesson 02
def test_global_pool(capsys):
    passes(capsys, checks.check_global_pool, lambda maps: maps.mean(dim=(2, 3)))
    fails(checks.check_global_pool, lambda maps: maps.amax(dim=(2, 3)), match="wrong values")
    fails(checks.check_global_pool, lambda maps: maps.mean(dim=1), match="Shape")


def test_transform(capsys):
    from torchvision import transforms as T

    _, info = lite0()

    def right(info):
        return T.Compose([T.Resize(256), T.CenterCrop(info.input_size), T.ToTensor(), T.Normalize(info.mean, info.std)])

    passes(capsys, checks.check_transform, right, info)
    fails(
        checks.check_transform,
        lambda info: T.Compose(
            [
                T.Resize(256),
                T.CenterCrop(info.input_size),
                T.ToTensor(),
                T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
            ]
        ),
        info,
        match="backbone's own mean and std",
    )
    fails(
        checks.check_transform, lambda info: T.Compose([T.Resize(256), T.ToTensor()]), info, match="Expected a tensor"
    )


# Lesson 03
def _top_trainable():
    model, info = lite0()
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(("head.", "classifier."))
    return model, info


def test_param_groups(capsys):
    def right(model, info, head_lr):
        head = list(model.get_submodule(info.classifier).parameters())
        body = [p for p in model.parameters() if p.requires_grad and all(p is not h for h in head)]
        return [{"params": body, "lr": head_lr / 10}, {"params": head, "lr": head_lr}]

    passes(capsys, checks.check_param_groups, right, _top_trainable)
    fails(
        checks.check_param_groups,
        lambda m, info, lr: [{"params": [p for p in m.parameters() if p.requires_grad], "lr": lr}],
        _top_trainable,
        match="10x slower",
    )
    fails(
        checks.check_param_groups,
        lambda m, info, lr: [{"params": list(m.parameters()), "lr": lr}],
        _top_trainable,
        match="Frozen parameters",
    )
    fails(
        checks.check_param_groups,
        lambda m, info, lr: [{"params": list(m.classifier.parameters()), "lr": lr}],
        _top_trainable,
        match="in no group",
    )


def test_new_head(capsys):
    def right(model, n):
        model.classifier = nn.Linear(model.classifier.in_features, n)

    passes(capsys, checks.check_new_head, right, lite0)
    fails(checks.check_new_head, lambda model, n: None, lite0, match="still the ImageNet classifier")
    fails(
        checks.check_new_head,
        lambda model, n: setattr(model, "classifier", nn.Linear(1000, n)),
        lite0,
        match="in_features must match the backbone: 1280",
    )


# Lesson 04
def test_sample_per_class(capsys):
    def right(labels, k, seed):
        labels = np.asarray(labels)
        if k is None:
            return np.arange(len(labels))
        rng = np.random.default_rng(seed)
        return np.concatenate([rng.choice(np.flatnonzero(labels == c), k, replace=False) for c in np.unique(labels)])

    passes(capsys, checks.check_sample_per_class, right)
    fails(
        checks.check_sample_per_class,
        lambda labels, k, seed: (
            np.concatenate([np.flatnonzero(np.asarray(labels) == c)[:k] for c in range(3)])
            if k
            else np.arange(len(labels))
        ),
        match="not random",
    )
    fails(
        checks.check_sample_per_class,
        lambda labels, k, seed: np.random.default_rng(seed).choice(len(labels), 9),
        match="3 indices of each class",
    )
    fails(checks.check_sample_per_class, lambda labels, k, seed: right(labels, k, None), match="same seed")


def test_freeze_batchnorm(capsys):
    def right(module):
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.requires_grad_(False)

    def top_level_only(module):
        for m in module.children():
            if isinstance(m, nn.BatchNorm2d):
                m.requires_grad_(False)

    passes(capsys, checks.check_freeze_batchnorm, right)
    fails(checks.check_freeze_batchnorm, top_level_only, match="still trainable")
    fails(checks.check_freeze_batchnorm, lambda module: module.requires_grad_(False), match="convolution was frozen")

    def unfreezes_too(module):
        module.requires_grad_(True)
        right(module)

    fails(checks.check_freeze_batchnorm, unfreezes_too, match="frozen before is trainable")


def test_images_needed(capsys):
    passes(
        capsys,
        checks.check_images_needed,
        lambda ks, accs, target: next((k for k, a in zip(ks, accs) if a >= target), None),
    )
    fails(
        checks.check_images_needed,
        lambda ks, accs, t: next((k for k, a in zip(ks, accs) if a > t), None),
        match="use >=",
    )
    fails(
        checks.check_images_needed,
        lambda ks, accs, t: next((k for k, a in zip(ks, accs) if a >= t), ks[-1]),
        match="None",
    )


# Lesson 05
def make_net():
    return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 4), nn.Linear(4, 2))


def test_copy_first_layers(capsys):
    def right(target, source, n, freeze):
        for i in range(n):
            target[i].load_state_dict(source[i].state_dict())
            target[i].requires_grad_(not freeze)
        return target

    def shared(target, source, n, freeze):
        for i in range(n):
            target[i] = source[i]
            target[i].requires_grad_(not freeze)
        return target

    def no_freeze(target, source, n, freeze):
        for i in range(n):
            target[i].load_state_dict(source[i].state_dict())
        return target

    passes(capsys, checks.check_copy_first_layers, right, make_net)
    fails(checks.check_copy_first_layers, shared, make_net, match="shared with the source")
    fails(checks.check_copy_first_layers, no_freeze, make_net, match="still learns although freeze=True")
    fails(checks.check_copy_first_layers, lambda t, s, n, f: None, make_net, match="Return the target")


def test_split_effects(capsys):
    passes(
        capsys,
        checks.check_split_effects,
        lambda base, bnb, anb: (base - np.asarray(bnb), np.asarray(bnb) - np.asarray(anb)),
    )
    fails(
        checks.check_split_effects,
        lambda base, bnb, anb: (np.asarray(bnb) - base, np.asarray(anb) - np.asarray(bnb)),
        match="sign is flipped",
    )
    fails(
        checks.check_split_effects,
        lambda base, bnb, anb: (base - np.asarray(anb), np.asarray(bnb) - np.asarray(anb)),
        match="Co-adaptation compares",
    )


# Lesson 06
def test_exponential_lr(capsys):
    passes(capsys, checks.check_exponential_lr, lambda step, steps, a, b: a * (b / a) ** (step / (steps - 1)))
    fails(
        checks.check_exponential_lr, lambda step, steps, a, b: a + (b - a) * step / (steps - 1), match="linear spacing"
    )
    fails(checks.check_exponential_lr, lambda step, steps, a, b: a * (b / a) ** (step / steps), match="steps - 1")


def test_cosine_lr(capsys):
    passes(capsys, checks.check_cosine_lr, lambda step, total, peak: peak * (1 + np.cos(np.pi * step / total)) / 2)
    fails(
        checks.check_cosine_lr,
        lambda step, total, peak: peak * (1 + np.cos(2 * np.pi * step / total)) / 2,
        match="expected 0",
    )
    fails(
        checks.check_cosine_lr,
        lambda step, total, peak: peak * (1 + np.cos(np.pi * step / total)),
        match="expected peak_lr",
    )


def early_stop(val_losses, patience):
    """Written here for the test: stop after `patience` epochs without a strictly lower loss."""
    best, best_epoch, waited = float("inf"), 0, 0
    for epoch, loss in enumerate(val_losses, start=1):
        if loss < best:
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
            if waited >= patience:
                return epoch, best_epoch
    return len(val_losses), best_epoch


def test_early_stop(capsys):
    passes(capsys, checks.check_early_stop, early_stop)
    fails(checks.check_early_stop, lambda losses, p: tuple(e - 1 for e in early_stop(losses, p)), match="count from 1")
    fails(checks.check_early_stop, lambda losses, p: (len(losses), early_stop(losses, p)[1]), match="Reset the waiting")
    passes(capsys, checks.check_early_stop, lambda losses, p: tuple(np.int64(e) for e in early_stop(losses, p)))
    fails(checks.check_early_stop, lambda losses, p: early_stop(losses, p)[:1], match="two whole numbers")


def test_early_stop_is_not_fooled_by_numbers_that_equal_everything():
    class Agreeable(int):
        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

        __hash__ = int.__hash__

    fails(checks.check_early_stop, lambda losses, p: (Agreeable(0), Agreeable(0)), match="expected")


# Lesson 07
def test_mean_pool(capsys):
    def right(tokens, mask):
        mask = mask.unsqueeze(-1).to(tokens.dtype)
        return (tokens * mask).sum(1) / mask.sum(1)

    passes(capsys, checks.check_mean_pool, right)
    fails(checks.check_mean_pool, lambda tokens, mask: tokens.mean(1), match="padding token was averaged")
    fails(checks.check_mean_pool, lambda tokens, mask: tokens.mean(2), match="Shape")


def test_freeze_lower_layers(capsys):
    def right(transformer, n):
        for module in [transformer.embeddings, *transformer.encoder.layer[:n]]:
            module.requires_grad_(False)

    passes(capsys, checks.check_freeze_lower_layers, right)
    fails(
        checks.check_freeze_lower_layers,
        lambda t, n: [m.requires_grad_(False) for m in t.encoder.layer[:n]],
        match="embeddings still learn",
    )
    fails(checks.check_freeze_lower_layers, lambda t, n: t.requires_grad_(False), match="Frozen too much")


def test_warmup_schedule(capsys):
    def right(step, warmup_steps, total_steps):
        if step < warmup_steps:
            return step / warmup_steps
        return max(0.0, (total_steps - step) / (total_steps - warmup_steps))

    passes(capsys, checks.check_warmup_schedule, right)
    fails(checks.check_warmup_schedule, lambda step, w, t: max(0.0, (t - step) / t), match="end of warm-up")
    fails(checks.check_warmup_schedule, lambda step, w, t: min(1.0, step / w), match="fall linearly to 0")
