"""Exercise checks, one module per lesson: each runs the learner's function on small cases and says what is wrong.

`from tlcourse import checks; checks.check_top5_names(top5_names)` works for every lesson. Every call is kept in
`checks.outcomes()` and in the learner's logbook on this machine (`logbook`); `checks.progress()` shows it as a table
(`tlcourse progress` in a terminal). `tlcourse grade` reads none of these: it runs its own copies of the checks.
"""

from .feedback import CATALOG, LOG_ENV, ExerciseError, Outcome, outcomes
from .lesson01 import check_freeze_features, check_nearest, check_top5_names
from .lesson02 import check_global_pool, check_transform
from .lesson03 import check_new_head, check_param_groups
from .lesson04 import check_freeze_batchnorm, check_images_needed, check_sample_per_class
from .lesson05 import check_copy_first_layers, check_split_effects
from .lesson06 import check_cosine_lr, check_early_stop, check_exponential_lr
from .lesson07 import check_freeze_lower_layers, check_mean_pool, check_warmup_schedule
from .lesson08 import check_causal_attention, check_last_token_state, check_next_token_loss
from .lesson09 import check_fold_standardisation, check_gradcam, check_stratified_split
from .lesson10 import check_average_gradients, check_scaled_lr, check_shard_indices
from .lesson11 import check_lora_linear, check_merge_lora, check_trainable_state
from .lesson12 import check_gaussian_noise, check_mix_weights, check_reestimate_bn
from .logbook import progress

__all__ = [
    "CATALOG",
    "LOG_ENV",
    "ExerciseError",
    "Outcome",
    "outcomes",
    "progress",
    "check_top5_names",
    "check_freeze_features",
    "check_nearest",
    "check_global_pool",
    "check_transform",
    "check_param_groups",
    "check_new_head",
    "check_sample_per_class",
    "check_freeze_batchnorm",
    "check_images_needed",
    "check_copy_first_layers",
    "check_split_effects",
    "check_exponential_lr",
    "check_cosine_lr",
    "check_early_stop",
    "check_mean_pool",
    "check_freeze_lower_layers",
    "check_warmup_schedule",
    "check_causal_attention",
    "check_next_token_loss",
    "check_last_token_state",
    "check_stratified_split",
    "check_fold_standardisation",
    "check_gradcam",
    "check_shard_indices",
    "check_average_gradients",
    "check_scaled_lr",
    "check_lora_linear",
    "check_merge_lora",
    "check_trainable_state",
    "check_gaussian_noise",
    "check_mix_weights",
    "check_reestimate_bn",
]
