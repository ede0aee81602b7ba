"""Checks for lesson 08: generative pretraining (the causal mask, the next-token shift, the classification head)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .feedback import exercise, fail, ok


@exercise("08")
def check_causal_attention(fn) -> str:
    """fn(q, k, v) [B, heads, T, d] -> [B, heads, T, d]: scaled dot-product attention where position t sees 0..t."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 6, 8, generator=gen) for _ in range(3))
    got = fn(q, k, v)
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    if tuple(got.shape) != tuple(want.shape):
        fail(
            f"Shape {tuple(got.shape)}, expected {tuple(want.shape)}.",
            "Return weights @ v: [B, heads, T, T] @ [B, heads, T, d].",
        )
    if torch.allclose(got, F.scaled_dot_product_attention(q, k, v), atol=1e-5):
        fail(
            "Every position attends to every other, including later ones: the first token's output already depends "
            "on the last token. A language model would learn to copy the answer instead of predicting it.",
            "Before the softmax, set scores above the diagonal to -inf: scores.masked_fill(~torch.tril(ones), -inf).",
        )
    if not torch.allclose(got[..., 0, :], v[..., 0, :], atol=1e-5):
        fail(
            "Position 0 should see only itself, so its output must equal v at position 0; it does not.",
            "Keep the lower triangle (the diagonal included): torch.tril(torch.ones(T, T, dtype=torch.bool)).",
        )
    if torch.allclose(got, F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0), atol=1e-5):
        fail("The scores are not scaled.", "Divide q @ k.transpose(-2, -1) by sqrt(d), d = q.shape[-1].")
    if not torch.allclose(got, want, atol=1e-5):
        fail("The mask is right, but the outputs differ from causal attention.", "softmax over the last dim, then @ v.")
    return ok("causal attention: no position sees the future, and the result matches scaled_dot_product_attention.")


@exercise("08")
def check_next_token_loss(fn) -> str:
    """fn(logits [B, T, V], idx [B, T]) -> the mean cross-entropy of predicting token t+1 at position t."""
    gen = torch.Generator().manual_seed(1)
    logits, idx = torch.randn(2, 5, 7, generator=gen), torch.randint(0, 7, (2, 5), generator=gen)
    got = fn(logits, idx)
    want = F.cross_entropy(logits[:, :-1].reshape(-1, 7), idx[:, 1:].reshape(-1))
    same = F.cross_entropy(logits.reshape(-1, 7), idx.reshape(-1))
    backwards = F.cross_entropy(logits[:, 1:].reshape(-1, 7), idx[:, :-1].reshape(-1))
    if not torch.is_tensor(got) or got.numel() != 1:
        fail("Return one number: the mean loss over every predicted position.", "F.cross_entropy averages for you.")
    if torch.isclose(got, same):
        fail(
            "Position t is scored on token t, the token it can already see: the model would learn to copy.",
            "Predict the next token: logits[:, :-1] against idx[:, 1:].",
        )
    if torch.isclose(got, backwards):
        fail("The shift goes the wrong way: position t+1 is scored on token t.", "logits[:, :-1] with idx[:, 1:].")
    if not torch.isclose(got, want, atol=1e-5):
        fail(
            f"Loss {got.item():.4f}, expected {want.item():.4f}.",
            "Flatten both: logits[:, :-1].reshape(-1, V) and idx[:, 1:].reshape(-1), then F.cross_entropy.",
        )
    return ok("the next-token loss: position t is scored on token t+1, the one it cannot see.")


@exercise("08")
def check_last_token_state(fn) -> str:
    """fn(hidden [B, T, D], idx [B, T], pad_id) -> [B, D]: each sentence's state at its last real (non-pad) token."""
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)
    idx = torch.tensor([[2, 5, 6, 0], [2, 7, 0, 0]])  # 0 = padding on the right
    got = fn(hidden, idx, 0)
    want = torch.stack([hidden[0, 2], hidden[1, 1]])
    if tuple(got.shape) != (2, 3):
        fail(f"Shape {tuple(got.shape)}, expected (2, 3): one vector per sentence.", "Pick one position per row.")
    if torch.allclose(got, hidden[:, -1]):
        fail(
            "That is the state at the last position, which is padding for short sentences.",
            "lengths = (idx != pad_id).sum(1); hidden[torch.arange(B), lengths - 1].",
        )
    if not torch.allclose(got, want):
        fail(f"Got {got.tolist()}, expected {want.tolist()}.", "The last real token is at index length - 1.")
    return ok("the last real token's state: in a causal model the only position that has read the whole sentence.")
