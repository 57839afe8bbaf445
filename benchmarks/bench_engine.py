"""Throughput of the response engine: validate + score + extract (+ bundle) per response.

Runs over the example session records shipped in
``questionnaires/examples/Bundle-mbt-example-peter.json`` (or, if that file is
missing, session records generated from the Questionnaire), one core, and
prints responses per CPU-second (one core) for the whole path and for each step.

    .venv/bin/python benchmarks/bench_engine.py [--seconds 3] [--all] [--no-compiler]

``--no-compiler`` sends every FHIRPath expression through fhirpathpy instead
of the compiled closures (:mod:`fhir_mbt.engine.fhirpath_compiler`), which is
how the compiler's worth is measured: run both and compare the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fhir_mbt.content import definitions_dir, shipped
from fhir_mbt.engine import extract, process_response, transaction_bundle
from fhir_mbt.engine.fhirpath import use_compiler
from fhir_mbt.engine.validate import validate_and_score

SESSION = "http://fhir-mbt.org/fhir/Questionnaire/mbt-session-record"


def example_responses(all_forms: bool) -> list[dict]:
    path = definitions_dir() / "examples" / "Bundle-mbt-example-peter.json"
    if path.exists():
        bundle = json.loads(path.read_text(encoding="utf-8"))
        found = [e["resource"] for e in bundle.get("entry", ())
                 if e.get("resource", {}).get("resourceType") == "QuestionnaireResponse"]
        found = [r for r in found if all_forms or r.get("questionnaire", "").startswith(SESSION)]
        if found:
            return found
    return generated_responses()


def generated_responses(n: int = 50) -> list[dict]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from hypothesis import HealthCheck, given, settings

    import engine_support

    index = shipped()
    questionnaire = index.get(SESSION)
    out: list[dict] = []

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(engine_support.answers_for(questionnaire, index))
    def collect(resp):
        out.append(resp)

    collect()
    return out


def rate(label: str, responses: list[dict], step, seconds: float) -> float:
    """Best responses per CPU-second of this process (so other load on the machine does not count)."""
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.process_time()
        for resp in responses:
            step(resp)
        best = max(best, len(responses) / max(time.process_time() - start, 1e-9))
    print(f"{label:<34} {best:10.0f} responses/s")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement (best run is kept)")
    parser.add_argument("--all", action="store_true", help="all example responses, not only session records")
    parser.add_argument("--no-compiler", action="store_true",
                        help="every FHIRPath expression through fhirpathpy (to measure the compiler)")
    args = parser.parse_args()
    use_compiler(not args.no_compiler)
    index = shipped()
    responses = example_responses(args.all)
    for resp in responses:
        process_response(resp, index=index)
    scored = [validate_and_score(r, index=index)[1] for r in responses]
    extracted = [extract(s, index=index) for s in scored]
    observations = sum(len(e.observations) for e in extracted)
    print(f"{len(responses)} responses, {observations / len(responses):.1f} Observations each, one core, "
          f"FHIRPath {'through fhirpathpy only' if args.no_compiler else 'compiled'}")
    rate("validate (incl. score check)", responses, lambda r: validate_and_score(r, index=index), args.seconds)
    lookup = {id(r): s for r, s in zip(responses, scored)}
    rate("extract", responses, lambda r: extract(lookup[id(r)], index=index), args.seconds)
    done = {id(r): e for r, e in zip(responses, extracted)}
    rate("transaction bundle", responses, lambda r: transaction_bundle(done[id(r)].response, done[id(r)]),
         args.seconds)
    rate("validate+score+extract+bundle", responses, lambda r: process_response(r, index=index), args.seconds)


if __name__ == "__main__":
    main()
