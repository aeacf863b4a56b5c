# Fresh machine: `make demo` or `make test` installs what is missing, then runs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser test demo bench default-model clean

install: $(STAMP)

# pip takes torch/torchvision from this machine's local wheels; constraints.txt pins every package.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

# Debian's chromium for the browser tests (playwright cannot download its own browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: browser tests will be skipped (install Debian's chromium as root)"; fi; }

test: install browser
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/python scripts/demo.py

# Needs ../shared/data (FER2013, photos); each script writes benchmarks/results/NAME.md for README.
bench: install
	$(BIN)/python benchmarks/bench_ferplus.py
	$(BIN)/python benchmarks/bench_fer.py --model src/facexp/default_model
	$(BIN)/python benchmarks/bench_inference.py
	$(BIN)/python benchmarks/bench_faces.py
	$(BIN)/python benchmarks/bench_photo_pipeline.py
	$(BIN)/python benchmarks/bench_collect.py
	$(BIN)/python benchmarks/bench_serve.py
	$(BIN)/python benchmarks/bench_from_default.py

# The shipped model (about 4 hours on 2 cores): FER2013's own labels first (fer8.py: 64 px, 96 px, a
# MixUp branch), then FER+ votes: detector-true crops and features, head refit, end-to-end
# fine-tune (resumable), int8, copied into the package. See MODEL_CARD.md.
default-model: install
	$(BIN)/python recipes/fer8.py --stages 64:18:1e-3,96:2:3e-4 --out runs/fer8
	$(BIN)/python recipes/fer8.py --stages 96:10:5e-4 --mixup 0.4 --init-from runs/fer8/model --out runs/fer8-mixup
	$(BIN)/python recipes/ferplus_features.py --model runs/fer8-mixup/model --out runs/ferplus
	$(BIN)/python recipes/ferplus_head.py --features runs/ferplus --model runs/fer8-mixup/model --out runs/ferplus/model_head
	$(BIN)/python recipes/ferplus_finetune.py --start runs/ferplus/model_head --member 0 --features runs/ferplus \
		--out runs/ferplus/ft0
	$(BIN)/python recipes/ferplus_finetune.py --start runs/ferplus/ft0/model --member 0 --features runs/ferplus \
		--out runs/ferplus/ft0b --epochs 10 --lr 3e-4 --erase 0.25
	$(BIN)/python recipes/ferplus_ensemble.py --features runs/ferplus --model ft0=runs/ferplus/ft0/model \
		--model ft0b=runs/ferplus/ft0b/model ft0 ft0b --save ft0b --out runs/ferplus/default
	$(BIN)/python recipes/package_default.py runs/ferplus/default
	$(BIN)/python recipes/calibrate_int8.py --model src/facexp/default_model --features runs/ferplus

clean:
	rm -rf $(VENV) runs .pytest_cache
