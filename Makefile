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
	$(BIN)/python benchmarks/bench_fer.py --model src/facexp/default_model
	$(BIN)/python benchmarks/bench_fer.py --model src/facexp/default_model --tta
	$(BIN)/python benchmarks/bench_inference.py
	$(BIN)/python benchmarks/bench_faces.py
	$(BIN)/python benchmarks/bench_photo_pipeline.py
	$(BIN)/python benchmarks/bench_collect.py
	$(BIN)/python benchmarks/bench_serve.py
	$(BIN)/python benchmarks/bench_from_default.py

# The shipped model: FER2013 train, 8 classes (about 5.7 hours on 2 cores), the ensemble of four
# networks of one recipe (three MixUp branches and stage 3), stored as int8, copied into the package.
default-model: install
	$(BIN)/python recipes/fer8.py --out runs/fer8
	$(BIN)/python recipes/fer8.py --stages 96:10:5e-4 --mixup 0.4 --init-from runs/fer8/stage2/model --out runs/fer8-mixup
	$(BIN)/python recipes/fer8.py --stages 96:8:5e-4 --mixup 0.4 --init-from runs/fer8/stage1/model --out runs/fer8-mixup64
	$(BIN)/python recipes/fer8.py --stages 96:12:4e-4 --mixup 0.4 --init-from runs/fer8/model --out runs/fer8-mixup3
	$(BIN)/python recipes/combine.py ensemble --dtype int8 runs/fer8/ensemble runs/fer8-mixup/model runs/fer8/model \
		runs/fer8-mixup64/model runs/fer8-mixup3/model
	$(BIN)/python recipes/package_default.py runs/fer8/ensemble

clean:
	rm -rf $(VENV) runs .pytest_cache
