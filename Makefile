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
	$(PY) -m pytest
	$(PY) -m pytest tests/converters --compiled -q

clean:
	rm -rf $(VENV) build *.egg-info
