# `make book` builds the HTML book, `make test` runs every check CI runs. Both install what they need first.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
JUPYTER_BOOK = $(PYTHON) -c "import sys; from jupyter_book.cli.main import main; sys.exit(main())"
export GAN_LIB_MNIST_DIR ?= $(abspath ../shared/data/mnist)

.PHONY: install book test unit nbval

install:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[test]"

book: install
	$(JUPYTER_BOOK) build . --warningiserror --nitpick --keep-going

unit:
	$(PYTHON) -m pytest tests

# One thread: the chapters' many tiny toy-model steps run far faster than with two, and the printed numbers,
# committed as nbval's reference, are then the same on any machine.
nbval:
	OMP_NUM_THREADS=1 $(PYTHON) -m pytest --nbval book --sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

test: install unit nbval
	$(JUPYTER_BOOK) build . --warningiserror --nitpick --keep-going
