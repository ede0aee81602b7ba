"""The training recipes people copy, re-implemented on the course's backbone for `bench.py side-by-side`.

Each recipe is one function taking the training and validation photos (`tlcourse.images.ImageFiles`) and returning a
`RecipeResult`: EfficientNet-Lite0 with its ImageNet weights (`tlcourse.models.load_backbone`, inputs normalised with
mean = std = 0.5 as the weights expect), each recipe's own published hyper-parameters, augmentation and schedule, and
accuracy measured once, at the end, on the validation photos: nothing is chosen on them (the PyTorch tutorial keeps its
best epoch by validation accuracy; here its last epoch counts, as for every other recipe).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms as T

from tlcourse import models
from tlcourse.images import ImageFiles
from tlcourse.runtime import seed_everything, to_device

TUTORIAL = "https://pytorch.org/tutorials/beginner/transfer_learning_tutorial.html"
KERAS = "https://keras.io/guides/transfer_learning/"
FASTAI = "https://docs.fast.ai/callback.schedule.html#learner.fine_tune"
MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # EfficientNet-Lite0's: inputs scaled to [-1, 1]


@dataclass
class RecipeResult:
    """One recipe's run: validation accuracy on the photos it never chose anything on, and its wall seconds."""

    recipe: str
    seed: int
    val_accuracy: float
    seconds: float
    epochs: int
    source: str

    def to_json(self) -> dict:
        """The row as results JSON keeps it."""
        return asdict(self)


def lite0(num_classes: int) -> nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights and a new `num_classes` classifier (the tutorial's surgery)."""
    model = models.load_backbone("efficientnet_lite0").model
    model.classifier = nn.Linear(model.classifier.in_features, num_classes)
    return model


def normalise() -> list:
    """ToTensor and the backbone's normalisation, the end of every recipe's transform."""
    return [T.ToTensor(), T.Normalize(MEAN, STD)]


def crop_eval() -> T.Compose:
    """Resize(256) + CenterCrop(224): the tutorial's (and fastai's centre-crop) validation transform."""
    return T.Compose([T.Resize(256), T.CenterCrop(224), *normalise()])


def loader(photos: ImageFiles, transform, *, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """Batches of `photos` under `transform`, in one process (2 cores: workers would compete with the math)."""
    g = torch.Generator().manual_seed(seed)
    return DataLoader(photos.with_transform(transform), batch_size=batch_size, shuffle=shuffle, generator=g)


@torch.no_grad()
def accuracy(model: nn.Module, photos: ImageFiles, transform) -> float:
    """Top-1 accuracy of `model` (eval mode) on `photos` under `transform`."""
    model.eval()
    device = next(model.parameters()).device
    hits = 0
    for x, y in loader(photos, transform, batch_size=32, shuffle=False):
        hits += int((model(to_device(x, device)).argmax(1).cpu() == y).sum())
    return hits / len(photos)


def train_epochs(
    model: nn.Module,
    batches: DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    epoch_scheduler=None,
    batch_scheduler=None,
    mode: Callable[[nn.Module], object] = nn.Module.train,
) -> None:
    """The plain loop every recipe uses: `mode(model)` each epoch, forward, cross-entropy, backward, step."""
    device = next(model.parameters()).device
    for _ in range(epochs):
        mode(model)
        for x, y in batches:
            loss = nn.functional.cross_entropy(model(to_device(x, device)), y.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if batch_scheduler is not None:
                batch_scheduler.step()
        if epoch_scheduler is not None:
            epoch_scheduler.step()


def _timed_recipe(name: str, source: str, epochs: int, seed: int, run: Callable[[], float]) -> RecipeResult:
    """Seed, run (it returns the validation accuracy), time it all: building the model, training, evaluating."""
    seed_everything(seed)
    t0 = time.perf_counter()
    acc = run()
    return RecipeResult(name, seed, acc, time.perf_counter() - t0, epochs, source)


# --- the PyTorch transfer-learning tutorial --------------------------------------------------------------------------


def tutorial_train_transform() -> T.Compose:
    """The tutorial's training augmentation: RandomResizedCrop(224), RandomHorizontalFlip."""
    return T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), *normalise()])


def tutorial_optimizer(params, epochs_per_step: int = 7) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.StepLR]:
    """SGD lr 0.001, momentum 0.9; the learning rate x0.1 every 7 epochs (StepLR)."""
    opt = torch.optim.SGD(params, lr=0.001, momentum=0.9)
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=epochs_per_step, gamma=0.1)


def pytorch_tutorial(
    train: ImageFiles, val: ImageFiles, *, seed: int = 0, epochs: int = 25, fixed_features: bool = False
) -> RecipeResult:
    """The PyTorch tutorial (TUTORIAL): a new head, every layer fine-tuned (or, `fixed_features`, only the head:
    "ConvNet as fixed feature extractor"), batch 4 shuffled, SGD + StepLR, 25 epochs, model.train() throughout (so a
    frozen backbone's BatchNorm statistics still move, as in the tutorial)."""

    def run() -> float:
        model = lite0(len(train.classes))
        if fixed_features:
            for name, p in model.named_parameters():
                p.requires_grad = name.startswith("classifier.")
        opt, sched = tutorial_optimizer([p for p in model.parameters() if p.requires_grad])
        batches = loader(train, tutorial_train_transform(), batch_size=4, shuffle=True, seed=seed)
        train_epochs(model, batches, opt, epochs=epochs, epoch_scheduler=sched)
        return accuracy(model, val, crop_eval())

    name = "pytorch tutorial, fixed feature extractor" if fixed_features else "pytorch tutorial, fine-tune all"
    return _timed_recipe(name, TUTORIAL, epochs, seed, run)


# --- the Keras transfer-learning guide -------------------------------------------------------------------------------


class KerasHead(nn.Module):
    """The guide's top: the base's pooled features, Dropout(0.2), a new Dense layer."""

    def __init__(self, base: nn.Module, num_classes: int):
        super().__init__()
        self.base = base
        self.dropout = nn.Dropout(0.2)
        self.dense = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.dropout(self.base.forward_features(x)))


def keras_train_transform() -> T.Compose:
    """Resizing to the input size, RandomFlip("horizontal"), RandomRotation(0.1) (a tenth of a turn: +/-36 degrees)."""
    return T.Compose([T.Resize((224, 224)), T.RandomHorizontalFlip(), T.RandomRotation(36), *normalise()])


def keras_eval_transform() -> T.Compose:
    """Resizing to the input size (the guide resizes, it does not crop)."""
    return T.Compose([T.Resize((224, 224)), *normalise()])


def base_in_inference_mode(model: KerasHead) -> None:
    """`base_model(x, training=False)`: dropout of the head trains, the base (its BatchNorm) stays in inference mode."""
    model.train()
    model.base.eval()


def keras_guide(
    train: ImageFiles, val: ImageFiles, *, seed: int = 0, head_epochs: int = 20, fine_tune_epochs: int = 10
) -> RecipeResult:
    """The Keras guide (KERAS): base frozen, Adam 1e-3 on the new head for 20 epochs; then everything unfrozen at
    Adam 1e-5 for 10 epochs, BatchNorm kept in inference mode throughout; batch 64 (the guide's example ran 2 + 1
    epochs for speed)."""

    def run() -> float:
        model = KerasHead(lite0(len(train.classes)), len(train.classes))
        batches = loader(train, keras_train_transform(), batch_size=64, shuffle=True, seed=seed)
        model.base.requires_grad_(False)
        opt = torch.optim.Adam(model.dense.parameters(), lr=1e-3, eps=1e-7)
        train_epochs(model, batches, opt, epochs=head_epochs, mode=base_in_inference_mode)
        model.base.requires_grad_(True)
        opt = torch.optim.Adam(model.parameters(), lr=1e-5, eps=1e-7)
        train_epochs(model, batches, opt, epochs=fine_tune_epochs, mode=base_in_inference_mode)
        return accuracy(model, val, keras_eval_transform())

    return _timed_recipe("keras guide", KERAS, head_epochs + fine_tune_epochs, seed, run)


# --- fastai's fine_tune -----------------------------------------------------------------------------------------------


class FastaiModel(nn.Module):
    """vision_learner's model: the backbone's body, then create_head's head (concat pooling, BN, dropout, Linear)."""

    def __init__(self, base: nn.Module, num_classes: int, features: int = 1280, hidden: int = 512):
        super().__init__()
        self.base = base
        self.head = nn.Sequential(
            nn.BatchNorm1d(2 * features),
            nn.Dropout(0.25),
            nn.Linear(2 * features, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(hidden),
            nn.Dropout(0.5),
            nn.Linear(hidden, num_classes, bias=False),
        )

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's last feature maps (before its pooling)."""
        x = nn.functional.relu6(self.base.stem(x))
        for stage in self.base.stages.values():
            x = stage(x)
        return nn.functional.relu6(self.base.head(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.body(x)
        pooled = torch.cat([nn.functional.adaptive_max_pool2d(maps, 1), nn.functional.adaptive_avg_pool2d(maps, 1)], 1)
        return self.head(pooled.flatten(1))


def fastai_train_transform() -> T.Compose:
    """item_tfms=Resize(224) (a random square crop when training) and aug_transforms()'s defaults: flip, rotate 10
    degrees, zoom up to 1.1, lighting 0.2, warp 0.2 (applied with probability 0.75)."""
    return T.Compose(
        [
            T.Resize(224),
            T.RandomCrop(224),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.RandomAffine(degrees=10, scale=(1.0, 1.1))], p=0.75),
            T.RandomPerspective(distortion_scale=0.2, p=0.75),
            T.RandomApply([T.ColorJitter(brightness=0.2, contrast=0.2)], p=0.75),
            *normalise(),
        ]
    )


def fastai_eval_transform() -> T.Compose:
    """Resize(224) with a centre crop, as fastai's validation set gets it."""
    return T.Compose([T.Resize(224), T.CenterCrop(224), *normalise()])


def freeze_body(model: FastaiModel, frozen: bool) -> None:
    """learn.freeze() / unfreeze(): the body's weights frozen, its BatchNorm layers still trained (train_bn=True)."""
    for module in model.base.modules():
        is_bn = isinstance(module, nn.modules.batchnorm._BatchNorm)
        for p in module.parameters(recurse=False):
            p.requires_grad = is_bn or not frozen


def fastai_optimizer(model: FastaiModel, lrs: tuple[float, float]) -> torch.optim.AdamW:
    """fastai's Adam: betas (0.9, 0.99), eps 1e-5, true weight decay 0.01; one group for the body, one for the head."""
    groups = [{"params": list(model.base.parameters()), "lr": lrs[0]}, {"params": list(model.head.parameters())}]
    groups[1]["lr"] = lrs[1]
    return torch.optim.AdamW(groups, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)


def one_cycle(opt: torch.optim.Optimizer, *, steps: int, pct_start: float, div: float = 25.0):
    """fit_one_cycle: cosine warm-up from lr/div to lr over pct_start, cosine down to lr/1e5; beta1 0.95-0.85-0.95."""
    return torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=[g["lr"] for g in opt.param_groups],
        total_steps=steps,
        pct_start=pct_start,
        anneal_strategy="cos",
        div_factor=div,
        final_div_factor=1e5 / div,
        base_momentum=0.85,
        max_momentum=0.95,
    )


def fastai_lrs(base_lr: float, lr_mult: float | None) -> tuple[float, float]:
    """(body, head) learning rates of slice(base_lr) (body base_lr/10) or slice(base_lr/lr_mult, base_lr), 2 groups."""
    return (base_lr / 10 if lr_mult is None else base_lr / lr_mult), base_lr


def fastai_fine_tune(
    train: ImageFiles, val: ImageFiles, *, seed: int = 0, epochs: int = 4, base_lr: float = 2e-3
) -> RecipeResult:
    """fastai's `learn.fine_tune(4)` (FASTAI): freeze, fit_one_cycle(1, slice(base_lr), pct_start=0.99); base_lr /= 2;
    unfreeze, fit_one_cycle(4, slice(base_lr/100, base_lr), pct_start=0.3, div=5); batch 64, vision_learner's head."""

    def run() -> float:
        model = FastaiModel(lite0(len(train.classes)), len(train.classes))
        batches = loader(train, fastai_train_transform(), batch_size=64, shuffle=True, seed=seed)
        freeze_body(model, True)
        opt = fastai_optimizer(model, fastai_lrs(base_lr, None))
        sched = one_cycle(opt, steps=len(batches), pct_start=0.99)
        train_epochs(model, batches, opt, epochs=1, batch_scheduler=sched)
        freeze_body(model, False)
        opt = fastai_optimizer(model, fastai_lrs(base_lr / 2, 100))
        sched = one_cycle(opt, steps=epochs * len(batches), pct_start=0.3, div=5.0)
        train_epochs(model, batches, opt, epochs=epochs, batch_scheduler=sched)
        return accuracy(model, val, fastai_eval_transform())

    return _timed_recipe(f"fastai fine_tune({epochs})", FASTAI, 1 + epochs, seed, run)


RECIPES: dict[str, Callable[..., RecipeResult]] = {
    "pytorch-tutorial": pytorch_tutorial,
    "pytorch-tutorial-fixed": lambda train, val, **kw: pytorch_tutorial(train, val, fixed_features=True, **kw),
    "keras-guide": keras_guide,
    "fastai-fine-tune": fastai_fine_tune,
}
