"""Lesson 08's plumbing: packing, padding, perplexity, likelihoods, `fit` on next tokens, and the checkpoint."""

import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tlcourse import gpt, lm, train
from tlcourse.errors import CheckpointError

SENTENCES = ["a gripping film .", "a dull film .", "the acting is good .", "the plot is dull ."] * 4


@pytest.fixture(scope="module")
def corpus():
    tokenizer = gpt.minilm_tokenizer()
    vocab = gpt.PieceVocab.from_texts(tokenizer, SENTENCES, size=40)
    return lm.Corpus(vocab, [vocab.encode(s) for s in SENTENCES], [vocab.encode(s) for s in SENTENCES[:4]])


def tiny(vocab_size: int, block_size: int = 16) -> gpt.GPT:
    torch.manual_seed(0)
    return gpt.GPT(gpt.GPTConfig(vocab_size, block_size=block_size, n_layer=1, n_head=2, n_embd=16))


def test_pack_lays_sentences_end_to_end_without_padding():
    sequences = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]
    blocks = lm.pack(sequences, block_size=4, seed=0)
    assert blocks.shape == (2, 4)  # 9 tokens -> two full blocks, the last token dropped
    stream = blocks.flatten().tolist()
    for seq in sequences:  # every sentence whose tokens are kept stays in one piece, in order
        kept = [t for t in seq if t in stream]
        assert kept == seq[: len(kept)] and "".join(map(str, kept)) in "".join(map(str, stream))


def test_pad_batch_pads_on_the_right():
    assert lm.pad_batch([[5, 6, 7], [8]], pad_id=0).tolist() == [[5, 6, 7], [8, 0, 0]]


def test_next_token_loss_counts_real_targets_only():
    loss = gpt.NextTokenLoss(pad_id=0)
    idx = torch.tensor([[2, 5, 6, 0], [2, 7, 0, 0]])
    logits = torch.full((2, 4, 9), -10.0)
    logits[0, 0, 5] = logits[1, 0, 7] = 10.0  # right about the first next token of each row only
    assert loss.count_correct(logits, idx) == (2, 3)  # 3 real targets: 5, 6 and 7; padding is not a guess
    assert train.count_correct(torch.nn.CrossEntropyLoss(), torch.eye(3), torch.tensor([0, 1, 1])) == (2, 3)


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size(corpus):
    model = tiny(len(corpus.vocab))
    with torch.no_grad():
        model.tok_emb.weight.zero_()  # tied output layer: every logit 0, every next piece equally likely
    assert lm.perplexity(model, corpus.dev) == pytest.approx(len(corpus.vocab), rel=1e-4)


def test_log_likelihoods_sum_the_next_token_log_probabilities(corpus):
    model = tiny(len(corpus.vocab)).eval()
    seq = corpus.dev[0]
    x = torch.tensor([seq])
    want = -gpt.next_token_loss(model(x), x).item() * (len(seq) - 1)
    got = lm.log_likelihoods(model, [seq, corpus.dev[1] + [corpus.vocab.eos_id] * 3])
    assert got[0].item() == pytest.approx(want, rel=1e-4)  # padding beside a longer sentence changes nothing


def test_fit_pretrains_on_next_tokens(corpus):
    model = tiny(len(corpus.vocab))
    blocks = lm.pack(corpus.train, block_size=8)
    history = train.fit(
        model,
        DataLoader(TensorDataset(blocks, blocks), batch_size=4, shuffle=True),
        lm.sequence_loader(corpus.dev, pad_id=corpus.vocab.pad_id),
        optimizer=torch.optim.AdamW(model.parameters(), lr=1e-2),
        epochs=15,
        loss_fn=gpt.NextTokenLoss(corpus.vocab.pad_id),
        device="cpu",
        progress=False,
    )
    assert history["val_loss"][-1] < 0.5 * history["val_loss"][0]
    assert 0 <= history.last["val_acc"] <= 1 and history.last["val_acc"] > 0.5  # next pieces of a 4-sentence text


def test_pretrained_checkpoint_round_trips_and_knows_what_it_is(corpus, tmp_path):
    model = tiny(len(corpus.vocab))
    path = lm.save_pretrained(tmp_path / "g.pt", model, corpus.vocab)
    again, vocab, history = lm.load_pretrained(path)
    x = torch.tensor([corpus.dev[0]])
    assert torch.equal(model.eval()(x), again(x)) and vocab.pieces == corpus.vocab.pieces and history == []
    torch.save({"model": model.state_dict()}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a lesson 08 GPT checkpoint"):
        lm.load_pretrained(tmp_path / "other.pt")


def test_gpt_checkpoint_is_built_when_absent_and_then_reused(tmp_data, corpus, monkeypatch, capsys):
    monkeypatch.setattr(lm, "sst2_corpus", lambda: corpus)  # a 16-sentence text instead of SST-2: seconds, not a minute
    small = gpt.GPTConfig(len(corpus.vocab), block_size=8, n_layer=1, n_embd=16)
    monkeypatch.setattr(lm, "settings_for", lambda device, vocab_size: lm.PretrainSettings(small, batch_size=4))
    lm.checkpoint_path().write_bytes(b"not a checkpoint")
    path = lm.gpt_checkpoint(device="cpu")
    assert "pretraining it again" in capsys.readouterr().out
    model, vocab, history = lm.load_pretrained(path)
    assert len(history) == 1 and math.isfinite(history[0]["val_loss"])
    mtime = path.stat().st_mtime_ns
    assert lm.gpt_checkpoint() == path and path.stat().st_mtime_ns == mtime  # reused, not retrained


def test_too_little_text_is_named(corpus):
    short = lm.Corpus(corpus.vocab, [[2, 5, 3]] * 3, [])
    with pytest.raises(ValueError, match="too little text"):
        lm.pretrain_gpt(short, lm.PretrainSettings(gpt.GPTConfig(len(corpus.vocab), block_size=4)))


def test_a_network_sized_for_another_vocabulary_is_refused(corpus):
    with pytest.raises(ValueError, match="vocab_size"):
        lm.pretrain_gpt(corpus, lm.PretrainSettings(gpt.GPTConfig(len(corpus.vocab) + 1, block_size=8)))
