"""Exercise checks: each runs the learner's function on small cases and says what is wrong, with a hint.

A check prints a green line when the answer is right, raises ExerciseError (one readable message, no
traceback wall) when it is wrong, and lets NotImplementedError through when the exercise is not attempted.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .errors import TLCourseError
from .train import replay_early_stopping


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


# ---------------------------------------------------------------------------------------------- lesson 04
def check_sample_per_class(fn) -> None:
    """fn(labels, k, seed) -> indices of k examples of every class (all indices for k=None), seeded."""
    labels = np.array([0, 1, 2] * 6 + [2, 2])
    got = np.asarray(fn(labels, 3, 0))
    counts = {c: int((labels[got] == c).sum()) for c in range(3)} if got.size else {}
    if got.size != 9 or set(counts.values()) != {3}:
        _fail(f"Expected 3 indices of each class (9 in all), got counts {counts} from {got.size} indices.",
              "Loop over np.unique(labels); pick k from np.flatnonzero(labels == c) for each class.")
    if len(set(got.tolist())) != len(got):
        _fail("Some index was drawn twice.", "rng.choice(pool, k, replace=False) draws without replacement.")
    if not np.array_equal(np.sort(got), np.sort(np.asarray(fn(labels, 3, 0)))):
        _fail("Two calls with the same seed gave different indices.", "Use rng = np.random.default_rng(seed).")
    draws = {tuple(np.sort(np.asarray(fn(labels, 3, seed)))) for seed in range(5)}
    if len(draws) == 1:
        _fail("Every seed gives the same indices: the draw is not random.", "Draw with rng.choice, not the first k.")
    everything = np.asarray(fn(labels, None, 0))
    if sorted(everything.tolist()) != list(range(len(labels))):
        _fail("k=None should return every index once.", "if k is None: return np.arange(len(labels)).")
    _ok("sample_per_class draws k of every class, reproducibly per seed.")


def check_freeze_batchnorm(fn) -> None:
    """fn(module) sets requires_grad=False on every BatchNorm parameter and changes nothing else."""
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                           nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)), nn.Linear(4, 2))
    module[0].weight.requires_grad = False  # frozen before: must stay frozen
    fn(module)
    bn_open = [n for n, m in module.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
               for p in m.parameters() if p.requires_grad]
    if bn_open:
        _fail(f"BatchNorm layers still trainable: {sorted(set(bn_open))}.",
              "Walk every sub-module with module.modules(), not only the top-level children.")
    others = dict(module.named_parameters())
    if not others["0.bias"].requires_grad or not others["3.0.weight"].requires_grad:
        _fail("A convolution was frozen too.", "Only touch modules that are BatchNorm layers (isinstance check).")
    if others["0.weight"].requires_grad:
        _fail("A parameter that was frozen before is trainable now.", "Only set requires_grad = False; never True.")
    _ok("BatchNorm is frozen, everything else is as it was: train mode will keep BN in eval mode.")


def check_images_needed(fn) -> None:
    """fn(ks, accuracies, target) -> the smallest k whose accuracy reaches target, or None."""
    ks, accs = [2, 5, 10, 20], [0.6, 0.8, 0.79, 0.95]
    cases = [(0.8, 5), (0.5, 2), (0.9, 20), (0.95, 20), (0.99, None)]
    for target, want in cases:
        got = fn(ks, accs, target)
        if got != want:
            hint = ("'At least' includes equality: use >=." if target in accs else
                    "Return None when no accuracy reaches the target." if want is None else
                    "Go through ks in order and return the first k that reaches the target.")
            _fail(f"images_needed({ks}, {accs}, {target}) returned {got!r}, expected {want!r}.", hint)
    _ok("images_needed reads a learning curve as a labelling cost.")


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


# ---------------------------------------------------------------------------------------------- lesson 06
def check_exponential_lr(fn) -> None:
    """fn(step, steps, start_lr, end_lr): start_lr at step 0, end_lr at steps-1, geometric in between."""
    got = [float(fn(step, 5, 1e-4, 1.0)) for step in range(5)]
    want = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    if not np.isclose(got[0], want[0], rtol=1e-6):
        _fail(f"At step 0 got {got[0]:g}, expected start_lr = 1e-4.", "step / (steps - 1) is 0 at the first step.")
    if not np.isclose(got[-1], want[-1], rtol=1e-6):
        _fail(f"At the last step got {got[-1]:g}, expected end_lr = 1.", "Divide by steps - 1, not steps: the last step is steps - 1.")
    if not np.allclose(got, want, rtol=1e-6):
        hint = ("That is linear spacing; each step should *multiply* the LR by the same factor."
                if np.isclose(got[2], (1e-4 + 1.0) / 2, rtol=1e-3) else
                "start_lr * (end_lr / start_lr) ** (step / (steps - 1)).")
        _fail(f"Got {[f'{v:.0e}' for v in got]}, expected {[f'{v:.0e}' for v in want]}.", hint)
    _ok("exponential_lr sweeps from start_lr to end_lr evenly on a log scale.")


def check_cosine_lr(fn) -> None:
    """fn(step, total_steps, peak_lr) = peak_lr * (1 + cos(pi * step / total_steps)) / 2, as torch's CosineAnnealingLR."""
    total, peak = 8, 0.1
    got = np.array([float(fn(step, total, peak)) for step in range(total + 1)])
    want = peak * (1 + np.cos(np.pi * np.arange(total + 1) / total)) / 2
    if not np.isclose(got[0], peak):
        _fail(f"At step 0 got {got[0]:g}, expected peak_lr = {peak}.", "cos(0) = 1, so (1 + 1) / 2 = 1 times peak_lr.")
    if not np.isclose(got[-1], 0.0, atol=1e-9):
        _fail(f"At step total_steps got {got[-1]:g}, expected 0.", "Half a cosine wave: the angle goes from 0 to pi.")
    if not np.allclose(got, want):
        _fail(f"Got {np.round(got, 4).tolist()}, expected {np.round(want, 4).tolist()}.",
              "peak_lr * (1 + np.cos(np.pi * step / total_steps)) / 2.")
    _ok("cosine_lr matches torch's CosineAnnealingLR.")


def check_early_stop(fn) -> None:
    """fn(val_losses, patience) -> (stop_epoch, best_epoch), epochs counted from 1."""
    cases = [([1.0, 0.8, 0.9, 0.95, 0.7, 0.6], 2, "stops after two epochs without improvement"),
             ([1.0, 0.8, 0.9, 0.95, 0.7, 0.6], 3, "a longer patience survives the bump"),
             ([0.5, 0.5, 0.5], 2, "an equal loss is not an improvement"),
             ([1.0, 0.9, 0.8], 1, "never stops early: the last epoch"),
             ([0.9, 1.0, 0.8, 1.1], 1, "patience 1 stops at the first bad epoch")]
    for losses, patience, what in cases:
        want = replay_early_stopping(losses, patience)
        got = tuple(fn(losses, patience))
        if got != want:
            hint = ("Epochs count from 1: enumerate(val_losses, start=1)." if got == (want[0] - 1, want[1] - 1) else
                    "Reset the waiting count when the loss improves; stop once it reaches patience." if got[0] != want[0]
                    else "best_epoch is the epoch of the lowest loss seen up to the stop.")
            _fail(f"early_stop({losses}, patience={patience}) gave {got}, expected {want} ({what}).", hint)
    _ok("early_stop agrees with train.EarlyStopping.")


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
