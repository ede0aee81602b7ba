"""Text helpers: length-bucketed batches, the mean-pooling encoder, cached embeddings, `fit` on tokenised batches."""

import pytest
import torch
from torch import nn

from tlcourse import checks, runtime, text, train
from tlcourse.errors import WeightsUnavailableError

SENTENCES = [
    "a fine film .",
    "dull",
    "one long string of cliches and tired jokes .",
    "wonderful !",
    "bad .",
    "it is a moving , funny and humane piece of work .",
    "meh",
    "the best movie of the year .",
]
LABELS = [1, 0, 0, 1, 0, 1, 0, 1]


@pytest.fixture(scope="module")
def tiny_encoder():
    """A 2-layer BERT with random weights and the real MiniLM tokenizer: fast, and exercises the same code."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(text.minilm_path(), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
    )
    torch.manual_seed(0)
    return text.SentenceEncoder(BertModel(config), tokenizer, name="tiny").eval()


def test_length_batches_cover_every_sentence_once_and_group_lengths():
    lengths = [5, 50, 6, 49, 7, 48, 8, 47]
    batches = text.length_batches(lengths, batch_size=2, shuffle=False)
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(abs(lengths[b[0]] - lengths[b[-1]]) <= 2 for b in batches)
    shuffled = text.length_batches(lengths, batch_size=2, shuffle=True, seed=1)
    assert shuffled == text.length_batches(lengths, batch_size=2, shuffle=True, seed=1)
    assert sorted(i for b in shuffled for i in b) == list(range(8))


def test_padding_does_not_change_a_sentence_vector(tiny_encoder):
    with torch.no_grad():
        alone = tiny_encoder(tiny_encoder.tokenize(["dull"]))
        padded = tiny_encoder(tiny_encoder.tokenize(["dull", SENTENCES[2]]))
    assert torch.allclose(alone[0], padded[0], atol=1e-5)


def test_embeddings_come_back_in_input_order_and_are_cached(tiny_encoder, tmp_data):
    first = text.embed_sentences(tiny_encoder, SENTENCES, batch_size=3, progress=False)
    one_by_one = torch.cat([text.embed_sentences(tiny_encoder, [s], cache=False, progress=False) for s in SENTENCES])
    assert torch.allclose(first, one_by_one, atol=1e-5)
    cached = list((tmp_data / "cache" / "text_features").glob("*.pt"))
    assert len(cached) == 1
    assert torch.equal(text.embed_sentences(tiny_encoder, SENTENCES, progress=False), first)
    text.embed_sentences(tiny_encoder, SENTENCES[:-1], progress=False)  # other sentences: another cache entry
    assert len(list((tmp_data / "cache" / "text_features").glob("*.pt"))) == 2


def test_fit_trains_a_head_on_tokenised_batches(tiny_encoder):
    runtime.seed_everything(0)
    model = nn.Sequential(tiny_encoder, nn.Linear(tiny_encoder.dim, 2))
    loader = text.sentence_loader(tiny_encoder, SENTENCES, LABELS, batch_size=4, shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    history = train.fit(model, loader, loader, optimizer=optimizer, epochs=3, device="cpu", progress=False)
    assert len(history) == 3 and history["train_loss"][-1] < history["train_loss"][0]
    probs = train.predict(model, tiny_encoder.tokenize(["great"]))
    assert probs.shape == (1, 2) and torch.allclose(probs.sum(1), torch.ones(1))


def test_offline_minilm_matches_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    encoder = text.load_text_encoder()
    ours = nn.functional.normalize(text.embed_sentences(encoder, SENTENCES[:3], cache=False, progress=False), dim=1)
    reference = SentenceTransformer(str(text.minilm_path()), device="cpu").encode(SENTENCES[:3], convert_to_tensor=True)
    assert torch.allclose(ours, nn.functional.normalize(reference, dim=1), atol=1e-4)
    assert encoder.name == "all-MiniLM-L6-v2" and encoder.dim == 384


def test_a_folder_that_is_not_a_model_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        text.load_text_encoder(tmp_path)


def test_an_unavailable_hub_model_names_the_model_and_the_fix(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsUnavailableError, match="no-such-org/no-such-model.*\n.*Fix"):
        text.load_text_encoder("no-such-org/no-such-model")


def test_text_exercise_checks_accept_right_and_explain_wrong_answers(capsys):
    checks.check_mean_pool(lambda t, m: (t * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True))
    with pytest.raises(checks.ExerciseError, match="padding token was averaged"):
        checks.check_mean_pool(lambda t, m: t.mean(1))

    def freeze(model, n):
        for module in [model.embeddings, *model.encoder.layer[:n]]:
            module.requires_grad_(False)

    checks.check_freeze_lower_layers(freeze)
    with pytest.raises(checks.ExerciseError, match="embeddings still learn"):
        checks.check_freeze_lower_layers(
            lambda model, n: [layer.requires_grad_(False) for layer in model.encoder.layer[:n]]
        )

    checks.check_warmup_schedule(lambda s, w, t: s / w if s < w else (t - s) / (t - w))
    with pytest.raises(checks.ExerciseError, match="fall linearly"):
        checks.check_warmup_schedule(lambda s, w, t: min(1.0, s / w))
    assert capsys.readouterr().out.count("\u2705") == 3
