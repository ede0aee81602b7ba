"""A GPT you can read: a small decoder-only transformer, its next-token loss, sampling, and a word-piece vocabulary.

In the spirit of nanoGPT: token + position embeddings, blocks of causal self-attention and an MLP (each behind a
layer norm, with a residual connection), a final layer norm, and an output layer that shares the token embedding's
weights. The causal mask is the `is_causal=True` of `scaled_dot_product_attention`: position t sees 0..t only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class GPTConfig:
    """The size of the network: vocabulary, context length, depth, heads and width."""

    vocab_size: int
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which each position attends only to itself and the positions before it."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"n_embd ({config.n_embd}) must be a multiple of n_head ({config.n_head}).")
        self.n_head, self.dropout = config.n_head, config.dropout
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        q, k, v = (t.view(batch, time, self.n_head, width // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(batch, time, width))


class Block(nn.Module):
    """x + attention(norm(x)), then x + MLP(norm(x)): the pre-norm transformer block of GPT-2."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(config.n_embd), nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token ids [B, T] -> next-token logits [B, T, vocab]; `hidden` gives the final states [B, T, width]."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # weight tying: one matrix reads and writes tokens
        self.apply(_init_weights)

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """The final layer-normed state of every position (the features a classification head reads)."""
        if idx.shape[1] > self.config.block_size:
            raise ValueError(f"{idx.shape[1]} tokens, but the context holds {self.config.block_size}.")
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(positions)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.hidden(idx))


def _init_weights(module: nn.Module) -> None:
    """GPT-2's initialisation: small normal weights, zero biases."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def next_token_loss(logits: torch.Tensor, idx: torch.Tensor, pad_id: int | None = None) -> torch.Tensor:
    """Cross-entropy of predicting token t+1 from positions 0..t: logits shifted left, targets shifted right."""
    targets = idx[:, 1:]
    logits = logits[:, :-1]
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100 if pad_id is None else pad_id
    )


class NextTokenLoss(nn.Module):
    """`next_token_loss` as the `loss_fn` of `fit`, for batches of (ids, ids); it also counts next-token guesses."""

    def __init__(self, pad_id: int | None = None):
        super().__init__()
        self.pad_id = pad_id

    def forward(self, logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return next_token_loss(logits, idx, self.pad_id)

    def count_correct(self, logits: torch.Tensor, idx: torch.Tensor) -> tuple[int, int]:
        """(next tokens guessed right, next tokens to guess), padding not counted: `fit` reports this as accuracy."""
        targets = idx[:, 1:]
        real = targets != (-100 if self.pad_id is None else self.pad_id)
        return int(((logits[:, :-1].argmax(-1) == targets) & real).sum()), int(real.sum())


@torch.no_grad()
def generate(
    model: GPT,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    stop_id: int | None = None,
    min_new_tokens: int = 0,
) -> torch.Tensor:
    """Extend `idx` [B, T] one sampled token at a time (temperature, top-k); the same generator seed, the same text.

    Sampling stops when every row has drawn `stop_id`, which is not allowed before `min_new_tokens` tokens.
    """
    model.eval()
    for step in range(max_new_tokens):
        context = idx[:, -model.config.block_size :]
        logits = model(context)[:, -1].float() / max(temperature, 1e-8)
        if stop_id is not None and step < min_new_tokens:
            logits[:, stop_id] = float("-inf")
        if top_k is not None:
            kth = logits.topk(min(top_k, logits.shape[-1])).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        nxt = torch.multinomial(logits.softmax(-1), 1, generator=generator)
        idx = torch.cat([idx, nxt], dim=1)
        if stop_id is not None and bool((nxt == stop_id).all()):
            break
    return idx


class PieceVocab:
    """The most frequent word pieces of a text, as ids: a small vocabulary cut from a BERT tokenizer's pieces.

    Pieces come from the offline MiniLM tokenizer (lesson 07), so words split the same way; keeping only the
    frequent ones makes the embedding and output layers small enough to train on a CPU. Rare pieces become [UNK].
    """

    SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")

    def __init__(self, tokenizer, pieces: Sequence[str]):
        self.tokenizer = tokenizer
        self.pieces = list(self.SPECIALS) + [p for p in pieces if p not in self.SPECIALS]
        self.index = {p: i for i, p in enumerate(self.pieces)}
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = range(4)

    @classmethod
    def from_texts(cls, tokenizer, texts: Iterable[str], size: int) -> PieceVocab:
        """Keep the `size - 4` most frequent pieces of `texts` (ties broken by first appearance)."""
        return cls.from_pieces(tokenizer, (tokenizer.tokenize(text) for text in texts), size)

    @classmethod
    def from_pieces(cls, tokenizer, tokenised: Iterable[Sequence[str]], size: int) -> PieceVocab:
        """As `from_texts`, from texts already cut into pieces (a corpus tokenised once serves both)."""
        counts = Counter(piece for pieces in tokenised for piece in pieces)
        return cls(tokenizer, [piece for piece, _ in counts.most_common(size - len(cls.SPECIALS))])

    def __len__(self) -> int:
        return len(self.pieces)

    def encode(self, text: str, eos: bool = True) -> list[int]:
        """[BOS] + the text's piece ids + [EOS] (leave [EOS] off for a prompt the model should continue)."""
        return self.encode_pieces(self.tokenizer.tokenize(text), eos)

    def encode_pieces(self, pieces: Sequence[str], eos: bool = True) -> list[int]:
        """Already-tokenised pieces as ids, framed by [BOS] and [EOS]; pieces outside the vocabulary become [UNK]."""
        ids = [self.index.get(p, self.unk_id) for p in pieces]
        return [self.bos_id, *ids, self.eos_id] if eos else [self.bos_id, *ids]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids back to text: specials dropped, '##' continuations joined to their word."""
        pieces = [self.pieces[i] for i in ids if i >= len(self.SPECIALS)]
        return self.tokenizer.convert_tokens_to_string(pieces)


def tokenize_all(tokenizer, texts: Sequence[str]) -> list[list[str]]:
    """Every text's word pieces, as `tokenizer.tokenize` gives them: in one batch through the Rust tokenizer when
    there is one (both cores, about half the time of a Python loop over SST-2's 67,349 sentences)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return [tokenizer.tokenize(text) for text in texts]
    backend = type(backend).from_str(backend.to_str())  # a copy: the saved one may pad and truncate batches
    backend.no_padding()
    backend.no_truncation()
    return [encoding.tokens for encoding in backend.encode_batch(list(texts), add_special_tokens=False)]


def minilm_tokenizer():
    """The word-piece tokenizer of the offline all-MiniLM-L6-v2 package (no network, no hub)."""
    from transformers import AutoTokenizer

    from .text import minilm_path

    return AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)


def config_dict(config: GPTConfig) -> dict:
    """The config as plain values, to store in a checkpoint beside the weights (weights_only loading allows them)."""
    return asdict(config)
