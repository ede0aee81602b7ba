"""tlcourse: the helpers behind a hands-on transfer-learning course.

One concern per module (the lessons import the modules, not names from here):

- data: the dataset registry and `load_dataset`; kinds: how each kind of dataset is counted, fetched, verified, loaded
- download: fetching with checksums and safe extraction; paths: where data, caches and checkpoints live
- images: image files as datasets (your own photos too); decoding: one file read correctly, or named as unusable
- subsets: a few classes, k examples per class
- models: pretrained backbones and self-describing model files; efficientnet_lite: the Lite0/1/2 networks
- surgery: what transfer learning does to a network (heads, freezing, parameter groups, layer outputs, FLOPs)
- course: the backbone + ants/bees setup most image lessons share
- runtime: device, mixed precision, memory format, seeds; storage: atomic files, checkpoints, fingerprints, caches
- train: the training loop (`fit`, one epoch, evaluation, History, EarlyStopping); distributed: the same loop on
  several processes under torchrun; tuning: LR finder and LR schedules
- features: cached feature extraction and probes; feature_store: features cached per image content
- text: the MiniLM sentence encoder and SST-2 batches
- gpt: a small decoder-only transformer (GPT) you can read, its next-token loss, sampling and word-piece vocabulary
- lm: lesson 08's generative pretraining: SST-2 sentences as unlabelled text, packing, perplexity, its checkpoint
- pretrain: lesson 01's small CNN and its checkpoint; experiments: data-efficiency comparisons
- plots: general figures (and the live learning curves `fit(live_plot=True)` draws); figures: the figures of whole
  experiments (lessons 05, 06, 10)
- checks: exercise feedback, one module per lesson, with machine-readable outcomes (checks.logbook: progress)
- recipe: `tlcourse train` for one's own photos, one module per step (options, data, groups, features, candidates,
  choice, robustness, gap, report, run) and `tlcourse predict [--adapt-bn]`
- lora: a LoRA wrapper for nn.Linear and its merge (lesson 11); shift: distribution shifts made reproducibly,
  BatchNorm re-estimation, weight interpolation (lesson 12)
- cli: the `tlcourse` command; doctor: is this machine ready (`doctor.check()`); progress: progress bars that leave
  text behind
- lessons: the lesson notebooks the installed course carries, copied out (`tlcourse lessons`, `tlcourse lab`)
- classroom: teaching a class: student versions, nbgrader metadata, `tlcourse grade`
- errors: the exceptions a learner may see, each with its fix (the checks' ExerciseError stays in checks.feedback,
  which the grader runs from its own copy)

The course's build tools (the executed copies of the lessons, the site) are in tools/, outside the package.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
