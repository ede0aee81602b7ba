"""Generative pretraining for lesson 08: SST-2's sentences as unlabelled text, batches, perplexity, the recipe, and
its checkpoint.

Pretraining reads the training sentences only, never their labels; the dev and test sentences are never trained
on. `gpt_checkpoint()` pretrains again when its file is absent (about a minute on two CPU cores), so the lesson
and anything after it run on their own.
"""

from __future__ import annotations

import math
import random
import re
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from . import gpt, runtime, storage, train, tuning
from .errors import CheckpointError
from .paths import cache_dir
from .text import EpochBatches, load_sst2

VOCAB_SIZE = 4000  # the most frequent word pieces of the training sentences; the rest become [UNK]
CHECKPOINT_KIND = "tlcourse GPT, next-token pretraining on SST-2 training sentences"


@dataclass
class Corpus:
    """Sentences as word-piece ids ([BOS] ... [EOS]) and the vocabulary that maps them back to text."""

    vocab: gpt.PieceVocab
    train: list[list[int]]
    dev: list[list[int]]

    def tokens(self, split: str = "train") -> int:
        """How many tokens a split holds, [BOS] and [EOS] included."""
        return sum(len(s) for s in getattr(self, split))


def sst2_corpus(vocab_size: int = VOCAB_SIZE) -> Corpus:
    """SST-2's train and dev sentences as ids; the vocabulary is cut from the training sentences alone."""
    tokenizer = gpt.minilm_tokenizer()
    train_pieces = gpt.tokenize_all(tokenizer, load_sst2("train")[0])
    vocab = gpt.PieceVocab.from_pieces(tokenizer, train_pieces, vocab_size)
    dev = [vocab.encode(s) for s in load_sst2("dev")[0]]
    return Corpus(vocab, [vocab.encode_pieces(pieces) for pieces in train_pieces], dev)


def docstring_sentences(*, min_words: int = 6, max_words: int = 40) -> list[str]:
    """English prose that ships with Python: the sentences of the first paragraph of the docstrings of the functions
    and classes in the standard library's top-level modules, without code-like ones, deduplicated and sorted.

    Text the SST-2 GPT never saw (lesson 11's new kind of text): technical English about files, strings and numbers
    instead of films. A regular expression finds the docstrings (parsing every module would take a minute).
    """
    sentences: set[str] = set()
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        for docstring in _DOCSTRING.findall(path.read_text(encoding="utf-8", errors="replace")):
            paragraph = " ".join(docstring.strip().split("\n\n")[0].split())
            sentences.update(s for s in re.split(r"(?<=[.!?])\s+", paragraph) if _prose(s, min_words, max_words))
    return sorted(sentences)


_DOCSTRING = re.compile(r'^\s*(?:async\s+def|def|class)\s[^\n]*:\s*\n\s*[rRuU]?"""(.*?)"""', re.S | re.M)


def _prose(sentence: str, min_words: int, max_words: int) -> bool:
    """A sentence of plain words: no code (brackets, =, >>>, underscores or calls), of a readable length."""
    return min_words <= len(sentence.split()) <= max_words and not re.search(r"[<>{}\[\]=_`|]|\w\(", sentence)


def pack(sequences: Sequence[Sequence[int]], block_size: int, seed: int = 0) -> torch.Tensor:
    """Sentences in a shuffled order, end to end, cut into [blocks, block_size] rows: no padding is wasted."""
    order = list(range(len(sequences)))
    random.Random(seed).shuffle(order)
    stream = torch.tensor([token for i in order for token in sequences[i]])
    blocks = len(stream) // block_size
    return stream[: blocks * block_size].view(blocks, block_size)


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> torch.Tensor:
    """Sequences of different lengths as one [B, longest] tensor, padded on the right (causal attention never
    looks right, so padding cannot change a real token's state)."""
    out = torch.full((len(sequences), max(map(len, sequences))), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = torch.as_tensor(seq)
    return out


class _PadCollate:
    """Collate (ids, target) pairs into (padded ids, targets); a target of None means 'the ids themselves'."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, pairs):
        ids, targets = zip(*pairs)
        x = pad_batch(ids, self.pad_id)
        return x, x if targets[0] is None else torch.tensor(targets)


def sequence_loader(
    sequences: Sequence[Sequence[int]],
    labels: Sequence[int] | None = None,
    *,
    pad_id: int = 0,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int = 0,
) -> DataLoader:
    """Batches of sentences of similar length: (ids, labels) for a classifier, or (ids, ids) for next tokens."""
    pairs = list(zip(sequences, labels if labels is not None else [None] * len(sequences)))
    batches = EpochBatches([len(s) for s in sequences], batch_size, shuffle, seed)  # new batches every epoch
    return DataLoader(pairs, batch_sampler=batches, collate_fn=_PadCollate(pad_id))  # type: ignore[arg-type]  # a list is a map-style dataset


def perplexity(model: gpt.GPT, sequences: Sequence[Sequence[int]], pad_id: int = 0) -> float:
    """exp(mean next-token loss per token): how many tokens the model is 'choosing between', on average."""
    loader = sequence_loader(sequences, pad_id=pad_id, batch_size=128)
    return math.exp(train.evaluate(model, loader, gpt.NextTokenLoss(pad_id)).loss)


@torch.no_grad()
def log_likelihoods(model: gpt.GPT, sequences: Sequence[Sequence[int]], pad_id: int = 0) -> torch.Tensor:
    """log P(sequence) under the model, one per sequence: the sum of its next-token log-probabilities."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(sequences), 128):
        x = pad_batch(sequences[start : start + 128], pad_id).to(device)
        logp = model(x)[:, :-1].float().log_softmax(-1).gather(2, x[:, 1:, None]).squeeze(-1)
        out.append((logp * (x[:, 1:] != pad_id)).sum(1).cpu())
    return torch.cat(out)


@dataclass
class PretrainSettings:
    """The network (a `gpt.GPTConfig`) and the pretraining run: one line per choice, printed by the lesson."""

    network: gpt.GPTConfig
    epochs: int = 1
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 50


def settings_for(device: torch.device, vocab_size: int) -> PretrainSettings:
    """About a minute on two CPU cores; with CUDA, a wider, deeper network for more epochs (dropout: the text is
    small, and the same sentences come round again)."""
    if device.type == "cuda":
        network = gpt.GPTConfig(vocab_size, n_layer=6, n_head=8, n_embd=256, dropout=0.1)
        return PretrainSettings(network, epochs=8, batch_size=64)
    return PretrainSettings(gpt.GPTConfig(vocab_size))


def pretrain_gpt(
    corpus: Corpus, settings: PretrainSettings, seed: int = 0, device=None, progress: bool = True
) -> tuple[gpt.GPT, train.History]:
    """Next-token prediction on the packed training sentences with AdamW, warm-up then linear decay, through `fit`."""
    runtime.seed_everything(seed)
    s, block_size = settings, settings.network.block_size
    if s.network.vocab_size != len(corpus.vocab):
        raise ValueError(
            f"The network's vocab_size is {s.network.vocab_size}, the corpus has {len(corpus.vocab)} pieces. "
            "Fix: lm.settings_for(device, len(corpus.vocab))."
        )
    blocks = pack(corpus.train, block_size, seed)
    loader = DataLoader(TensorDataset(blocks, blocks), batch_size=s.batch_size, shuffle=True, drop_last=True)
    if not len(loader):
        raise ValueError(
            f"{len(blocks)} blocks of {block_size} tokens: too little text for one batch of {s.batch_size}."
        )
    model = gpt.GPT(s.network)
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.lr, betas=(0.9, 0.95), weight_decay=0.1)
    decay = tuning.warmup_then_decay(s.warmup_steps, s.epochs * len(loader))
    history = train.fit(
        model,
        loader,
        sequence_loader(corpus.dev, pad_id=corpus.vocab.pad_id, batch_size=128),
        optimizer=optimizer,
        epochs=s.epochs,
        batch_scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, decay),
        loss_fn=gpt.NextTokenLoss(corpus.vocab.pad_id),
        clip_grad_norm=1.0,
        device=device,
        progress=progress,
    )
    return model, history


def checkpoint_path() -> Path:
    """Where lesson 08 keeps its pretrained GPT (a rebuildable cache file)."""
    return cache_dir("checkpoints") / "sst2_gpt.pt"


def save_pretrained(path, model: gpt.GPT, vocab: gpt.PieceVocab, history: train.History | None = None) -> Path:
    """Weights, config, vocabulary and history in one file, written atomically, that says what it is."""
    state = {
        "kind": CHECKPOINT_KIND,
        "config": gpt.config_dict(model.config),
        "pieces": vocab.pieces,
        "model": model.state_dict(),
        "architecture": storage.architecture(model),
        "history": history.records if history else [],
    }
    return storage.atomic_save(state, Path(path))


def load_pretrained(path=None) -> tuple[gpt.GPT, gpt.PieceVocab, list[dict]]:
    """(model, vocabulary, history records) from a `save_pretrained` file, loaded with weights_only=True."""
    path = Path(path or checkpoint_path())
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}. Fix: lm.gpt_checkpoint() pretrains one.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"{path} is not a lesson 08 GPT checkpoint. Fix: lm.gpt_checkpoint(rebuild=True).")
    model = gpt.GPT(gpt.GPTConfig(**state["config"]))
    storage.check_architecture(state["architecture"], model, path)
    model.load_state_dict(state["model"])
    vocab = gpt.PieceVocab(gpt.minilm_tokenizer(), state["pieces"])
    return model.eval(), vocab, list(state["history"])


def gpt_checkpoint(rebuild: bool = False, device=None) -> Path:
    """The path of lesson 08's pretrained GPT, pretraining it first when it is missing or unreadable."""
    path = checkpoint_path()

    def pretrain() -> Path:
        chosen = torch.device(device) if device else runtime.pick_device()
        corpus = sst2_corpus()
        model, history = pretrain_gpt(corpus, settings_for(chosen, len(corpus.vocab)), device=chosen)
        return save_pretrained(path, model.cpu(), corpus.vocab, history)

    def problem(found: Path) -> None:
        load_pretrained(found)  # raises (CheckpointError, a torch error) when the file is not lesson 08's GPT

    return storage.reuse_or_rebuild(path, problem, pretrain, force=rebuild)
