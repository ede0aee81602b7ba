"""Checks for lesson 01: pretraining (what a pretrained network knows)."""

from __future__ import annotations

import torch

from .feedback import exercise, fail, ok


@exercise("01")
def check_top5_names(fn) -> str:
    """fn(logits [C], categories) -> the 5 most probable class names, most probable first."""
    categories = [f"class{i}" for i in range(10)]
    logits = torch.tensor([0.1, 3.0, -1.0, 2.0, 0.5, 5.0, 0.0, 1.0, -2.0, 4.0])
    got = fn(logits, categories)
    want = ["class5", "class9", "class1", "class3", "class7"]
    if not isinstance(got, (list, tuple)):
        fail(
            f"Expected a list of names, got {type(got).__name__}.",
            "Turn indices into names: [categories[i] for i in ...].",
        )
    if len(got) != 5:
        fail(f"Expected 5 names, got {len(got)}.", "logits.topk(5) returns the 5 largest values and their indices.")
    if set(got) == set(want) and list(got) != want:
        fail("Right classes, wrong order.", "Most probable first: topk sorts descending; sorted() would not.")
    if list(got) != want:
        fail(f"Got {list(got)}, expected {want}.", "Use the *indices* from logits.topk(5), not the values.")
    return ok("top5_names picks the 5 most probable classes in order.")


@exercise("01")
def check_freeze_features(fn, make_model) -> str:
    """fn(model) freezes everything except `model.head`; make_model() builds a fresh model to test on."""
    model = make_model()
    fn(model)
    head = {id(p) for p in model.head.parameters()}
    wrong_frozen = [n for n, p in model.named_parameters() if id(p) in head and not p.requires_grad]
    wrong_open = [n for n, p in model.named_parameters() if id(p) not in head and p.requires_grad]
    if wrong_frozen:
        fail(f"The head is frozen too: {wrong_frozen}.", "Freeze model.features only (or unfreeze model.head after).")
    if wrong_open:
        fail(
            f"Still trainable outside the head: {wrong_open}.",
            "Set p.requires_grad = False for p in model.features.parameters().",
        )
    return ok("Only the head will learn; the pretrained features stay as they are.")


@exercise("01")
def check_nearest(fn) -> str:
    """fn(query [D], bank [N, D], k) -> indices of the k most cosine-similar rows of bank, most similar first."""
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [10.0, 3.0], [-1.0, 0.0], [0.7, 0.7]])
    query = torch.tensor([2.0, 0.1])
    got = torch.as_tensor(fn(query, bank, 3)).tolist()
    want = [0, 2, 4]
    if got == [2, 0, 4] or got[:1] == [2] and got != want:
        fail(
            f"Got {got}: row 2 is nearest only by dot product, which favours long vectors.",
            "Normalise query and bank rows to length 1 first (torch.nn.functional.normalize).",
        )
    if got != want:
        fail(f"Got {got}, expected {want}.", "Cosine similarity = normalised dot product; take topk(k) of it.")
    return ok("nearest finds neighbours by direction (cosine similarity), not by length.")
