"""Lesson 01's checkpoint is rebuilt when absent, unreadable or another network's, and reused when it is fine."""

import torch

from tlcourse import pretrain, storage


def test_digits_checkpoint_is_built_when_absent_and_then_reused(tmp_data):
    path = pretrain.digits_checkpoint()
    assert path == pretrain.checkpoint_path() and path.is_file()
    model = pretrain.SmallCNN()
    state = storage.load_checkpoint(path, model)  # weights_only=True
    assert state["history"][-1]["val_acc"] > 0.96  # the recipe of lesson 01 really pretrained it
    assert state["about"] == pretrain.about()  # it says what it is: SmallCNN, mnist5k, digits 0-4, the recipe
    assert state["about"]["dataset"] == "mnist5k" and state["about"]["classes"] == [0, 1, 2, 3, 4]
    assert not list(path.parent.glob(".*.tmp"))  # written atomically: no temporary file left behind
    mtime = path.stat().st_mtime_ns
    assert pretrain.digits_checkpoint() == path and path.stat().st_mtime_ns == mtime  # reused, not retrained


def test_unreadable_checkpoint_is_rebuilt_with_a_message(tmp_data, capsys):
    path = pretrain.checkpoint_path()
    path.write_bytes(b"not a checkpoint")
    pretrain.digits_checkpoint()
    assert "pretraining it again" in capsys.readouterr().out
    storage.load_checkpoint(path, pretrain.SmallCNN())


def test_checkpoint_of_another_architecture_is_rebuilt(tmp_data, capsys):
    storage.save_checkpoint(pretrain.checkpoint_path(), torch.nn.Linear(2, 2))
    pretrain.digits_checkpoint()
    assert "different architecture" in capsys.readouterr().out


def test_checkpoint_of_the_same_shape_but_another_task_is_rebuilt(tmp_data, capsys):
    """Same architecture, different origin (another dataset): the weights fit, but it is not lesson 01's network."""
    other = {**pretrain.about(), "dataset": "digits"}
    storage.save_checkpoint(pretrain.checkpoint_path(), pretrain.SmallCNN(), about=other)
    path = pretrain.digits_checkpoint()
    assert "pretraining it again" in capsys.readouterr().out
    assert storage.load_checkpoint(path, pretrain.SmallCNN())["about"] == pretrain.about()


def test_lesson04s_8x8_network_has_its_own_checkpoint(tmp_data):
    path = pretrain.digits_checkpoint("digits")
    assert path == pretrain.checkpoint_path("digits") != pretrain.checkpoint_path()
    state = storage.load_checkpoint(path, pretrain.SmallCNN8x8())
    assert state["about"]["dataset"] == "digits" and state["about"]["kind"].endswith("SmallCNN8x8")
    assert state["history"][-1]["val_acc"] > 0.95
