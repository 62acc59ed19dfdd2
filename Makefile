# Two commands on a fresh clone:  `make run` (set up, then open the chat)  and  `make test`.
# Every step leaves a stamp or a verified file, so re-running skips what is done.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# Python hashes (no sha256sum on a stock macOS).
STAMP   := $(VENV)/.deps-$(shell $(PY) -c "import hashlib,sys; print(hashlib.sha256(b''.join(open(f,'rb').read() for f in sys.argv[1:])).hexdigest()[:12])" requirements.txt pyproject.toml scripts/llama_build.py)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup deps models index run serve test test-fast screenshots browser-deps eval bench clean

setup: deps models index

$(STAMP):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first, CPU build pinned, so sentence-transformers pulls no CUDA wheels
	$(BIN)/pip install -q torch==2.13.0
	# llama-cpp-python: built for this CPU with the project's flags (never -march=native, never AMX),
	# into .whl/<key of the flags>, installed from there only (scripts/llama_build.py)
	$(BIN)/python scripts/llama_build.py install
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	rm -f $(VENV)/.deps-* && touch $@

deps: $(STAMP)

models: deps
	$(BIN)/python -m rag.setup.models
	# a real 64-token batch prefill in a child process; on a signal, rebuild with the safe profile
	$(BIN)/python scripts/llama_build.py check

index: models
	$(BIN)/rag ingest

run: setup
	@echo "Opening the chat at http://127.0.0.1:$${RAG_PORT:-7860}  (Ctrl+C to stop)"
	$(BIN)/rag serve

serve: run

browser-deps: deps
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) \
	  || echo "chromium not installed: browser tests will be skipped"; }
	@fc-list 2>/dev/null | grep -qi "CJK" || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get install -y -q fonts-noto-cjk >/dev/null 2>&1 || echo "no CJK font: screenshots will show boxes for Chinese"; }
	@$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/pip install -q playwright==1.65.2

test: setup browser-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 tests

screenshots: setup browser-deps
	RAG_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser

test-fast: deps
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit

eval: setup
	$(BIN)/rag eval

bench: setup
	$(BIN)/rag bench

clean:
	rm -rf index .cache
