# The two commands a new user needs: `make demo` and `make test`.
# Both create the virtual environment (.venv) and install the project first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test validate package clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

## The main job: check every shipped definition, then build the FHIR package.
demo: setup validate package

validate: setup
	$(BIN)/fhir-mbt validate

package: setup
	$(BIN)/fhir-mbt package -o dist/package.tgz

## The whole test suite. pytest's "no tests collected" (exit 5) fails too.
test: setup
	@$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; fi; \
	exit $$status

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache .hypothesis .benchmarks
