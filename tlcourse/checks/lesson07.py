"""Checks for lesson 07: text transfer."""

from __future__ import annotations

import torch

from .feedback import exercise, fail, ok


@exercise("07")
def check_mean_pool(fn) -> str:
    """fn(tokens [B, T, D], attention_mask [B, T]) -> [B, D], the mean over real tokens only (padding ignored)."""
    tokens = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[2.0, 0.0], [4.0, 2.0], [6.0, 4.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    got = fn(tokens, mask)
    want = torch.tensor([[2.0, 3.0], [4.0, 2.0]])
    if tuple(got.shape) != (2, 2):
        fail(f"Shape {tuple(got.shape)}, expected (2, 2): one vector per sentence.", "Average over dim=1, the tokens.")
    if torch.allclose(got, tokens.mean(1)):
        fail(
            f"The padding token was averaged in: sentence 1 came out as {got[0].tolist()}, not {want[0].tolist()}.",
            "Multiply by mask.unsqueeze(-1), sum over tokens, divide by mask.sum(1, keepdim=True).",
        )
    if not torch.allclose(got, want):
        fail(f"Got {got.tolist()}, expected {want.tolist()}.", "Divide the masked sum by the number of real tokens.")
    return ok("mean pooling over real tokens: padding does not change a sentence's vector.")


def _tiny_bert():
    """A 4-layer BERT with random weights: big enough to test freezing, small enough to build instantly."""
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    return BertModel(config)


@exercise("07")
def check_freeze_lower_layers(fn) -> str:
    """fn(transformer, n) freezes the embeddings and the first n transformer layers; everything above learns."""
    model = _tiny_bert()
    fn(model, 2)
    frozen = {
        n.split(".")[0] + ("." + n.split(".")[2] if n.startswith("encoder.layer.") else "")
        for n, p in model.named_parameters()
        if not p.requires_grad
    }
    want = {"embeddings", "encoder.0", "encoder.1"}
    if "embeddings" not in frozen:
        fail("The embeddings still learn.", "Freeze transformer.embeddings too: it is the lowest 'layer' of all.")
    if frozen - want:
        fail(f"Frozen too much: {sorted(frozen - want)}.", "Only transformer.encoder.layer[:n] and the embeddings.")
    if want - frozen:
        fail(f"Still trainable: {sorted(want - frozen)}.", "Loop over transformer.encoder.layer[:n].")
    partly = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and n.startswith(("encoder.layer.0.", "encoder.layer.1."))
    ]
    if partly:
        fail(f"Some parameters of the frozen layers still learn: {partly[:3]}.", "Freeze every parameter of a layer.")
    return ok("embeddings and lower layers frozen; the top layers and the head will adapt.")


@exercise("07")
def check_warmup_schedule(fn) -> str:
    """fn(step, warmup_steps, total_steps) -> LR multiplier: 0 -> 1 linearly during warm-up, then linearly to 0."""
    points = {0: 0.0, 5: 0.5, 10: 1.0, 55: 0.5, 100: 0.0}
    got = {s: float(fn(s, 10, 100)) for s in points}
    if abs(got[10] - 1.0) > 1e-6:
        fail(
            f"At the end of warm-up (step 10 of 10) the multiplier is {got[10]}, expected 1.",
            "During warm-up return step / warmup_steps.",
        )
    if got[0] > 0.11 or abs(got[5] - 0.5) > 0.06:
        fail(
            f"Warm-up should start near 0 and be 0.5 half-way; got {got[0]} and {got[5]}.",
            "Rise linearly: step / warmup_steps.",
        )
    if abs(got[55] - 0.5) > 0.02 or abs(got[100]) > 1e-6:
        fail(
            f"After warm-up the multiplier should fall linearly to 0 at total_steps; got {got[55]} at step 55 "
            f"and {got[100]} at step 100.",
            "(total_steps - step) / (total_steps - warmup_steps).",
        )
    return ok("linear warm-up, then linear decay: small steps while the new head is still random.")
