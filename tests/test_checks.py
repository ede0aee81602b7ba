"""Exercise checks of lesson 05: right answers pass, typical mistakes get a message that names the mistake."""
import numpy as np
import pytest
from torch import nn

from tlcourse import checks


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
