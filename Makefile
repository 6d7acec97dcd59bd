# `make book` builds the HTML book, `make test` runs every check CI runs. Both install what they need first.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
JUPYTER_BOOK = $(PYTHON) -c "import sys; from jupyter_book.cli.main import main; sys.exit(main())"
BUILD_BOOK = $(JUPYTER_BOOK) build . --warningiserror --nitpick --keep-going
NBVAL = --nbval book --sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider
export GAN_LIB_MNIST_DIR ?= $(abspath ../shared/data/mnist)

# pytest with its arguments; its exit status 5 means it collected nothing (a moved folder, a filter that matches
# nothing), which fails the target with a message that says so.
pytest = $(PYTHON) -m pytest $(1) || { status=$$?; [ $$status -ne 5 ] || echo "error: pytest collected no tests from: $(1)" >&2; exit $$status; }

.PHONY: install book test unit nbval nbval-portable

install:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[test]"

book: install
	$(BUILD_BOOK)

unit:
	$(call pytest,tests)

# Training runs give different digits on different CPUs, even on one thread: PyTorch picks SIMD kernels (AVX2,
# AVX-512, ...) for the CPU at hand, and they round differently. So the notebooks' committed outputs show only what
# is the same everywhere (exact results, rounded values, assertions with tolerances), and nbval checks them twice:
# with the kernels of this CPU on one thread (the chapters' many tiny toy-model steps run fastest so), and with
# PyTorch's portable kernels (ATEN_CPU_CAPABILITY=default) on two threads, which round differently again. Waiting
# OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE) instead of spinning: that changes no result, but spinning threads stall
# the chapters' many tiny steps for minutes on a busy machine.
nbval:
	OMP_NUM_THREADS=1 $(call pytest,$(NBVAL))

nbval-portable:
	ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE $(call pytest,$(NBVAL))

test: install unit nbval nbval-portable
	$(BUILD_BOOK)
