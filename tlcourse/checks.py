"""Exercise checks: each runs the learner's function on small cases and says what is wrong, with a hint.

A check prints a green line when the answer is right, raises ExerciseError (one readable message, no
traceback wall) when it is wrong, and lets NotImplementedError through when the exercise is not attempted.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .errors import TLCourseError


class ExerciseError(TLCourseError, AssertionError):
    """The learner's answer is not right yet; the message says why and gives a hint."""


def _fail(problem: str, hint: str) -> None:
    raise ExerciseError(f"{problem}\nHint: {hint}")


def _ok(message: str) -> None:
    print(f"\u2705 {message}")


# ---------------------------------------------------------------------------------------------- lesson 01
def check_top5_names(fn) -> None:
    """fn(logits [C], categories) -> the 5 most probable class names, most probable first."""
    categories = [f"class{i}" for i in range(10)]
    logits = torch.tensor([0.1, 3.0, -1.0, 2.0, 0.5, 5.0, 0.0, 1.0, -2.0, 4.0])
    got = fn(logits, categories)
    want = ["class5", "class9", "class1", "class3", "class7"]
    if not isinstance(got, (list, tuple)):
        _fail(f"Expected a list of names, got {type(got).__name__}.", "Turn indices into names: [categories[i] for i in ...].")
    if len(got) != 5:
        _fail(f"Expected 5 names, got {len(got)}.", "logits.topk(5) returns the 5 largest values and their indices.")
    if set(got) == set(want) and list(got) != want:
        _fail("Right classes, wrong order.", "Most probable first: topk sorts descending; sorted() would not.")
    if list(got) != want:
        _fail(f"Got {list(got)}, expected {want}.", "Use the *indices* from logits.topk(5), not the values.")
    _ok("top5_names picks the 5 most probable classes in order.")


def check_freeze_features(fn, make_model) -> None:
    """fn(model) freezes everything except `model.head`; make_model() builds a fresh model to test on."""
    model = make_model()
    fn(model)
    head = {id(p) for p in model.head.parameters()}
    wrong_frozen = [n for n, p in model.named_parameters() if id(p) in head and not p.requires_grad]
    wrong_open = [n for n, p in model.named_parameters() if id(p) not in head and p.requires_grad]
    if wrong_frozen:
        _fail(f"The head is frozen too: {wrong_frozen}.", "Freeze model.features only (or unfreeze model.head after).")
    if wrong_open:
        _fail(f"Still trainable outside the head: {wrong_open}.", "Set p.requires_grad = False for p in model.features.parameters().")
    _ok("Only the head will learn; the pretrained features stay as they are.")


def check_nearest(fn) -> None:
    """fn(query [D], bank [N, D], k) -> indices of the k most cosine-similar rows of bank, most similar first."""
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [10.0, 3.0], [-1.0, 0.0], [0.7, 0.7]])
    query = torch.tensor([2.0, 0.1])
    got = torch.as_tensor(fn(query, bank, 3)).tolist()
    want = [0, 2, 4]
    if got == [2, 0, 4] or got[:1] == [2] and got != want:
        _fail(f"Got {got}: row 2 is nearest only by dot product, which favours long vectors.",
              "Normalise query and bank rows to length 1 first (torch.nn.functional.normalize).")
    if got != want:
        _fail(f"Got {got}, expected {want}.", "Cosine similarity = normalised dot product; take topk(k) of it.")
    _ok("nearest finds neighbours by direction (cosine similarity), not by length.")


# ---------------------------------------------------------------------------------------------- lesson 02
def check_global_pool(fn) -> None:
    """fn(feature_maps [N, C, H, W]) -> [N, C], the mean over the spatial positions."""
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    got = fn(x)
    if tuple(got.shape) != (2, 3):
        _fail(f"Shape {tuple(got.shape)}, expected (2, 3).", "Average over the last two dimensions: dim=(2, 3).")
    if not torch.allclose(got, x.mean(dim=(2, 3))):
        _fail("Right shape, wrong values.", "Use the mean, not the sum or max.")
    _ok("global average pooling turns any feature map into one vector per image.")


def check_transform(fn, info) -> None:
    """fn(info) -> a transform matching the backbone: info.input_size crop, info.mean/info.std normalisation."""
    from PIL import Image
    image = Image.new("RGB", (320, 240), (255, 128, 0))
    x = fn(info)(image)
    if not torch.is_tensor(x) or tuple(x.shape) != (3, info.input_size, info.input_size):
        _fail(f"Expected a tensor of shape (3, {info.input_size}, {info.input_size}).",
              "Resize, then CenterCrop(info.input_size), then ToTensor().")
    want = (torch.tensor([1.0, 128 / 255, 0.0]) - torch.tensor(info.mean)) / torch.tensor(info.std)
    if not torch.allclose(x[:, 0, 0], want, atol=0.02):
        _fail(f"Pixel values {x[:, 0, 0].tolist()} should be {want.tolist()}.",
              "Normalize with the backbone's own mean and std: T.Normalize(info.mean, info.std).")
    _ok("your transform matches the preprocessing the backbone was trained with.")


# ---------------------------------------------------------------------------------------------- lesson 03
def check_param_groups(fn, make_model) -> None:
    """fn(model, info, head_lr) -> param groups: head at head_lr, trainable backbone params at head_lr / 10."""
    model, info = make_model()
    groups = fn(model, info, 1e-3)
    optimizer = torch.optim.SGD(groups, lr=1.0)
    lrs = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    head = {id(p) for p in model.get_submodule(info.classifier).parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    if trainable - set(lrs):
        _fail("Some trainable parameters are in no group, so they would never be updated.",
              "Collect every parameter with requires_grad=True.")
    if set(lrs) - trainable:
        _fail("Frozen parameters are in a group.", "Skip parameters with requires_grad=False.")
    if any(abs(lrs[i] - 1e-3) > 1e-12 for i in head):
        _fail("The head's learning rate should be head_lr.", "Give the classifier its own group with lr=head_lr.")
    if any(abs(lr - 1e-4) > 1e-12 for i, lr in lrs.items() if i not in head):
        _fail("Backbone parameters should learn 10x slower than the head.", "Use lr=head_lr / 10 for the backbone group.")
    _ok("discriminative learning rates: the pretrained layers move gently, the new head quickly.")


def check_new_head(fn, make_model) -> None:
    """fn(model, num_classes) replaces `model._fc` (1280 -> 1000) with a fresh Linear(1280, num_classes)."""
    model, _ = make_model()
    old = model._fc
    fn(model, 3)
    if model._fc is old:
        _fail("model._fc is still the ImageNet classifier.", "Assign a new layer: model._fc = nn.Linear(...).")
    if not isinstance(model._fc, nn.Linear) or (model._fc.in_features, model._fc.out_features) != (1280, 3):
        _fail(f"model._fc is {model._fc}, expected Linear(1280 -> 3).", "in_features must match the backbone: 1280.")
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 64, 64))
    if tuple(out.shape) != (1, 3):
        _fail(f"The model now outputs {tuple(out.shape)}.", "The new head decides the number of outputs.")
    _ok("new head in place: 3 outputs, fresh weights, the backbone untouched.")


# ---------------------------------------------------------------------------------------------- lesson 05
def check_copy_first_layers(fn, make_net) -> None:
    """fn(target, source, n, freeze) copies layers 0..n-1 of source into target (frozen if asked), nothing more."""
    torch.manual_seed(0)
    source, target = make_net(), make_net()
    untouched = [p.detach().clone() for p in target[2:].parameters()]
    result = fn(target, source, 2, True)
    if result is not target:
        _fail("Return the target network.", "End with `return target` (the notebook's cell already does).")
    for i in range(2):
        for (name, p), q in zip(target[i].named_parameters(), source[i].parameters()):
            if not torch.equal(p, q):
                _fail(f"Layer {i} ({name}) was not copied.", "target[i].load_state_dict(source[i].state_dict()).")
            if p is q:
                _fail(f"Layer {i} is shared with the source, not copied.", "Copy weights with load_state_dict.")
            if p.requires_grad:
                _fail(f"Layer {i} still learns although freeze=True.", "Set requires_grad = False on its parameters.")
    if any(not torch.equal(p, q) for p, q in zip(target[2:].parameters(), untouched)):
        _fail("Layers above n changed.", "Copy only range(n): the layers above keep their fresh weights.")
    if any(not p.requires_grad for p in target[2:].parameters()):
        _fail("Layers above n were frozen.", "Freeze only the copied layers.")
    open_copy = fn(make_net(), source, 2, False)
    if any(not p.requires_grad for p in open_copy.parameters()):
        _fail("With freeze=False the copied layers must stay trainable (the '+' conditions fine-tune them).",
              "Set requires_grad = not freeze.")
    _ok("first n layers copied (frozen for BnB/AnB, trainable for BnB+/AnB+), the rest fresh.")


def check_split_effects(fn) -> None:
    """fn(base, bnb, anb) -> (base - bnb, bnb - anb) elementwise: co-adaptation and specificity."""
    co, spec = fn(0.9, [0.9, 0.85, 0.88], [0.89, 0.8, 0.6])
    co, spec = np.asarray(co, dtype=float), np.asarray(spec, dtype=float)
    if np.allclose(co, [0.0, 0.05, 0.02]) and np.allclose(spec, [0.01, 0.05, 0.28]):
        _ok("co-adaptation = baseB - BnB, specificity = BnB - AnB.")
        return
    if np.allclose(co, [-0.0, -0.05, -0.02]) or np.allclose(spec, [-0.01, -0.05, -0.28]):
        _fail("A sign is flipped: both effects are losses, positive when transfer hurts.",
              "co-adaptation = base - bnb; specificity = bnb - anb.")
    _fail(f"Got co-adaptation {co.tolist()} and specificity {spec.tolist()}.",
          "Co-adaptation compares baseB with BnB (same task); specificity compares BnB with AnB (other task).")


# ---------------------------------------------------------------------------------------------- lesson 07
def check_mean_pool(fn) -> None:
    """fn(tokens [B, T, D], attention_mask [B, T]) -> [B, D], the mean over real tokens only (padding ignored)."""
    tokens = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[2.0, 0.0], [4.0, 2.0], [6.0, 4.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    got = fn(tokens, mask)
    want = torch.tensor([[2.0, 3.0], [4.0, 2.0]])
    if tuple(got.shape) != (2, 2):
        _fail(f"Shape {tuple(got.shape)}, expected (2, 2): one vector per sentence.", "Average over dim=1, the tokens.")
    if torch.allclose(got, tokens.mean(1)):
        _fail("The padding token was averaged in: sentence 1 came out as "
              f"{got[0].tolist()}, not {want[0].tolist()}.",
              "Multiply by mask.unsqueeze(-1), sum over tokens, divide by mask.sum(1, keepdim=True).")
    if not torch.allclose(got, want):
        _fail(f"Got {got.tolist()}, expected {want.tolist()}.", "Divide the masked sum by the number of real tokens.")
    _ok("mean pooling over real tokens: padding does not change a sentence's vector.")


def _tiny_bert():
    """A 4-layer BERT with random weights: big enough to test freezing, small enough to build instantly."""
    from transformers import BertConfig, BertModel
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    return BertModel(config)


def check_freeze_lower_layers(fn) -> None:
    """fn(transformer, n) freezes the embeddings and the first n transformer layers; everything above learns."""
    model = _tiny_bert()
    fn(model, 2)
    frozen = {n.split(".")[0] + ("." + n.split(".")[2] if n.startswith("encoder.layer.") else "")
              for n, p in model.named_parameters() if not p.requires_grad}
    want = {"embeddings", "encoder.0", "encoder.1"}
    if "embeddings" not in frozen:
        _fail("The embeddings still learn.", "Freeze transformer.embeddings too: it is the lowest 'layer' of all.")
    if frozen - want:
        _fail(f"Frozen too much: {sorted(frozen - want)}.", "Only transformer.encoder.layer[:n] and the embeddings.")
    if want - frozen:
        _fail(f"Still trainable: {sorted(want - frozen)}.", "Loop over transformer.encoder.layer[:n].")
    partly = [n for n, p in model.named_parameters() if p.requires_grad and n.startswith(("encoder.layer.0.",
                                                                                          "encoder.layer.1."))]
    if partly:
        _fail(f"Some parameters of the frozen layers still learn: {partly[:3]}.", "Freeze every parameter of a layer.")
    _ok("embeddings and lower layers frozen; the top layers and the head will adapt.")


def check_warmup_schedule(fn) -> None:
    """fn(step, warmup_steps, total_steps) -> LR multiplier: 0 -> 1 linearly during warm-up, then linearly to 0."""
    points = {0: 0.0, 5: 0.5, 10: 1.0, 55: 0.5, 100: 0.0}
    got = {s: float(fn(s, 10, 100)) for s in points}
    if abs(got[10] - 1.0) > 1e-6:
        _fail(f"At the end of warm-up (step 10 of 10) the multiplier is {got[10]}, expected 1.",
              "During warm-up return step / warmup_steps.")
    if got[0] > 0.11 or abs(got[5] - 0.5) > 0.06:
        _fail(f"Warm-up should start near 0 and be 0.5 half-way; got {got[0]} and {got[5]}.",
              "Rise linearly: step / warmup_steps.")
    if abs(got[55] - 0.5) > 0.02 or abs(got[100]) > 1e-6:
        _fail(f"After warm-up the multiplier should fall linearly to 0 at total_steps; got {got[55]} at step 55 "
              f"and {got[100]} at step 100.", "(total_steps - step) / (total_steps - warmup_steps).")
    _ok("linear warm-up, then linear decay: small steps while the new head is still random.")
