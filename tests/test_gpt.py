"""The tiny GPT: causal mask, loss shift, deterministic sampling, checkpoint round trip, offline vocabulary."""

import torch

from tlcourse import gpt, storage


def tiny(vocab: int = 50, **kw) -> gpt.GPT:
    torch.manual_seed(0)
    return gpt.GPT(gpt.GPTConfig(vocab_size=vocab, block_size=16, n_layer=2, n_head=2, n_embd=16, **kw)).eval()


def test_no_position_sees_the_future():
    model = tiny()
    idx = torch.randint(0, 50, (2, 12))
    changed = idx.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 50  # change every token from position 7 on
    with torch.no_grad():
        before, after = model(idx), model(changed)
    assert torch.allclose(before[:, :7], after[:, :7], atol=1e-6)  # positions 0..6 cannot tell
    assert not torch.allclose(before[:, 7:], after[:, 7:])


def test_loss_predicts_the_next_token_not_the_same_one():
    idx = torch.tensor([[1, 2, 3, 4]])
    perfect_next = torch.full((1, 4, 6), -1e4)
    for t in range(3):
        perfect_next[0, t, idx[0, t + 1]] = 1e4  # position t puts all mass on token t+1
    assert gpt.next_token_loss(perfect_next, idx).item() < 1e-3
    copy_same = torch.full((1, 4, 6), -1e4).scatter(2, idx[..., None], 1e4)  # predicts token t at position t
    assert gpt.next_token_loss(copy_same, idx).item() > 100


def test_loss_ignores_padding_targets():
    logits = torch.randn(1, 4, 6)
    padded = torch.tensor([[1, 2, 0, 0]])
    assert torch.isclose(
        gpt.next_token_loss(logits, padded, pad_id=0), torch.nn.functional.cross_entropy(logits[0, :1], padded[0, 1:2])
    )


def test_generation_is_deterministic_under_a_seed():
    model = tiny()
    start = torch.tensor([[1, 2]])
    runs = [gpt.generate(model, start, 8, top_k=10, generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(runs[0], runs[1]) and runs[0].shape == (1, 10)
    other = gpt.generate(model, start, 8, top_k=10, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(runs[0], other)


class PrefersSeven(torch.nn.Module):
    """A stand-in language model whose next token is almost always 7, the 'end of text' of these tests."""

    config = gpt.GPTConfig(vocab_size=10, block_size=16)

    def forward(self, idx):
        logits = torch.zeros(*idx.shape, 10)
        logits[..., 7] = 8.0
        return logits


def test_generation_stops_at_the_stop_token_but_not_before_the_minimum():
    start, seeded = torch.tensor([[1, 2]]), lambda: torch.Generator().manual_seed(0)
    out = gpt.generate(PrefersSeven(), start, 10, generator=seeded(), stop_id=7)
    assert out[0].tolist() == [1, 2, 7]
    out = gpt.generate(PrefersSeven(), start, 10, generator=seeded(), stop_id=7, min_new_tokens=4)
    assert 7 not in out[0, 2:6].tolist() and out[0, 6].item() == 7 and out.shape[1] == 7


def test_output_layer_shares_the_token_embedding():
    model = tiny()
    assert model.lm_head.weight is model.tok_emb.weight


def test_checkpoint_round_trips(tmp_path):
    model = tiny()
    state = {"config": gpt.config_dict(model.config), "model": model.state_dict()}
    path = storage.atomic_save(state, tmp_path / "g.pt")
    state = torch.load(path, weights_only=True)
    again = gpt.GPT(gpt.GPTConfig(**state["config"])).eval()
    again.load_state_dict(state["model"])
    idx = torch.randint(0, 50, (1, 9))
    assert torch.equal(model(idx), again(idx))


def test_vocabulary_is_built_offline_and_round_trips(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vocab = gpt.PieceVocab.from_texts(gpt.minilm_tokenizer(), ["a gripping film .", "a dull film ."] * 3, size=10)
    ids = vocab.encode("a gripping film .")
    assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id and len(vocab) <= 10
    assert vocab.decode(ids) == "a gripping film."  # the tokenizer joins punctuation to the word before it
    assert vocab.unk_id in vocab.encode("an unseen masterpiece")


def test_tokenize_all_gives_the_pieces_tokenize_gives():
    """The batched Rust path and the tokenizer's own `tokenize`, piece for piece (accents, emoji, specials, empty)."""
    tokenizer = gpt.minilm_tokenizer()
    texts = ["An unflinching, gorgeously acted portrait.", "Café naïve résumé 🎬!!", "[CLS] it's  [SEP] ", ""]
    texts += ["x" * 300, "word " * 200]  # one piece that long; more pieces than the saved truncation (128) allows
    assert gpt.tokenize_all(tokenizer, texts) == [tokenizer.tokenize(text) for text in texts]
