"""What every exercise-check test asserts: the answer's verdict and the outcome recorded for the learner's progress."""

import pytest

from tlcourse import checks, models


def passes(capsys, check, *args) -> None:
    """The check accepts the answer: a green line, and an outcome 'passed'."""
    check(*args)
    assert "\u2705" in capsys.readouterr().out
    assert checks.outcomes()[-1].status == "passed"


def fails(check, *args, match: str) -> None:
    """The check refuses the answer with a message matching `match`, recorded as 'failed'."""
    with pytest.raises(checks.ExerciseError, match=match):
        check(*args)
    assert checks.outcomes()[-1].status == "failed"


def lite0():
    """A randomly initialised EfficientNet-Lite0 and its BackboneInfo (the checks look at shapes, not weights)."""
    model, _, info = models.load_backbone("efficientnet_lite0", pretrained=False)
    return model, info
