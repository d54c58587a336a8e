# Two commands for a newcomer: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed

.PHONY: install demo-install venv-check lint test demo bench verify-pins mutate clean

# Prints "MAJOR.MINOR ok|old EXECUTABLE". Written so Python 2 runs it too: whoever has only an
# old interpreter gets one line saying what is needed, not a page of pip resolver output.
PYTHON_VERSION := import sys; v = sys.version_info; print("%d.%d %s %s" % (v[0], v[1], "ok" if v >= (3, 11) else "old", sys.executable))

# Keep .venv when its interpreter runs, is 3.11+ and matches $(PYTHON)'s version; recreate it
# when another interpreter built it (a wrong-Python .venv would fail the same way every run).
venv-check:
	@want="$$($(PYTHON) -c '$(PYTHON_VERSION)' 2>/dev/null)"; \
	have="$$($(PY) -c '$(PYTHON_VERSION)' 2>/dev/null)"; \
	set -- $$want; want_version="$$1"; want_ok="$$2"; want_path="$$3"; \
	set -- $$have; have_version="$$1"; have_ok="$$2"; \
	if [ "$$want_ok" = ok ]; then \
	  if [ -e $(VENV) ] && [ "$$have_version" != "$$want_version" ]; then \
	    echo "note: $(VENV) was built by Python $${have_version:-(an interpreter that no longer runs)}; recreating it with $$want_path ($$want_version)."; \
	    rm -rf $(VENV); \
	  fi; \
	elif [ "$$have_ok" != ok ]; then \
	  if [ -n "$$want_version" ]; then found="found $$want_version at $$want_path"; \
	  else found="'$(PYTHON)' does not run"; fi; \
	  echo "Python 3.11 or newer is needed; $$found. Install one and set PYTHON, e.g. make $(or $(MAKECMDGOALS),install) PYTHON=python3.12" >&2; \
	  exit 1; \
	fi

$(STAMP): requirements.txt relay_function/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	# Editable: puts the `relayctl` command in .venv/bin, running this checkout's code. The
	# warning hidden is setuptools' generic note on editable installs, printed on every install.
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install --quiet --disable-pip-version-check \
		--no-deps -e .
	touch $@

# The check runs first, every time; the stamp is then judged on what the check left.
install: venv-check
	@$(MAKE) --no-print-directory -q $(STAMP) || $(MAKE) --no-print-directory $(STAMP)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy $(wildcard __main__.py infra relayctl tests bench mutation) .github/verify_pins.py
	# The relay folder is deployed on its own, where `main` imports `naming` top-level.
	cd relay_function && ../$(PY) -m mypy --config-file ../pyproject.toml .

test: lint
	$(PY) -m pytest -n 4

# The demo needs only what it runs (requirements-demo.txt), not the whole toolchain; a .venv
# that `make install` completed already has it. Run as a module from this folder: no install
# of the checkout itself is needed.
$(DEMO_STAMP): requirements-demo.txt relay_function/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-demo.txt
	touch $@

demo-install: venv-check
	@if [ -f $(STAMP) ] && $(MAKE) --no-print-directory -q $(STAMP); then :; \
	else $(MAKE) --no-print-directory -q $(DEMO_STAMP) || $(MAKE) --no-print-directory $(DEMO_STAMP); fi

demo: demo-install
	$(PY) -m relayctl demo

bench: install
	$(PY) bench/run.py

# Online, for a maintainer: each pinned action's commit is still what its commented release tag
# points to in the action's own repository (git ls-remote). Not part of `make test`, which
# makes no network call; docs/supply-chain.md says when to run it.
verify-pins: install
	$(PY) .github/verify_pins.py

# Mutation testing (docs/mutation.md): long, not part of `make test`. A subset:
# make mutate MODULES="relay_function/verification.py infra/relay.py"; more: MUTATE_ARGS="--jobs 2".
MODULES ?=
MUTATE_ARGS ?=
mutate: install
	nice -n 19 $(PY) -m mutation.run $(MUTATE_ARGS) $(MODULES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info .mutation mutants
