# Two commands for a learner: `make lab` (set up and open the course) and `make test` (run every check).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Instructors and CI add the classroom extra (nbgrader, the browser test's driver): make setup EXTRAS=test,classroom
EXTRAS ?= test
# Jupyter refuses to run as root unless told; containers and cloud VMs often are root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: lab setup test test-units test-lessons test-student test-student-all unit test-fast lint format student nbgrader-metadata bench executed site test-site clean-cache test-wheel

$(BIN)/tlcourse: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

setup: $(BIN)/tlcourse  ## create the virtual environment and install the course
	$(BIN)/tlcourse doctor || true

lab: setup  ## set everything up and open the course in JupyterLab
	$(BIN)/jupyter lab $(LAB_ARGS) notebooks/00_welcome.ipynb

# Three test groups, two at a time (a 2-core machine runs one group's Python, image decoding and kernel start-up while
# the other computes): the unit tests (browser and nbgrader tests included), every lesson top to bottom (nbval), and
# the student versions. Each group's report is printed whole when it ends (--output-sync).
TEST_GROUPS := test-units test-lessons test-student
# Two processes share two cores: OpenMP threads that spin while they wait would take the other's turn (measured: a
# small CNN's training ran 3-4x slower two at a time); passive waiting leaves results unchanged (same threads).
$(TEST_GROUPS): export OMP_WAIT_POLICY := PASSIVE
# The tests run every exercise check: none of that is a learner's progress (tlcourse.checks.logbook).
$(TEST_GROUPS): export TLCOURSE_PROGRESS := 0

test: $(BIN)/tlcourse lint  ## lint, then unit tests, every notebook top to bottom (nbval) and the student versions
	$(MAKE) --no-print-directory -j2 --output-sync=target $(TEST_GROUPS)

test-units: $(BIN)/tlcourse
	$(BIN)/python -m pytest -q --durations=8 tests -m "not student and not site"

# The lessons draw their figures as a learner's JupyterLab does (inline), whatever MPLBACKEND the shell sets (CI sets
# Agg for the unit tests): the executed copies the site is built from must hold every figure.
test-lessons: export MPLBACKEND := module://matplotlib_inline.backend_inline
test-lessons: $(BIN)/tlcourse
	$(BIN)/python -m pytest -q --durations=10 --nbval-lax notebooks

# Every student version differs from its lesson only at the stubs (proved per lesson in a second, then two lessons
# really run as a learner runs them: tests/test_student_notebooks.py). test-student-all runs every one (~25 min).
test-student: $(BIN)/tlcourse
	$(BIN)/python -m pytest -q --durations=10 tests/test_student_notebooks.py -m student

test-student-all: $(BIN)/tlcourse  ## every student version run top to bottom in a kernel (after changing the stubs' tooling)
	TLCOURSE_STUDENT_ALL=1 TLCOURSE_PROGRESS=0 OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q --durations=10 tests/test_student_notebooks.py -m student

lint: $(BIN)/tlcourse  ## ruff (lint rules, lessons included; formatting) and mypy (types of tlcourse/ and tools/), set in pyproject.toml
	$(BIN)/ruff check tlcourse tools tests benchmarks docs conftest.py notebooks
	$(BIN)/ruff format --check tlcourse tools tests benchmarks docs conftest.py
	$(BIN)/mypy tlcourse tools

format: $(BIN)/tlcourse  ## ruff format: apply the formatter
	$(BIN)/ruff format tlcourse tools tests benchmarks docs conftest.py

unit: $(BIN)/tlcourse  ## unit tests only
	$(BIN)/python -m pytest -q tests

# Markers (pyproject.toml): slow = other processes (torchrun, kernels, nbgrader, Chromium); student; site.
test-fast: $(BIN)/tlcourse  ## the unit tests that start no other process (a minute or two): while editing
	$(BIN)/python -m pytest -q tests -m "not slow and not student and not site"

student: $(BIN)/tlcourse  ## student notebooks (solutions stubbed) into student/
	$(BIN)/tlcourse student --source notebooks --out student --overwrite

nbgrader-metadata: $(BIN)/tlcourse  ## after editing an exercise: split check cells off and rewrite nbgrader metadata
	$(BIN)/tlcourse student --nbgrader-metadata --source notebooks

# The lessons' nbval run (test-lessons, part of `make test`) leaves each executed lesson in build/executed/ (conftest.py,
# tools/executed.py): outputs, each cell's timestamps and the lesson's seconds. `make executed` is that run alone.
executed: test-lessons  ## executed copies of the notebooks (with outputs) into build/executed/

# The course site, from build/executed/ (lessons whose copy is missing or stale run once, the same way).
# Needs the site extra: make setup EXTRAS=test,classroom,site. TLCOURSE_SITE_REUSE=1 keeps stale copies (drafts only).
site: $(BIN)/tlcourse  ## the course site into build/site/ (open build/site/index.html)
	@$(BIN)/python -c "import myst_nb" 2>/dev/null || $(BIN)/python -m pip install -q -e '.[site]'
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m tools.sitebuild

# The built site, checked: internal links, every lesson page with its figures, no error output (tests/test_site_built.py);
# then a real Chromium on it (tests/test_site_browser.py). Fails, never skips, when build/site/ is missing.
test-site: $(BIN)/tlcourse
	TLCOURSE_REQUIRE_SITE=1 $(BIN)/python -m pytest -q tests/test_site_built.py tests/test_site_browser.py

# The course as a pip user gets it (tools/wheelcheck.py): the wheel built from a clean copy of the sources, installed
# into a new environment outside the repository, `tlcourse lessons` copies the lessons out of it, lessons 00 and 02
# run from there under nbval; fails if the installed course reads any file of the repository. WHEEL_DEPS=reuse takes
# the dependencies from .venv (seconds); WHEEL_DEPS=install installs them from the index, as a learner does (minutes).
WHEEL_DEPS ?= reuse
test-wheel: export OMP_WAIT_POLICY := PASSIVE
test-wheel: $(BIN)/tlcourse  ## the wheel installed in a new environment, two lessons run from its copies
	$(BIN)/python -m tools.wheelcheck --deps $(WHEEL_DEPS)

bench: $(BIN)/tlcourse  ## benchmarks (not part of the tests); writes benchmarks/results/*.json
	$(BIN)/python benchmarks/bench.py

clean-cache:  ## delete derived files (feature caches, lesson checkpoints); they are rebuilt on demand
	rm -rf data/cache
