# Quick start: `make example` and `make test` each create and fill the local venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SHARED ?= ../shared/data

.PHONY: example test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

example: $(STAMP)
	$(PY) examples/fashion_mnist.py --data-root $(SHARED) --weights $(SHARED)/mlc/fashionmnist_cnn_params.npz

test: $(STAMP)
	$(VENV)/bin/ruff check fx2relax tests tools benchmarks examples
	@# The op tests through compile (--compiled) run beside the main suite: each run is mostly one
	@# core compiling, and there are two cores. Their log is printed after the suite's.
	$(PY) -m pytest tests/converters --compiled -q -p no:cacheprovider > $(VENV)/compiled-tests.log 2>&1 & compiled=$$!; \
	$(PY) -m pytest; suite=$$?; \
	wait $$compiled; compiled_status=$$?; \
	echo "== pytest tests/converters --compiled =="; cat $(VENV)/compiled-tests.log; \
	test $$suite -eq 0 && test $$compiled_status -eq 0

clean:
	rm -rf $(VENV) build *.egg-info
