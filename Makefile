# Two commands do all set-up on a fresh machine:
#   make demo   venv + core install (no torch) + `cnncost table vgg16`
#   make test   venv + everything (torch, torchvision, fvcore, timm, test tools) + lint + the test suite
#   make slow   the slow tier: the heaviest models' torch cross-checks at their own input size
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test slow lint bench browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# An editable install leaves cnncost's bytecode to the first import, which cannot write it where
# PYTHONDONTWRITEBYTECODE is set: every run would compile ~40 modules (~90 ms of `cnncost table`).
$(VENV)/.core: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	$(BIN)/python -m compileall -q cnncost
	touch $@

$(VENV)/.full: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[torch,plot,dev]'
	$(BIN)/python -m compileall -q cnncost
	touch $(VENV)/.core $@

demo: $(VENV)/.core
	$(BIN)/python -m compileall -q cnncost
	$(BIN)/cnncost table vgg16

test: $(VENV)/.full lint browser
	$(BIN)/python -m pytest -q -m "not slow"

slow: $(VENV)/.full
	$(BIN)/python -m pytest -q -m slow

# The report's browser test drives the distribution's Chromium (Debian: chromium, chromium-driver);
# without root or apt it skips, saying why.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	{ command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  { apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }; }; } || \
	echo "make browser: no Chromium installed (the report's browser test will skip)"

lint: $(VENV)/.full
	$(BIN)/ruff check cnncost tests benchmarks
	$(BIN)/ruff format --check cnncost tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.core
	$(BIN)/python benchmarks/bench_table.py

clean:
	rm -rf $(VENV) build *.egg-info
