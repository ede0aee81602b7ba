"""`tlcourse train DATA`: a classifier for one's own photos, chosen on the training photos, reported on unseen ones.

The recipe: check the data and say what is in it; run the frozen backbone once (features cached per image);
fit a linear probe; in `--fine-tune auto`, cross-validate the probe and the fine-tuned top stage on the *training*
photos and keep the fine-tuned one only if it wins by more than the fold-to-fold noise; report the kept model's
accuracy on the validation photos, which neither the choice nor any training (early stopping included) has seen
(lesson 06: pick by CV, touch the test split once). It writes a self-describing model, `metrics.json` and figures
to `--out`. Bad input is a one-line TrainInputError naming the fix.

One module per step, visited in this order by `run.train_recipe` on the way from DATA to `model.pt`:

- options: `TrainConfig` (what was asked) and its checks, before any work
- data: the photos split into train and val, and the `DataReport` printed before training
- features: the frozen backbone run once per photo (`Features`: pooled features and, for Lite, stage6 maps)
- candidates: the two models the recipe can keep: the linear probe and the fine-tuned top stage
- groups: `--groups`, one subject's photos kept in one fold and on one side of the split
- choice: cross-validation of the candidates on the training photos and the rule that picks one (`Choice`)
- robustness: the kept model under lesson 12's shifts, and AdaBN done right (writes adapt_bn.pt)
- gap: cross-validation's estimate against the untouched validation accuracy, named when beyond the noise,
  with the checks that tell a shift from near copies across folds
- report: the kept model scored on the validation photos; model.pt, metrics.json and the figures
- run: the steps above in order (and the timings), under torchrun too; predict: `tlcourse predict [--adapt-bn]`

Under `torchrun --nproc-per-node N` the same command runs on N processes: each extracts its share of the photos
into the shared per-photo cache, rank 0 alone fits the probe and makes the choice (broadcast to the others), the
kept top stage is fine-tuned with DistributedDataParallel on all of them (the batch per process is divided so the
effective batch stays the single-process one), and rank 0 alone prints and writes the outputs.
"""

from ..errors import TrainInputError
from .candidates import probe_as_linear, stopping_split
from .choice import NOISE_SE, Choice, CrossValidation, choose, summarise_folds
from .data import DataReport, load_data
from .features import Features, SplitFeatures
from .options import MODEL_FILE, TrainConfig, check_options, check_out_dir
from .predict import predict_report
from .run import Timings, train_recipe

__all__ = [
    "MODEL_FILE",
    "NOISE_SE",
    "Choice",
    "CrossValidation",
    "DataReport",
    "Features",
    "SplitFeatures",
    "Timings",
    "TrainConfig",
    "TrainInputError",
    "check_options",
    "check_out_dir",
    "choose",
    "load_data",
    "predict_report",
    "probe_as_linear",
    "stopping_split",
    "summarise_folds",
    "train_recipe",
]
