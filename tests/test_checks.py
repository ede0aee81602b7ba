"""Exercise checks: right answers pass, typical mistakes get a message that names the mistake."""
import numpy as np
import pytest
from torch import nn

from tlcourse import checks, subsets, train


def make_net():
    return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 4), nn.Linear(4, 2))


def copy_right(target, source, n, freeze):
    for i in range(n):
        target[i].load_state_dict(source[i].state_dict())
        target[i].requires_grad_(not freeze)
    return target


def copy_shared(target, source, n, freeze):
    for i in range(n):
        target[i] = source[i]
        target[i].requires_grad_(not freeze)
    return target


def copy_no_freeze(target, source, n, freeze):
    for i in range(n):
        target[i].load_state_dict(source[i].state_dict())
    return target


def test_copy_first_layers_check(capsys):
    checks.check_copy_first_layers(copy_right, make_net)
    assert "\u2705" in capsys.readouterr().out
    with pytest.raises(checks.ExerciseError, match="shared with the source"):
        checks.check_copy_first_layers(copy_shared, make_net)
    with pytest.raises(checks.ExerciseError, match="still learns although freeze=True"):
        checks.check_copy_first_layers(copy_no_freeze, make_net)


def test_split_effects_check(capsys):
    checks.check_split_effects(lambda base, bnb, anb: (base - np.asarray(bnb), np.asarray(bnb) - np.asarray(anb)))
    assert "\u2705" in capsys.readouterr().out
    with pytest.raises(checks.ExerciseError, match="sign is flipped"):
        checks.check_split_effects(lambda base, bnb, anb: (np.asarray(bnb) - base, np.asarray(anb) - np.asarray(bnb)))


# ---------------------------------------------------------------------------------------------- lesson 04
def test_sample_per_class_check(capsys):
    from tlcourse.subsets import sample_per_class
    checks.check_sample_per_class(sample_per_class)
    assert "\u2705" in capsys.readouterr().out
    with pytest.raises(checks.ExerciseError, match="not random"):
        checks.check_sample_per_class(lambda labels, k, seed: np.concatenate(
            [np.flatnonzero(np.asarray(labels) == c)[:k] for c in range(3)]) if k else np.arange(len(labels)))
    with pytest.raises(checks.ExerciseError, match="3 indices of each class"):
        checks.check_sample_per_class(lambda labels, k, seed: np.random.default_rng(seed).choice(len(labels), 9))


def test_freeze_batchnorm_check(capsys):
    def right(module):
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.requires_grad_(False)

    def top_level_only(module):
        for m in module.children():
            if isinstance(m, nn.BatchNorm2d):
                m.requires_grad_(False)

    checks.check_freeze_batchnorm(right)
    assert "\u2705" in capsys.readouterr().out
    with pytest.raises(checks.ExerciseError, match="still trainable"):
        checks.check_freeze_batchnorm(top_level_only)
    with pytest.raises(checks.ExerciseError, match="convolution was frozen"):
        checks.check_freeze_batchnorm(lambda module: module.requires_grad_(False))


def test_images_needed_check(capsys):
    def right(ks, accs, target):
        return next((k for k, a in zip(ks, accs) if a >= target), None)

    checks.check_images_needed(right)
    assert "\u2705" in capsys.readouterr().out
    with pytest.raises(checks.ExerciseError, match="use >="):
        checks.check_images_needed(lambda ks, accs, t: next((k for k, a in zip(ks, accs) if a > t), None))
    with pytest.raises(checks.ExerciseError, match="None"):
        checks.check_images_needed(lambda ks, accs, t: next((k for k, a in zip(ks, accs) if a >= t), ks[-1]))


# ---------------------------------------------------------------------------------------------- lesson 06
def test_lesson06_checks(capsys):
    from tlcourse.tuning import exponential_lr
    checks.check_exponential_lr(exponential_lr)
    with pytest.raises(checks.ExerciseError, match="linear spacing"):
        checks.check_exponential_lr(lambda step, steps, a, b: a + (b - a) * step / (steps - 1))
    with pytest.raises(checks.ExerciseError, match="steps - 1"):
        checks.check_exponential_lr(lambda step, steps, a, b: a * (b / a) ** (step / steps))
    checks.check_cosine_lr(lambda step, total, peak: peak * (1 + np.cos(np.pi * step / total)) / 2)
    with pytest.raises(checks.ExerciseError, match="expected 0"):
        checks.check_cosine_lr(lambda step, total, peak: peak * (1 + np.cos(2 * np.pi * step / total)) / 2)
    checks.check_early_stop(train.replay_early_stopping)
    with pytest.raises(checks.ExerciseError, match="count from 1"):
        checks.check_early_stop(lambda losses, p: tuple(e - 1 for e in train.replay_early_stopping(losses, p)))
    assert capsys.readouterr().out.count("\u2705") == 3
