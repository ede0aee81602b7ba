"""tlcourse.lora: the course's LoRA layer, merging, byte counts and adapter files; and that it is what PEFT does."""

import pytest
import torch
from torch import nn

from tlcourse import lora
from tlcourse.errors import CheckpointError


def wrapped(r=4, alpha=8.0, seed=0, features=(10, 7)):
    torch.manual_seed(seed)
    return lora.LoRALinear(nn.Linear(*features), r=r, alpha=alpha)


def test_starts_equal_to_the_frozen_layer_and_trains_r_times_in_plus_out():
    layer, x = wrapped(), torch.randn(3, 5, 10)
    assert torch.equal(layer(x), layer.base(x))
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == ["A", "B"]
    assert sum(p.numel() for p in layer.parameters() if p.requires_grad) == 4 * (10 + 7)
    with pytest.raises(ValueError, match="at least 1"):
        lora.LoRALinear(nn.Linear(3, 3), r=0, alpha=1)


def test_merge_computes_the_same_outputs_with_a_plain_linear():
    layer, x = wrapped(), torch.randn(3, 10)
    with torch.no_grad():
        layer.B.normal_()
    merged = lora.merge(layer)
    assert type(merged) is nn.Linear and torch.allclose(merged(x), layer(x), atol=1e-5)
    model = nn.Sequential(wrapped(seed=1), nn.ReLU(), nn.Sequential(wrapped(seed=2, features=(7, 3))))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, lora.LoRALinear):
                m.B.normal_()
    want = model(torch.randn(2, 10, generator=torch.Generator().manual_seed(0)))
    lora.merge_all(model)
    assert not any(isinstance(m, lora.LoRALinear) for m in model.modules())
    assert torch.allclose(model(torch.randn(2, 10, generator=torch.Generator().manual_seed(0))), want, atol=1e-5)


def test_bytes_of_a_state_and_of_adams_moments():
    model = nn.Sequential(wrapped(), nn.Linear(7, 2))
    state = lora.trainable_state(model)
    assert set(state) == {"0.A", "0.B", "1.weight", "1.bias"}
    assert lora.tensor_bytes(state) == 4 * (4 * 17 + 7 * 2 + 2)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    assert lora.optimizer_state_bytes(optimizer) == 0  # Adam makes its moments at the first step
    model(torch.randn(2, 10)).sum().backward()
    optimizer.step()
    assert lora.optimizer_state_bytes(optimizer) == 2 * lora.tensor_bytes(state) + 4 * len(state)  # 2 moments + steps


def test_adapter_file_round_trip_and_a_clear_error_for_another_model(tmp_path):
    model = nn.Sequential(wrapped(), nn.Linear(7, 2))
    with torch.no_grad():
        model[0].B.normal_()
    path = lora.save_adapter(tmp_path / "adapter.pt", model)
    fresh = nn.Sequential(wrapped(), nn.Linear(7, 2))
    lora.load_adapter(path, fresh)
    x = torch.randn(4, 10)
    assert torch.equal(fresh(x), model(x))
    with pytest.raises(CheckpointError, match="does not fit"):
        lora.load_adapter(path, nn.Sequential(wrapped(r=2), nn.Linear(7, 2)))
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a LoRA adapter"):
        lora.load_adapter(tmp_path / "other.pt", fresh)


def test_the_course_layer_equals_peft_with_the_same_A_and_B():
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 3))
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["0"], lora_dropout=0.0)
    theirs = peft.get_peft_model(_copy(base), config)
    ours = _copy(base).requires_grad_(False)
    ours[0] = lora.LoRALinear(ours[0], r=4, alpha=8)
    layer = dict(theirs.named_modules())["base_model.model.0"]
    assert layer.lora_A["default"].weight.shape == ours[0].A.shape  # same shapes, same init recipe
    with torch.no_grad():
        ours[0].B.normal_()
        layer.lora_A["default"].weight.copy_(ours[0].A)
        layer.lora_B["default"].weight.copy_(ours[0].B)
    x = torch.randn(5, 10)
    assert torch.allclose(theirs(x), ours(x), atol=1e-6)
    count = lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)
    assert count(theirs) == count(ours) == 4 * (10 + 10)


def _copy(module):
    import copy

    return copy.deepcopy(module)
