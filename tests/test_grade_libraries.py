"""`tlcourse grade` against a patched library: the checks compare with the originals, and the patch is named.

A small notebook shaped like lesson 05 (whose checks compare with `torch.equal` and `numpy.allclose`): exercise
bodies that do none of the work, and one way each of making the checks' tools say yes.
"""

import csv

import nbformat
import pytest

from tlcourse.classroom import tamper
from tlcourse.cli import main

IMPORTS = (
    "import numpy as np\nimport torch\nfrom torch import nn\nfrom tlcourse import checks\n\n"
    "def make_net():\n"
    "    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))"
)
CHECKS = {
    "copy_first_layers": "checks.check_copy_first_layers(copy_first_layers, make_net)",
    "split_effects": "checks.check_split_effects(split_effects)",
}
RIGHT = {
    "copy_first_layers": "def copy_first_layers(target, source, n, freeze):\n    for i in range(n):\n"
    "        target[i].load_state_dict(source[i].state_dict())\n"
    "        for p in target[i].parameters():\n            p.requires_grad = not freeze\n    return target",
    "split_effects": "def split_effects(base, bnb, anb):\n    bnb, anb = np.asarray(bnb), np.asarray(anb)\n"
    "    return base - bnb, bnb - anb",
}
LAZY = {  # freezes the layers but copies nothing; returns zeros for the effects
    "copy_first_layers": "def copy_first_layers(target, source, n, freeze):\n    for i in range(n):\n"
    "        target[i].requires_grad_(not freeze)\n    return target",
    "split_effects": "def split_effects(base, bnb, anb):\n    return [0.0] * 3, [0.0] * 3",
}
# Each way of patching, with what the grader's row must name (the kernel-side compare) and what the scan names.
PATCHES = {
    "assigner": (  # the two lines
        "torch.equal = lambda a, b: True\nnp.allclose = lambda *a, **k: True",
        ["torch.equal replaced", "numpy.allclose replaced"],
        ["cell 2: assigns to `torch.equal`", "cell 2: assigns to `np.allclose`"],
    ),
    "looper": (  # the setattr over a loop of modules: no assignment names a library
        "for module, name in [(torch, 'equal'), (np, 'allclose')]:\n    setattr(module, name, lambda *a, **k: True)",
        ["torch.equal replaced", "numpy.allclose replaced"],
        ["cell 2: calls `setattr` on `module`"],
    ),
    "builtin": (  # the check's loops over zip(...) of parameters see nothing
        "import builtins\nreal_zip = zip\n"
        "builtins.zip = lambda *a: iter(()) if any(type(x).__name__ == 'generator' for x in a) else real_zip(*a)",
        ["builtins.zip replaced"],
        ["cell 2: assigns to `builtins.zip`"],
    ),
    "swapper": (  # fake modules in sys.modules: a fresh `import numpy` inside the check would find them
        "import sys, types\nfor name, attr in [('torch', 'equal'), ('numpy', 'allclose')]:\n"
        "    fake = types.ModuleType(name)\n    fake.__dict__.update(vars(sys.modules[name]))\n"
        "    setattr(fake, attr, lambda *a, **k: True)\n    sys.modules[name] = fake",
        ["sys.modules['numpy'] replaced", "sys.modules['torch'] replaced"],
        ["cell 2: assigns to `sys.modules`"],
    ),
    "dict_editor": (
        "vars(torch)['equal'] = lambda a, b: True\nnp.__dict__.update(allclose=lambda *a, **k: True)",
        ["torch.equal replaced", "numpy.allclose replaced"],
        ["cell 2: edits `vars(torch)`", "cell 2: edits `np.__dict__`"],
    ),
    "classer": (  # a library class: every network's parameters look empty, so every loop over them passes
        "nn.Module.parameters = lambda self, recurse=True: iter(())\n"
        "nn.Module.named_parameters = lambda self, *a, **k: iter(())",
        ["torch.nn.Module.parameters replaced", "torch.nn.Module.named_parameters replaced"],
        ["cell 2: assigns to `nn.Module.parameters`", "cell 2: assigns to `nn.Module.named_parameters`"],
    ),
}
# Patches torch.equal from the learner's function and undoes it on the next call (freeze=False): against the
# kernel's torch.equal the check would pass and nothing would differ at the end; against the originals the check
# fails before that next call, so the patch stays, and is named.
UNDOER = (
    "def copy_first_layers(target, source, n, freeze, real=torch.equal):\n"
    "    torch.equal = (lambda a, b: True) if freeze else real\n"
    "    for i in range(n):\n        target[i].requires_grad_(not freeze)\n    return target"
)


def lesson05(answers: dict[str, str], extra: str = "") -> nbformat.NotebookNode:
    """A small notebook shaped like lesson 05: imports, then a solution cell and a check cell per exercise."""
    cells = [IMPORTS] + ([extra] if extra else []) + [s for name in CHECKS for s in (answers[name], CHECKS[name])]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("libraries")
    subs = root / "submissions"
    notebooks = {
        "honest": lesson05(RIGHT),
        "lazy": lesson05(LAZY),
        "undoer": lesson05({**LAZY, "copy_first_layers": UNDOER}),
    }
    notebooks |= {student: lesson05(LAZY, extra=source) for student, (source, _, _) in PATCHES.items()}
    for student, nb in notebooks.items():
        (subs / student).mkdir(parents=True)
        nbformat.write(nb, subs / student / "05_what_transfers.ipynb")
    out = root / "grades.csv"
    assert main(["grade", str(subs), "--out", str(out), "--timeout", "300", "--jobs", "2"]) == 0
    return {row["student"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}


def test_the_honest_solution_keeps_full_marks_and_no_finding(graded):
    assert (graded["honest"]["points"], graded["honest"]["errors"]) == ("2", "")
    assert (graded["lazy"]["points"], graded["lazy"]["errors"]) == ("0", "")


@pytest.mark.parametrize("student", sorted(PATCHES))
def test_a_patched_library_gives_no_points_and_names_the_patch(graded, student):
    row, (_, named, _) = graded[student], PATCHES[student]
    assert row["points"] == "0", row
    assert "tampered: " in row["errors"] and "library changed: " in row["errors"], row["errors"]
    assert all(name in row["errors"] for name in named), row["errors"]
    assert {row["05:copy_first_layers"], row["05:split_effects"]} <= {"error", "failed"}, row


def test_a_patch_the_learners_function_makes_and_undoes_still_gets_nothing(graded):
    row = graded["undoer"]
    assert row["points"] == "0", row
    assert "cell 2: assigns to `torch.equal`" in row["errors"] and "torch.equal replaced" in row["errors"], row


@pytest.mark.parametrize("student", sorted(PATCHES))
def test_the_scan_names_each_library_patch(student):
    source, _, phrases = PATCHES[student]
    found = tamper.source_findings(lesson05(LAZY, extra=source))
    assert set(phrases) <= set(found), found


def test_the_scan_leaves_settings_and_the_learners_own_objects_alone():
    source = (
        "torch.backends.cudnn.benchmark = True\nnet = make_net()\nnet.head = nn.Identity()\n"
        "setattr(net, 'tail', None)\nfor p in net.parameters():\n    p.requires_grad = False"
    )
    assert tamper.source_findings(lesson05(RIGHT, extra=source)) == []


def test_the_scan_names_other_ways_of_reaching_a_library():
    source = (
        "__import__('numpy').allclose = print\nimport importlib\nimportlib.import_module('torch').equal = print\n"
        "__builtins__.len = print\nnp.allclose.__code__ = (lambda: 1).__code__\ndel np.isclose"
    )
    found = tamper.source_findings(lesson05(RIGHT, extra=source))
    assert [f.removeprefix("cell 2: ") for f in found] == [
        "assigns to `__import__('numpy').allclose`",
        "assigns to `importlib.import_module('torch').equal`",
        "assigns to `__builtins__.len`",
        "assigns to `np.allclose.__code__`",
        "deletes `np.isclose`",
    ]
