# Quick start: `make demo` runs the main job end to end, `make test` runs the tests.
# Both create .venv if it is missing and install everything they need into it.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch installs quickly here; override e.g. TORCH_SPEC="torch==2.13.0+cu128".
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.madata-installed

.PHONY: venv demo test clean-demo

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[all]"
	# Headless Chromium for the leaderboard site test (skipped, with the reason, where it is absent).
	command -v chromium >/dev/null || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get install -y -qq chromium >/dev/null) || echo "madata: no chromium; the site test will be skipped"
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/madata demo

test: venv
	$(BIN)/python -m pytest

clean-demo:
	rm -rf madata-store/mpe-spread-3 madata-store/halfcheetah-2x3
