"""A synthetic MBT cohort, answered on the shipped Questionnaires and run through the engine.

Every response starts from one of the example patient's responses (real
answers to the shipped forms, so they keep every enableWhen, constraint and
required item), is moved to its patient and date, has the answers the report
reads re-drawn from the patient's course (attendance, risk, RFQ-8 items,
adherence ratings, check-in counts, formulation agreed or not), loses its
calculated answers, and goes through :func:`fhir_mbt.engine.process_response`
like a form submitted in the app: validated, scored, extracted. What comes
out is what a server holds: the response, its Observations (ids are their
stable identifiers, references resolved to ``Type/id``), the Patients and the
clinicians.

A patient's course: intake spread over the first quarter of the window,
followed to its end: a weekly session
(attended with the patient's own probability, else did-not-attend or
cancelled), a weekly check-in most weeks, RFQ-8 every three months drifting
towards better mentalizing, a draft formulation then an agreed one within
weeks and a revision at six months, a periodic review each quarter; about a
quarter drop out.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import uuid
from dataclasses import dataclass
from typing import Iterator

from fhir_mbt.analytics.ndjson import write_ndjson_part
from fhir_mbt.content.extensions import CALCULATED_EXPRESSION, has
from fhir_mbt.content.index import ContentIndex, shipped
from fhir_mbt.engine import process_response
from fhir_mbt.engine.compiled import compile_questionnaire

__all__ = ["Cohort", "synthesize", "patient_bundles", "write_cohort", "upload_cohort", "stored_resources",
           "SYNTH_NAMESPACE"]

SYNTH_NAMESPACE = uuid.UUID("6d1f0c1e-6b7a-4c56-9a55-7b6f1a5e0c01")
_MBT = "http://fhir-mbt.org/fhir/CodeSystem/mbt"
_AGREE7 = "http://fhir-mbt.org/fhir/ValueSet/mbt-agreement-7"
_RISK_ITEMS = ("risk.self-harm", "risk.suicidal-thoughts", "risk.suicide-attempt", "risk.harm-to-others",
               "risk.emergency-attendance")
_FAMILY = ["Adams", "Baker", "Clarke", "Davies", "Evans", "Foster", "Green", "Hughes", "Ito", "Jones", "Khan",
           "Lewis", "Moore", "Nowak", "Owens", "Patel", "Quinn", "Reed", "Silva", "Turner"]
_GIVEN = ["Alex", "Sam", "Jo", "Robin", "Kim", "Chris", "Lee", "Max", "Nico", "Pat", "Ash", "Dana"]


@dataclass(frozen=True)
class Cohort:
    """How many patients, for how many months, from which day; ``seed`` makes it reproducible."""

    patients: int = 20
    months: int = 12
    start: dt.date = dt.date(2026, 1, 5)
    seed: int = 7
    clinicians: int = 12


def _walk(items: list) -> Iterator[dict]:
    for item in items or ():
        yield item
        yield from _walk(item.get("item"))
        for answer in item.get("answer") or ():
            yield from _walk(answer.get("item"))


def _find(response: dict, link_id: str) -> dict | None:
    return next((i for i in _walk(response.get("item")) if i.get("linkId") == link_id), None)


class _Templates:
    """The example patient's responses, sorted into the kinds the course needs."""

    def __init__(self, index: ContentIndex):
        bundle = next(b for b in index.resources("Bundle", examples=True) if b.get("type") == "transaction")
        self.responses = [e["resource"] for e in bundle["entry"]
                          if e["resource"]["resourceType"] == "QuestionnaireResponse"]
        self.people = {e["fullUrl"]: e["resource"]["resourceType"] for e in bundle["entry"]
                       if e["resource"]["resourceType"] in ("Patient", "Practitioner")}
        self.calculated: dict[str, set[str]] = {}
        by_form: dict[str, list[dict]] = {}
        for r in self.responses:
            form = r["questionnaire"].split("/")[-1].split("|")[0]
            by_form.setdefault(form, []).append(r)
            if form not in self.calculated:
                compiled = compile_questionnaire(index.get(r["questionnaire"]), index)
                self.calculated[form] = {d.link_id for d in compiled.walk() if _is_calculated(d)}
        self.by_form = by_form
        sessions = by_form["mbt-session-record"]
        self.session = {code: [s for s in sessions if _coding(s, "session.attendance") == code]
                        for code in ("attended", "did-not-attend", "cancelled")}
        attended = [s for s in self.session["attended"] if _find(s, "risk.self-harm")]
        self.session["attended"] = [s for s in attended if not _risk_yes(s)]
        self.session["risk"] = [s for s in attended if _risk_yes(s)]
        self.checkin = by_form["mbt-weekly-checkin"]
        scale = index.get(_AGREE7)
        #: The RFQ-8 answer scale, strongly disagree to strongly agree, from its ValueSet.
        self.agree7 = [c["code"] for inc in scale["compose"]["include"] for c in inc.get("concept", [])]


def _risk_yes(response: dict) -> bool:
    return any(_coding(response, link) == "risk-yes" for link in _RISK_ITEMS)


def _is_calculated(defn) -> bool:
    return has(defn.item, CALCULATED_EXPRESSION)


def _coding(response: dict, link_id: str) -> str | None:
    item = _find(response, link_id)
    if item and item.get("answer"):
        return (item["answer"][0].get("valueCoding") or {}).get("code")
    return None


def _set(response: dict, link_id: str, key: str, value) -> None:
    item = _find(response, link_id)
    if item is not None and item.get("answer"):
        old = item["answer"][0]
        if key == "valueCoding":
            value = {"system": old.get("valueCoding", {}).get("system", _MBT), "code": value}
        item["answer"] = [{key: value, **({"item": old["item"]} if "item" in old else {})}]


def _strip_calculated(items: list, calculated: set[str]) -> list:
    out = []
    for item in items or ():
        if item.get("linkId") in calculated:
            continue
        item = dict(item)
        if "item" in item:
            item["item"] = _strip_calculated(item["item"], calculated)
            if not item["item"]:
                del item["item"]
                if "answer" not in item:
                    continue
        out.append(item)
    return out


def _shift_dates(node, days: int):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("valueDate", "valueDateTime") and isinstance(value, str):
                node[key] = _shift(value, days)
            else:
                _shift_dates(value, days)
    elif isinstance(node, list):
        for value in node:
            _shift_dates(value, days)


def _shift(text: str, days: int) -> str:
    day = dt.date.fromisoformat(text[:10]) + dt.timedelta(days=days)
    return day.isoformat() + text[10:]


class _Patient:
    def __init__(self, n: int, cohort: Cohort, rng: random.Random):
        self.id = f"synth-p{n:05d}"
        self.n = n
        self.clinician = f"synth-c{rng.randrange(cohort.clinicians):03d}"
        self.intake = cohort.start + dt.timedelta(days=rng.randrange(0, min(90, cohort.months * 30 // 3 + 1)))
        end = cohort.start + dt.timedelta(days=round(cohort.months * 365.25 / 12))
        weeks = max(1, (end - self.intake).days // 7)  # everyone is followed to the end of the window
        self.weeks = weeks
        self.dropout = rng.randrange(min(4, weeks - 1), weeks) if weeks > 4 and rng.random() < 0.25 else None
        self.attend = rng.uniform(0.6, 0.97)
        self.checkin_rate = rng.uniform(0.5, 0.95)
        self.risk = rng.uniform(0.0, 0.15)
        self.rfq_c0, self.rfq_gain = rng.uniform(0.3, 1.5), rng.uniform(-0.2, 1.0)
        self.agreed_week = rng.randrange(2, 11)
        self.family, self.given = rng.choice(_FAMILY), rng.choice(_GIVEN)
        self.gender = rng.choice(["male", "female", "female", "other"])
        self.birth = dt.date(rng.randrange(1965, 2006), rng.randrange(1, 13), rng.randrange(1, 29))


def _rfq_items(p: _Patient, progress: float, rng: random.Random, scale: list[str]) -> list[str]:
    """Item answers whose certainty drifts up with ``progress`` (0 at intake, 1 at the end)."""
    level = p.rfq_c0 + p.rfq_gain * progress
    top = len(scale) - 1
    return [scale[max(0, min(top, round(top / 2 - level * 1.2 + rng.gauss(0, 1.0))))] for _ in range(8)]


def _people(p: _Patient, cohort: Cohort) -> list[dict]:
    patient = {"resourceType": "Patient", "id": p.id, "active": True,
               "identifier": [{"system": "http://fhir-mbt.org/fhir/sid/synthetic-patient", "value": p.id}],
               "name": [{"use": "official", "family": p.family, "given": [p.given]}],
               "gender": p.gender, "birthDate": p.birth.isoformat()}
    return [patient]


def _clinicians(cohort: Cohort) -> list[dict]:
    return [{"resourceType": "Practitioner", "id": f"synth-c{i:03d}", "active": True,
             "name": [{"family": _FAMILY[i % len(_FAMILY)], "given": ["Dr"]}]} for i in range(cohort.clinicians)]


class _Writer:
    """Turns a template into this patient's response and runs it through the engine."""

    def __init__(self, templates: _Templates, index: ContentIndex, p: _Patient):
        self.t, self.index, self.p, self.count = templates, index, p, 0

    def response(self, template: dict, when: dt.datetime, by_clinician: bool) -> dict:
        r = copy.deepcopy(template)
        form = r["questionnaire"].split("/")[-1].split("|")[0]
        days = (when.date() - dt.date.fromisoformat(r["authored"][:10])).days
        _shift_dates(r["item"], days)
        r["item"] = _strip_calculated(r["item"], self.t.calculated.get(form, set()))
        self.count += 1
        r["id"] = f"{self.p.id}-r{self.count:04d}"
        r.pop("identifier", None)
        r["authored"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        r["subject"] = {"reference": f"Patient/{self.p.id}"}
        who = {"reference": f"Practitioner/{self.p.clinician}"} if by_clinician else r["subject"]
        r["author"] = dict(who)
        r.pop("source", None)
        return r

    def process(self, r: dict) -> list[dict]:
        _resolve_references(r, self.t.people, self.p)
        ident = f"urn:uuid:{uuid.uuid5(SYNTH_NAMESPACE, r['id'])}"
        # Checked as of the day it was written (dates "not in the future" are judged then), so a
        # cohort may cover any window, past or ahead, with the same results.
        as_of = dt.date.fromisoformat(r["authored"][:10]) + dt.timedelta(days=1)
        processed = process_response(r, index=self.index, identifier=ident, now=r["authored"], today=as_of)
        return stored_resources(processed.bundle)


def _resolve_references(node, people: dict, p: _Patient) -> None:
    """``urn:uuid`` references of the template: the example patient and clinician become this
    patient's; any other (an earlier response) is dropped with its answer."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if key == "answer" and isinstance(value, list):
                node[key] = [a for a in value if not str((a.get("valueReference") or {}).get("reference", "x"))
                             .startswith("urn:")]
                if not node[key]:
                    del node[key]
            else:
                _resolve_references(value, people, p)
    elif isinstance(node, list):
        for value in node:
            _resolve_references(value, people, p)


def stored_resources(bundle: dict) -> list[dict]:
    """The resources of a transaction Bundle as the server stores them (ids set, references ``Type/id``)."""
    ids: dict[str, str] = {}
    out = []
    for entry in bundle["entry"]:
        res = copy.copy(entry["resource"])
        if res["resourceType"] == "Provenance":
            continue
        if "id" not in res:
            ident = (res.get("identifier") or [{}])
            ident = ident[0] if isinstance(ident, list) else ident
            res["id"] = str(ident.get("value", uuid.uuid4())).rsplit(":", 1)[-1]
        ids[entry.get("fullUrl", "")] = f"{res['resourceType']}/{res['id']}"
        out.append(res)
    for res in out:
        for key in ("derivedFrom", "focus"):
            if key in res:
                res[key] = [{"reference": ids.get(r.get("reference"), r.get("reference"))} for r in res[key]]
    return out


def _course(p: _Patient, w: _Writer, rng: random.Random) -> Iterator[dict]:
    t = w.t
    last = p.dropout if p.dropout is not None else p.weeks
    day0 = dt.datetime.combine(p.intake, dt.time(16, 0))

    def at(week: int, hour: int) -> dt.datetime:
        return day0 + dt.timedelta(weeks=week, hours=hour - 16)

    for week in range(0, last):
        progress = week / max(1, p.weeks)
        if week % 13 == 0:
            r = w.response(rng.choice(t.by_form["rfq-8"]), at(week, 12), False)
            for i, code in enumerate(_rfq_items(p, progress, rng, t.agree7), 1):
                _set(r, f"rfq8.{i}", "valueCoding", code)
            yield from w.process(r)
        if week == 0:
            for form in ("mbt-mentalizing-profile", "mbt-crisis-plan"):
                yield from w.process(w.response(t.by_form[form][0], at(0, 17), True))
        if week == 1 and p.agreed_week > 2:
            r = w.response(t.by_form["mbt-formulation"][0], at(1, 17), True)
            _not_agreed(r)
            yield from w.process(r)
        if week == p.agreed_week:
            yield from w.process(w.response(t.by_form["mbt-formulation"][0], at(week, 17), True))
        if week == 26:
            yield from w.process(w.response(t.by_form["mbt-formulation"][-1], at(week, 17), True))
        if week and week % 13 == 0:
            yield from w.process(w.response(rng.choice(t.by_form["mbt-periodic-review"]), at(week, 18), True))
        roll = rng.random()
        kind = "attended" if roll < p.attend else "did-not-attend" if roll < p.attend + (1 - p.attend) * 0.6 \
            else "cancelled"
        if kind == "attended" and t.session["risk"] and rng.random() < p.risk:
            kind = "risk"
        pool = t.session[kind] or t.session["attended"]
        r = w.response(rng.choice(pool), at(week, 16), True)
        if kind in ("attended", "risk"):
            _session_answers(r, p, rng)
        yield from w.process(r)
        if rng.random() < p.checkin_rate:
            r = w.response(rng.choice(t.checkin), at(week, 12), False)
            _checkin_answers(r, p, rng, progress)
            yield from w.process(r)


def _not_agreed(r: dict) -> None:
    group = _find(r, "agreement")
    if group is not None:
        group["item"] = [{"linkId": "agreement.agreed", "answer": [{"valueBoolean": False}]},
                         {"linkId": "agreement.open-points",
                          "answer": [{"valueString": "To be talked through again next week."}]}]


def _session_answers(r: dict, p: _Patient, rng: random.Random) -> None:
    skill = 4.5 + (p.n % 5 - 2) * 0.4
    for item in _walk(r.get("item")):
        if str(item.get("linkId", "")).startswith("adherence.") and item.get("answer") \
                and "valueInteger" in item["answer"][0]:
            item["answer"] = [{"valueInteger": max(1, min(7, round(rng.gauss(skill, 1.0))))}]


def _checkin_answers(r: dict, p: _Patient, rng: random.Random, progress: float) -> None:
    _set(r, "checkin.blow-ups", "valueInteger", max(0, round(rng.gauss(5 - 3 * progress, 1.5))))
    _set(r, "checkin.pauses", "valueInteger", max(0, round(rng.gauss(1 + 3 * progress, 1.2))))


def patient_bundles(cohort: Cohort, index: ContentIndex | None = None) -> Iterator[tuple[str, list[dict]]]:
    """(patient id, the resources of that patient) for each patient; clinicians come first as ``''``."""
    index = index or shipped()
    templates = _Templates(index)
    yield "", _clinicians(cohort)
    for n in range(cohort.patients):
        rng = random.Random(f"{cohort.seed}-{n}")
        p = _Patient(n, cohort, rng)
        w = _Writer(templates, index, p)
        yield p.id, _people(p, cohort) + list(_course(p, w, rng))


def synthesize(cohort: Cohort, index: ContentIndex | None = None) -> Iterator[dict]:
    """Every resource of the cohort, patient by patient."""
    for _, resources in patient_bundles(cohort, index):
        yield from resources


def _write_part(cohort: Cohort, folder: str, part: int, parts: int) -> dict[str, int]:
    """Worker: write the patients ``n`` with ``n % parts == part`` to ``<Type>.<part>.ndjson``."""
    index = shipped()
    templates = _Templates(index)

    def resources():
        if part == 0:
            yield from _clinicians(cohort)
        for n in range(part, cohort.patients, parts):
            rng = random.Random(f"{cohort.seed}-{n}")
            p = _Patient(n, cohort, rng)
            yield from _people(p, cohort)
            yield from _course(p, _Writer(templates, index, p), rng)
    return write_ndjson_part(folder, resources(), part)


def write_cohort(cohort: Cohort, folder: str, workers: int = 2) -> dict[str, int]:
    """Write the cohort as NDJSON into ``folder`` (one file per type and worker); counts per type."""
    from concurrent.futures import ProcessPoolExecutor

    workers = max(1, min(workers, cohort.patients))
    if workers == 1:
        parts = [_write_part(cohort, folder, 0, 1)]
    else:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_write_part, [cohort] * workers, [folder] * workers, range(workers),
                                  [workers] * workers))
    total: dict[str, int] = {}
    for counts in parts:
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return total


def upload_cohort(cohort: Cohort, server: str, progress=None) -> dict[str, int]:
    """PUT the cohort onto ``server``: one transaction per patient (clinicians first)."""
    from fhir_mbt.client import FhirClient

    client = FhirClient(server, timeout=(10.0, 120.0))
    counts: dict[str, int] = {}
    for pid, resources in patient_bundles(cohort):
        entries = [{"fullUrl": f"{server.rstrip('/')}/{r['resourceType']}/{r['id']}", "resource": r,
                    "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources]
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
        for r in resources:
            counts[r["resourceType"]] = counts.get(r["resourceType"], 0) + 1
        if progress:
            progress(f"uploaded {pid or 'clinicians'}: {len(resources)} resources")
    return counts
