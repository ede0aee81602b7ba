"""tlcourse: the helpers behind a hands-on transfer-learning course.

Modules, one concern each: `data` (datasets), `images` (image files), `models` (backbones and surgery),
`train` (the training loop), `features` (cached feature extraction, probes), `plots`, `checks`
(exercise feedback), `text` (language encoder), `doctor`, `cli`.
"""
from .doctor import doctor

__version__ = "0.1.0"
__all__ = ["doctor", "__version__"]
