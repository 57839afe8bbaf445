"""Build the synthetic example patient "Peter" as one FHIR R4 transaction Bundle.

Peter is a made-up 26-year-old second-year medical student referred for MBT after a
near-lethal overdose on the day of a licensing exam. The Bundle holds him, his clinician,
his formulation (with risk history and crisis plan, agreed at the first appointment, and one
revision at three months), a revision of the crisis plan alone in week 4, about six months of
weekly individual sessions, the introductory MBT-I group in weeks 2-5, weekly group sessions from
week 6, weekly check-ins, the RFQ-8 at 0, 3 and 6 months, two mentalizing profiles and periodic
reviews at three and six months. No session in which mentalizing collapsed records a gentle
challenge: challenging is for when arousal allows thinking.

Everything structural comes from the shipped content in ``questionnaires/``: linkIds,
canonical URLs, answer displays and ordinal weights. Scores are computed here with the
same rules as the Questionnaires' calculatedExpressions, so a mismatch between this
script and the content shows up as a validation failure rather than silent drift.

Pure standard library and deterministic: the same content always gives the same bytes.

    python examples_builder/build_peter.py [--out PATH]
"""
import argparse
import json
import math
import random
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "questionnaires"
DEFAULT_OUT = CONTENT / "examples" / "Bundle-mbt-example-peter.json"

SEED = 20260302
START = date(2026, 3, 2)
WEEKS = 27                      # weeks 0..26: 2 March to 3 September 2026
CS_URL = "http://fhir-mbt.org/fhir/CodeSystem/mbt"
NAMESPACE = uuid.UUID("6f1c2f0e-4d1a-5b7e-9a53-2f7c8e1d0b44")

PATIENT_ID = "mbt-example-peter"
CLINICIAN_ID = "mbt-example-clinician"


class ExampleError(ValueError):
    """The example data does not fit the shipped Questionnaires."""


# ---------------------------------------------------------------------------- content
class Content:
    """Read-only view of the shipped definitions the builder depends on."""

    def __init__(self, folder):
        self.folder = Path(folder)
        cs = self._load("CodeSystem-mbt.json")
        self.display = {}
        self._walk(cs["concept"])
        self.weights = {}
        for path in sorted(self.folder.glob("ValueSet-*.json")):
            vs = json.loads(path.read_text(encoding="utf-8"))
            for inc in vs.get("compose", {}).get("include", []):
                for cpt in inc.get("concept", []):
                    for ext in cpt.get("extension", []):
                        if ext["url"].endswith("/ordinalValue"):
                            self.weights[cpt["code"]] = ext["valueDecimal"]
        self.questionnaires = {}

    def _load(self, name):
        return json.loads((self.folder / name).read_text(encoding="utf-8"))

    def _walk(self, concepts):
        for cpt in concepts:
            self.display[cpt["code"]] = cpt["display"]
            self._walk(cpt.get("concept", []))

    def questionnaire(self, qid):
        if qid not in self.questionnaires:
            self.questionnaires[qid] = self._load(f"Questionnaire-{qid}.json")
        return self.questionnaires[qid]

    def canonical(self, qid):
        q = self.questionnaire(qid)
        return f"{q['url']}|{q['version']}"

    def weight(self, code):
        try:
            return self.weights[code]
        except KeyError:
            raise ExampleError(f"no ordinal weight for code {code!r}") from None


# ---------------------------------------------------------------------------- responses
def _iter_items(items):
    for it in items:
        yield it
        yield from _iter_items(it.get("item", []))


def _enabled(item, answers):
    conditions = item.get("enableWhen")
    if not conditions:
        return True
    results = []
    for cond in conditions:
        given = answers.get(cond["question"])
        given = given if isinstance(given, list) else ([] if given is None else [given])
        if cond["operator"] == "exists":
            results.append(bool(given) == cond["answerBoolean"])
            continue
        if "answerBoolean" in cond:
            expected = cond["answerBoolean"]
        elif "answerCoding" in cond:
            expected = cond["answerCoding"]["code"]
        elif "answerInteger" in cond and cond["operator"] in (">", ">=", "<", "<="):
            bound = cond["answerInteger"]
            compare = {">": lambda v: v > bound, ">=": lambda v: v >= bound,
                       "<": lambda v: v < bound, "<=": lambda v: v <= bound}[cond["operator"]]
            results.append(any(isinstance(v, int) and compare(v) for v in given))
            continue
        else:
            raise ExampleError(f"unsupported enableWhen in {item['linkId']}")
        hit = expected in given
        results.append(hit if cond["operator"] == "=" else not hit)
    return any(results) if item.get("enableBehavior") == "any" else all(results)


class ResponseBuilder:
    """Turn {linkId: value} into QuestionnaireResponse items shaped like the Questionnaire."""

    def __init__(self, content, qid):
        self.content = content
        self.qid = qid
        self.q = content.questionnaire(qid)
        self.known = {it["linkId"]: it for it in _iter_items(self.q["item"])}

    def items(self, answers):
        unknown = set(answers) - set(self.known)
        if unknown:
            raise ExampleError(f"{self.qid}: unknown linkIds {sorted(unknown)}")
        used = set()
        out = self._fill(self.q["item"], answers, used)
        unused = {k for k in set(answers) - used if answers[k] not in (None, [])}
        if unused:
            raise ExampleError(f"{self.qid}: answers to disabled items {sorted(unused)}")
        return out

    def _fill(self, items, answers, used):
        out = []
        for it in items:
            if it["type"] == "display" or not _enabled(it, answers):
                continue
            link = it["linkId"]
            if it["type"] == "group":
                if it.get("repeats"):
                    if link not in answers:
                        if it.get("required"):
                            raise ExampleError(f"{self.qid}: required group {link} has no instances")
                        continue
                    used.add(link)
                    for instance in answers[link]:
                        children = self._fill(it["item"], instance, set())
                        out.append({"linkId": link, "text": it["text"], "item": children})
                    continue
                children = self._fill(it.get("item", []), answers, used)
                if children:
                    out.append({"linkId": link, "text": it["text"], "item": children})
                elif it.get("required"):
                    raise ExampleError(f"{self.qid}: required group {link} is empty")
                continue
            value = answers.get(link)
            if value is None or value == []:
                if it.get("required"):
                    raise ExampleError(f"{self.qid}: required item {link} has no answer")
                continue
            used.add(link)
            values = value if isinstance(value, list) else [value]
            if len(values) > 1 and not it.get("repeats"):
                raise ExampleError(f"{self.qid}: {link} does not repeat")
            out.append({"linkId": link, "text": it["text"],
                        "answer": [self._answer(it, v) for v in values]})
        return out

    def _answer(self, it, v):
        t = it["type"]
        if t == "boolean":
            return {"valueBoolean": bool(v)}
        if t == "integer":
            return {"valueInteger": int(v)}
        if t == "decimal":
            return {"valueDecimal": float(v)}
        if t == "date":
            return {"valueDate": v.isoformat() if isinstance(v, date) else v}
        if t in ("string", "text"):
            return {"valueString": v}
        if t == "reference":
            return {"valueReference": v}
        if t in ("choice", "open-choice"):
            for opt in it.get("answerOption", []):
                coding = opt.get("valueCoding", {})
                if coding.get("code") == v:
                    return {"valueCoding": dict(coding)}
            if v in self.content.display and "answerValueSet" in it:
                return {"valueCoding": {"system": CS_URL, "code": v, "display": self.content.display[v]}}
            if t == "open-choice":
                return {"valueString": v}
            raise ExampleError(f"{self.qid}: {v!r} is not an answer of {it['linkId']}")
        raise ExampleError(f"{self.qid}: unsupported item type {t}")


# ---------------------------------------------------------------------------- scoring
def _round(value, places):
    return float(Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def rfq8_scores(content, codes):
    """codes: {1..8: agreement code}. Returns (RFQ_c, RFQ_u) as in the Questionnaire."""
    ordinal = {i: content.weight(c) for i, c in codes.items()}
    low = lambda o: max(0, 4 - int(o))    # 1->3, 2->2, 3->1, 4..7->0  # noqa: E731
    high = lambda o: max(0, int(o) - 4)   # 1..4->0, 5->1, 6->2, 7->3  # noqa: E731
    certainty = sum(low(ordinal[i]) for i in (1, 2, 3, 4, 5, 6))
    uncertainty = sum(high(ordinal[i]) for i in (2, 4, 5, 6, 8)) + low(ordinal[7])
    return _round(Decimal(certainty) / 6, 2), _round(Decimal(uncertainty) / 6, 2)


# ---------------------------------------------------------------------------- data
class Peter:
    """Deterministic storyline of six months of MBT."""

    def __init__(self, content):
        self.c = content
        self.rng = random.Random(SEED)
        self.entries = []
        self.patient_ref = {"reference": self.full_url("Patient", PATIENT_ID), "display": "Peter Example"}
        self.clinician_ref = {"reference": self.full_url("Practitioner", CLINICIAN_ID),
                              "display": "Dr Morgan Reyes"}

    # -- plumbing
    @staticmethod
    def full_url(rtype, rid):
        return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{rtype}/{rid}')}"

    def add(self, resource):
        rtype, rid = resource["resourceType"], resource["id"]
        self.entries.append({"fullUrl": self.full_url(rtype, rid), "resource": resource,
                             "request": {"method": "PUT", "url": f"{rtype}/{rid}"}})

    @staticmethod
    def when(day, hour):
        return datetime.combine(day, time(hour, 0), tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")

    def response(self, rid, qid, authored, answers, author, source=None):
        items = ResponseBuilder(self.c, qid).items(answers)
        qr = {
            "resourceType": "QuestionnaireResponse",
            "id": rid,
            "identifier": {"system": "urn:ietf:rfc:3986",
                           "value": f"urn:uuid:{uuid.uuid5(NAMESPACE, 'identifier/' + rid)}"},
            "questionnaire": self.c.canonical(qid),
            "status": "completed",
            "subject": self.patient_ref,
            "authored": authored,
            "author": author,
        }
        if source:
            qr["source"] = source
        qr["item"] = items
        self.add(qr)
        return qr

    def pick(self, pool, k):
        return sorted(self.rng.sample(pool, k), key=pool.index)

    # -- people
    def people(self):
        self.add({
            "resourceType": "Patient",
            "id": PATIENT_ID,
            "text": {"status": "generated", "div": (
                '<div xmlns="http://www.w3.org/1999/xhtml"><p>Peter Example, synthetic patient: 26-year-old '
                "second-year medical student on leave of absence, living with his parents, referred for MBT "
                "after a near-lethal overdose on the day of a licensing exam.</p></div>")},
            "identifier": [{"system": "http://fhir-mbt.org/fhir/sid/example-patient", "value": "PETER-0001"}],
            "active": True,
            "name": [{"use": "official", "family": "Example", "given": ["Peter"]}],
            "gender": "male",
            "birthDate": "1999-10-14",
        })
        self.add({
            "resourceType": "Practitioner",
            "id": CLINICIAN_ID,
            "text": {"status": "generated", "div": (
                '<div xmlns="http://www.w3.org/1999/xhtml"><p>Dr Morgan Reyes, synthetic MBT clinician.</p>'
                "</div>")},
            "identifier": [{"system": "http://fhir-mbt.org/fhir/sid/example-practitioner", "value": "MR-0001"}],
            "active": True,
            "name": [{"use": "official", "family": "Reyes", "given": ["Morgan"], "prefix": ["Dr"]}],
        })

    # -- formulation
    def formulation_answers(self, revision=None):
        a = {
            "revision.is-revision": revision is not None,
            "diagnosis.icd10cm": ["F60.81"],
            "diagnosis.icd11-severity": "6D10.1",
            "diagnosis.icd11-traits": ["6D11.2", "6D11.0"],
            "diagnosis.shared": False,
            "diagnosis.note": "Provisional, from the inpatient team's assessment and this first appointment; to be "
                              "talked through with Peter once the assessment sessions are complete.",
            "comorbidity.conditions": ["condition-depression", "condition-anxiety"],
            "comorbidity.detail": "Depressive episode in the months before the overdose, treated on the ward; "
                                  "longstanding exam anxiety.",
            "comorbidity.concurrent-treatment": True,
            "comorbidity.concurrent-detail": "Sertraline started on the ward, reviewed monthly by the outpatient "
                                             "psychiatrist; no other therapy.",
            "presenting.difficulties": "Near-lethal overdose on the morning of his Step 1 exam. Peter describes "
                                       "it as the only logical option once he was certain he would fail. Since "
                                       "then: leave of absence from medical school, little contact with friends, "
                                       "angry outbursts at home and long periods of feeling nothing.",
            "presenting.context": "Referred by the inpatient team after medical stabilisation; his parents, "
                                  "with whom he now lives, are afraid he will try again.",
            "risk-history.attempts": 1,
            "risk-history.most-recent": date(2026, 1, 19),
            "risk-history.context": "Overdose of his mother's prescribed medication on the morning of the licensing "
                                    "exam, after weeks of certainty that he would fail; found by his father and "
                                    "treated in intensive care, then on the psychiatric ward.",
            "risk-history.self-harm": "None reported.",
            "risk-history.means": True,
            "risk-history.means-detail": "Medication at home: his parents have agreed to keep all of it locked away "
                                         "and to hand out his own prescription weekly.",
            "risk-history.others": "No violence; shouting and slammed doors at home when he feels criticised.",
            "presentation.type": "oscillating-presentation",
            "presentation.description": "Composed, articulate and in control in the room; turns questions about "
                                        "the overdose into arguments about a badly run exam system and about "
                                        "whether I am experienced enough to treat him. When failure comes up, "
                                        "anxiety and shame show within minutes and he can slide into "
                                        "hopelessness.",
            "attachment.history": "High-achieving family in which praise followed results. Peter learned that "
                                  "being loved meant being the best, and that needing help was a sign of "
                                  "weakness.",
            "attachment.patterns": "Admires then dismisses mentors; keeps friends at a distance; becomes "
                                   "contemptuous when he feels outshone.",
            "dimension.self-other.pole": "pole-self",
            "dimension.self-other.example": "Talks at length about how unfair the exam was to him but cannot "
                                            "say what his parents went through after the overdose.",
            "dimension.internal-external.pole": "pole-external",
            "dimension.internal-external.example": "Judges his own worth and others' competence by grades, "
                                                   "titles and credentials.",
            "dimension.cognitive-affective.pole": "pole-cognitive",
            "dimension.cognitive-affective.example": "Can give a fluent account of why people act as they do, "
                                                     "with no feeling in it.",
            "dimension.automatic-controlled.pole": "pole-automatic",
            "dimension.automatic-controlled.example": "Is instantly sure the professors wanted him to fail and "
                                                      "does not revisit that view.",
            "mode.psychic-equivalence.present": True,
            "mode.psychic-equivalence.triggers": "Feedback, grades, anyone checking his work.",
            "mode.psychic-equivalence.example": "'I felt humiliated in the seminar, so they were humiliating "
                                                "me.'",
            "mode.pretend-mode.present": True,
            "mode.pretend-mode.triggers": "Being asked how he feels; early in sessions.",
            "mode.pretend-mode.example": "Offers polished psychological explanations of himself that change "
                                         "nothing and feel empty to both of us.",
            "mode.teleological-mode.present": True,
            "mode.teleological-mode.triggers": "Exams, rankings, comparisons with classmates.",
            "mode.teleological-mode.example": "'If I fail the exam I am worthless and there is no point in "
                                              "living.'",
            "self-esteem.conditions": ["esteem-achievement", "esteem-intelligence", "esteem-admiration",
                                       "esteem-control"],
            "self-esteem.conditions-detail": "Feels fine while ahead of his peers; a single poor mark makes him "
                                             "feel a fraud.",
            "self-esteem.alien-self": "The brilliant future doctor who never struggles. It covers over anxiety, "
                                      "the effort studying costs him, and shame about needing help.",
            "self-esteem.threat-response": ["rage-retaliation", "devaluation", "withdrawal", "shame-collapse"],
            "self-esteem.threat-example": "After a practice test he raged at his parents, called the course "
                                          "worthless, shut himself away for days and then took the overdose.",
            "self-esteem.patterns": ["externalising-blame", "black-and-white-thinking",
                                     "overconfident-perspective-taking", "limited-affective-empathy", "alexithymia",
                                     "anger-as-shield", "me-mode"],
            "clinician.patterns": ["idealisation-devaluation", "defensive-distance", "competition-envy",
                                   "dropout-risk"],
            "clinician.description": "He may question my credentials, treat sessions as a debate to win, or go "
                                     "quiet and miss sessions if he feels exposed or criticised.",
            "clinician.approach": "Notice it out loud, take my own part in it seriously, and slow down to look "
                                  "at what happened between us before going back to the topic.",
            "goal": [
                {"goal.domain": "goal-relationships",
                 "goal.text": "Get through a disagreement with my parents without blowing up.",
                 "goal.indicator": "Fewer blow-ups at home on my weekly check-in; my parents notice it too."},
                {"goal.domain": "goal-work-activity",
                 "goal.text": "Decide about going back to medical school from a calm place, not from panic.",
                 "goal.indicator": "A plan I have talked through in sessions, made without an ultimatum to "
                                   "myself."},
                {"goal.domain": "goal-self-regulation",
                 "goal.text": "Notice the shame under the anger and put words to it.",
                 "goal.indicator": "More pauses before reacting; I can name what I felt in the moment."},
            ],
            "contract.formats": ["format-individual", "format-mbt-i", "format-group"],
            "contract.level-of-care": "care-outpatient",
            "contract.sessions-per-week": 2,
            "contract.length-months": 24,
            "contract.notes": "Weekly individual sessions from the start; the introductory MBT-I group in weeks 2 "
                              "to 5, then the MBT group once a week from week 6. If a session is missed without "
                              "notice, the clinician phones the same day and writes if there is no answer. "
                              "Between sessions the phone is for arranging appointments; in a crisis, the crisis "
                              "plan applies. The formulation is reviewed at three months.",
            "crisis.warning-signs": "Being sure I will fail; staying in my room; not eating; telling myself "
                                    "there is no way out.",
            "crisis.self": "Tell my mother or father that I am in a bad place; go for a long walk rather than "
                           "stay alone in my room; reread this plan; call the crisis line.",
            "crisis.professionals": "Take me seriously even if I sound calm; ask directly about overdose plans; "
                                    "arrange an extra appointment within 48 hours; help my parents keep "
                                    "medication secured.",
            "crisis.others": "I may seem arrogant or cold when I am most frightened. Keep medication locked "
                             "away. Stay with me rather than argue with me.",
            "crisis.not-helpful": "Being told I have so much to live for; lectures about my future career; being "
                                  "left alone after a row.",
            "crisis.contacts": "Parents at home; MBT clinician during office hours; crisis line and emergency "
                               "services out of hours.",
            "crisis.review-date": START + timedelta(weeks=6),
            "patient-copy.difficulties": (
                "You came to us after taking an overdose on the morning of your exam, when failing felt certain and "
                "there seemed to be no other way out. Since then you have been on leave from medical school, you "
                "have seen little of your friends, and at home there have been angry outbursts and long stretches "
                "of feeling nothing."),
            "patient-copy.presentation": (
                "Often you come across as calm, confident and in control, and you argue your case well. When "
                "failure or being judged comes close, fear and shame can arrive quickly underneath, and hope can "
                "drain away."),
            "patient-copy.relationships": (
                "In your family, praise came with results. You learned that being loved meant being the best, and "
                "that needing help was a weakness. You tend to look up to people and then go off them, keep friends "
                "at arm's length, and feel contempt when someone seems to outshine you."),
            "patient-copy.self-esteem": (
                "Feeling all right about yourself depends a great deal on doing well, being the clever one, being "
                "admired and being in control; one poor mark can make you feel a fraud. You have built a picture of "
                "yourself as the future doctor who is brilliant and never struggles; it hides how anxious you get, "
                "how hard studying is, and the shame of needing help."),
            "patient-copy.hard-moments": (
                "When you feel judged, the feeling can seem like proof that people are judging you. Sometimes you "
                "explain yourself very well without it touching what you feel. And exams and rankings can seem to "
                "decide your whole worth."),
            "patient-copy.between-us": (
                "You may find yourself doubting whether I am good enough to help you, treating our sessions as an "
                "argument to win, or wanting to stay away when you feel exposed or criticised. When that happens, "
                "I will say what I notice, look at my own part in it, and we will slow down and look at what "
                "happened between us before going back to the topic."),
            "agreement.agreed": True,
            "agreement.date": START,
            "agreement.letter": "Dear Peter, this is what we understand together so far. When you feel you might "
                                "fail, or be seen to fail, it can quickly feel as if your whole worth is at stake, "
                                "and then there seems to be no way out. Anger and a confident manner often cover "
                                "fear and shame. We will work on noticing those moments, slowing them down, and "
                                "keeping you safe while we do.",
            "agreement.copy-given": True,
            "agreement.patient-comments": "A first go. I don't agree with all of it, but the crisis plan makes "
                                          "sense and I will keep a copy on my phone.",
        }
        if revision is not None:
            a["revision.previous"] = revision["previous"]
            a["revision.reason"] = revision["reason"]
            a["agreement.date"] = revision["date"]
            a["diagnosis.shared"] = True
            a["diagnosis.note"] = ("Narcissistic personality disorder discussed in week 3; Peter found the word "
                                   "hard to hear and asked for it to be explained in terms of what happens to him "
                                   "under pressure.")
            a["presentation.type"] = "vulnerable-presentation"
            a["presentation.description"] = (
                "Less of the superior, debating manner than at the start. More visible now: anxiety about going "
                "back to medical school, shame that comes fast when he thinks he has got something wrong, and "
                "retreat to his room after setbacks. The superior stance still returns for short spells when he "
                "feels criticised, especially in the group.")
            a["patient-copy.presentation"] = (
                "You show less of the confident, debating side than at the start. More often now we can both see "
                "the worry about going back to medical school, the shame that comes fast when you think you have "
                "got something wrong, and how you retreat to your room after a setback. When you feel criticised, "
                "especially in the group, the confident stance can still come back for a while.")
            a["patient-copy.self-esteem"] += (" You have started to notice the shame and fear under the anger, and "
                                              "to put words to them.")
            a["dimension.automatic-controlled.example"] = (
                "Still quick to be sure about others' motives, but now sometimes stops himself and asks.")
            a["crisis.self"] = self.CRISIS_SELF_WALK_AND_CALL
            a["crisis.review-date"] = revision["date"] + timedelta(weeks=13)
            a["contract.notes"] = a["contract.notes"].replace("is reviewed at three months",
                                                              "is reviewed again at six months")
            a["agreement.letter"] = (
                "Dear Peter, three months on, this is what we understand together. You have started to notice the "
                "shame and fear that sit under the anger, and to pause before reacting at home. Feeling criticised, "
                "in the group or here, still makes you feel small very quickly, and then you pull away or fight. We "
                "will keep looking at those moments together, and the crisis plan stays with you.")
            a["agreement.patient-comments"] = "This version feels more like me."
        return a

    CRISIS_SELF_WALK_AND_CALL = (
        "Tell my mother or father that I am in a bad place; go for a long walk and phone someone while I walk rather "
        "than stay alone in my room; reread this plan; call the crisis line.")

    def crisis_plan_revision(self, formulation):
        """Week 4: the crisis plan alone gains the walk-and-call step, without revising the formulation."""
        first = self.formulation_answers()
        a = {k: v for k, v in first.items() if k.startswith("crisis.")}
        a["crisis.self"] = self.CRISIS_SELF_WALK_AND_CALL
        a["crisis.review-date"] = START + timedelta(weeks=13)
        a["crisis-plan.reason"] = ("Thoughts of suicide returned after a letter from the medical school; walking "
                                   "alone helped less than walking while on the phone to someone.")
        a["crisis-plan.previous"] = {"reference": self.full_url("QuestionnaireResponse", formulation["id"])}
        a["crisis-plan.agreed"] = True
        a["crisis-plan.copy-given"] = True
        day = START + timedelta(weeks=4)
        self.response("peter-crisis-plan-2", "mbt-crisis-plan", self.when(day, 17), a, self.clinician_ref)

    def formulations(self):
        # The first version, with the crisis plan, is written and agreed at the first appointment (week 0), so that
        # a plan exists from the start; the full assessment feeds the revision at three months.
        first = self.response("peter-formulation-1", "mbt-formulation", self.when(START, 17),
                              self.formulation_answers(), self.clinician_ref)
        self.crisis_plan_revision(first)
        rev_day = START + timedelta(weeks=13)
        self.response("peter-formulation-2", "mbt-formulation", self.when(rev_day, 17),
                      self.formulation_answers(revision={
                          "previous": {"reference": self.full_url("QuestionnaireResponse", first["id"]),
                                       "display": "MBT formulation, first version"},
                          "reason": "Three-month review: the vulnerable side is now more in view, Peter has "
                                    "begun to notice shame under his anger, the diagnosis has been discussed "
                                    "with him, and the crisis plan gained the walk-and-call step added in week 4.",
                          "date": rev_day}),
                      self.clinician_ref)

    # -- RFQ-8
    # RFQ_u falls modestly (1.50 -> 1.17 -> 0.83); RFQ_c stays low to moderate (0.50 -> 0.50 -> 0.67).
    RFQ = {
        0: ["strongly-disagree", "slightly-agree", "agree", "agree", "agree", "slightly-agree",
            "slightly-disagree", "agree"],
        13: ["disagree", "slightly-agree", "slightly-agree", "agree", "slightly-agree", "slightly-disagree",
             "slightly-disagree", "agree"],
        26: ["slightly-disagree", "slightly-agree", "slightly-disagree", "slightly-agree", "slightly-agree",
             "disagree", "slightly-agree", "agree"],
    }

    def rfq8(self):
        for week, label in ((0, "m0"), (13, "m3"), (26, "m6")):
            codes = dict(enumerate(self.RFQ[week], 1))
            certainty, uncertainty = rfq8_scores(self.c, codes)
            answers = {f"rfq8.{i}": code for i, code in codes.items()}
            answers.update({"rfq8.certainty": certainty, "rfq8.uncertainty": uncertainty})
            day = START + timedelta(weeks=week)
            self.response(f"peter-rfq8-{label}", "rfq-8", self.when(day, 13), answers, self.patient_ref,
                          source=self.patient_ref)

    # -- mentalizing profile
    def profiles(self):
        dims = ("self-other", "internal-external", "cognitive-affective", "automatic-controlled")
        plans = {
            # At intake both poles of self / other are limited: little real reflection on himself (only on his
            # standing) and little on others' separate minds.
            "intake": (1, ["poles-both-limited", "pole-external", "pole-cognitive", "pole-automatic"],
                       ["rigidity-marked", "rigidity-moderate", "rigidity-marked", "rigidity-moderate"],
                       ["mode-frequent", "mode-frequent", "mode-pervasive"], "mixed-direction",
                       "mentalizing-limited", "trust-closed", "mentalizing-moderate", "mentalizing-very-limited"),
            "m6": (26, ["pole-self", "poles-balanced", "pole-cognitive", "pole-automatic"],
                   ["rigidity-mild", None, "rigidity-moderate", "rigidity-mild"],
                   ["mode-occasional", "mode-occasional", "mode-frequent"], "hypermentalizing",
                   "mentalizing-moderate", "trust-emerging", "mentalizing-good", "mentalizing-limited"),
        }
        for label, (week, poles, rigid, modes, direction, capacity, trust, calm, stress) in plans.items():
            a = {"profile.basis": "Assessment interviews and individual sessions up to this date."
                 if label == "intake" else "Individual and group sessions over the past three months."}
            for d, p, r in zip(dims, poles, rigid):
                a[f"profile.{d}.dominance"] = p
                if p != "poles-balanced":          # rigidity is only asked when a pole dominates
                    a[f"profile.{d}.rigidity"] = r
            a["profile.self-other.example"] = (
                "Describes his own ordeal in detail; his parents' experience barely figures."
                if label == "intake" else "Has started to ask how his outbursts land with his mother.")
            for m, v in zip(("psychic-equivalence", "pretend-mode", "teleological-mode"), modes):
                a[f"profile.{m}.presence"] = v
            a["profile.modes.example"] = ("Exam results equated with personal worth; intellectual talk about "
                                          "feelings in early sessions.")
            a["profile.direction"] = direction
            a["profile.epistemic-trust"] = trust
            a["profile.overall.capacity"] = capacity
            a["profile.capacity.calm"] = calm
            a["profile.capacity.stress"] = stress
            a["profile.score.imbalance"] = int(sum(self.c.weight(r) for p, r in zip(poles, rigid)
                                                   if p != "poles-balanced"))
            a["profile.score.modes"] = int(sum(self.c.weight(m) for m in modes))
            a["profile.score.capacity"] = int(self.c.weight(capacity))
            day = START + timedelta(weeks=week)
            self.response(f"peter-profile-{label}", "mbt-mentalizing-profile", self.when(day, 17), a,
                          self.clinician_ref)

    # -- sessions and check-ins
    # Individual sessions every Monday from week 0; the MBT group every Thursday from week 6.
    GROUP_START = 6
    GROUP_DAY = 3                   # days after the Monday
    RISK_WEEKS = {
        0: ("risk-moderate", ["risk-explored", "means-safety-discussed", "contact-increased", "team-consulted"],
            "Crisis plan written with Peter in this session and a copy given to him; second appointment this week; "
            "parents reminded, with his agreement, to keep medication locked away."),
        4: ("risk-moderate", ["risk-explored", "crisis-plan-updated", "crisis-line-given"],
            "Thoughts returned after a letter from the school; crisis plan extended with a walk-and-call step."),
        11: ("risk-low", ["no-further-action"],
             "Fleeting thoughts after a row with his father, talked through in the session; no plan or intent."),
    }
    # (format, week) -> repair status
    RUPTURES = {("individual", 3): "partially-repaired", ("individual", 10): "repaired",
                ("group", 16): "partially-repaired", ("individual", 22): "repaired"}
    RUPTURE_WEEKS = {week for _, week in RUPTURES}
    RUPTURE_TEXT = {
        3: "Peter said I was too junior to understand medical training and that the questions were pointless.",
        10: "He felt I sided with his father over the car argument and went silent.",
        16: "He dismissed another member's feedback and then felt I had shamed him in front of the group.",
        22: "He was irritated that I asked again about feelings when he wanted advice about returning to school.",
    }
    # (format, week) -> risk actions and crisis plan review after a missed session with a risk concern
    MISSED_RISK = {
        ("individual", 17): (["risk-explored", "crisis-line-given"], True,
                             "Asked directly about thoughts of self-harm on the phone; none. Crisis line repeated."),
        ("group", 17): (["no-further-action"], False, "Covered by the call after the missed individual session."),
    }
    CANCELLED_BY = {("individual", 9): "cancelled-by-service"}
    # (format, week) -> (attendance, contact attempted, reached, risk level or None, what was done, note)
    MISSED = {
        ("individual", 9): ("cancelled", True, True, None,
                            "Telephone check-in offered and taken up; no new risk; next appointment confirmed.",
                            "Cancelled by the service (clinician unwell)."),
        ("group", 7): ("did-not-attend", True, True, None,
                       "Phoned the same afternoon: he said the group would be a waste of his time. Agreed to talk "
                       "about it in his individual session.",
                       "First group session missed without notice."),
        ("individual", 17): ("did-not-attend", True, True, "risk-low",
                             "Phoned the same day: he had stayed away out of embarrassment after the group. No "
                             "thoughts of self-harm; went through the crisis plan on the phone; letter sent; he "
                             "agreed to come next week.",
                             "Did not attend the week after the group rupture."),
        ("group", 17): ("did-not-attend", True, True, "risk-low",
                        "Covered by the call after this week's missed individual session.",
                        "Did not attend the week after the group rupture."),
    }
    REMOTE_WEEKS = {13: "video", 21: "telephone"}
    LEFT_EARLY = {("group", 16)}
    MBT_I_WEEKS = range(2, 6)
    WE_MODE_EXAMPLES = {
        "individual": [
            "Stopped mid-rant about a classmate and wondered aloud what the classmate might have been worried "
            "about.",
            "Asked me what I had made of his silence last week, and listened to the answer.",
            "Realised his mother's questions came from fear for him, not from doubt in him.",
        ],
        "mbt-i": [
            "Recognised a moment from his own week in the example of a feeling taken for a fact, and said so.",
        ],
        "group": [
            "Took up another group member's point and built on it instead of correcting it.",
            "Asked a quieter member how the discussion had been for her, and waited for her answer.",
            "Said he had felt left out when the group laughed, and was curious when others saw it differently.",
        ],
    }
    FOCUS = {
        "individual": [
            "Slow down the next blow-up at home and look at the moment before it.",
            "Return to the shame that came up when talking about the exam.",
            "Explore what happened between us when he went quiet.",
            "Look at how he decides, so fast, what others think of him.",
            "Keep working on the decision about going back to school.",
        ],
        "mbt-i": [
            "Next topic: what happens to thinking when feelings run high.",
            "Next topic: how we guess what others feel, and how often we get it wrong.",
        ],
        "group": [
            "Notice when he starts to lecture the group and what he feels just before.",
            "Help him stay with another member's account without comparing it with his own.",
            "Look at what the group's reactions stir up in him.",
        ],
    }
    COLLAPSE_CONTEXT = [
        "When exam results came up he became certain he was finished and could not think about it.",
        "When I wondered about his part in the argument he launched into a tirade about his father.",
        "Talking about his classmates passing the exam, he went cold and contemptuous.",
    ]

    def progress(self, week):
        return week / (WEEKS - 1)

    def session(self, week, fmt="individual"):
        rng = self.rng
        t = self.progress(week)
        day = START + timedelta(weeks=week, days=0 if fmt == "individual" else self.GROUP_DAY)
        a = {
            "session.date": day,
            "session.format": f"format-{fmt}",
            "session.level-of-care": "care-outpatient",
            "session.modality": self.REMOTE_WEEKS.get(week, "in-person") if fmt == "individual" else "in-person",
            "session.phase": "phase-initial" if week < 6 else "phase-middle",
        }
        missed = self.MISSED.get((fmt, week))
        if missed:
            attendance, tried, reached, level, done, note = missed
            a["session.attendance"] = attendance
            a["session.missed.contact-attempted"] = tried
            if tried:
                a["session.missed.reached"] = reached
            if attendance == "cancelled":
                a["session.cancelled-by"] = self.CANCELLED_BY[(fmt, week)]
            a["session.missed.risk-concern"] = level is not None
            if level:
                actions, reviewed, detail = self.MISSED_RISK[(fmt, week)]
                a["session.missed.risk-level"] = level
                a["session.missed.risk-action"] = actions
                a["session.missed.risk-action-detail"] = detail
                a["session.missed.crisis-plan-reviewed"] = reviewed
            a["session.missed.action"] = done
            a["session.note"] = note
            return a
        a["session.attendance"] = "left-early" if (fmt, week) in self.LEFT_EARLY else "attended"
        # risk: asked in full in the individual session; the group clinician asks about self-harm and suicidal
        # thoughts since the last session; the introductory group is teaching and does not screen
        risk = self.RISK_WEEKS.get(week) if fmt == "individual" else None
        if fmt == "mbt-i":
            for link in ("self-harm", "suicidal-thoughts", "suicide-attempt", "harm-to-others", "emergency-attendance"):
                a[f"risk.{link}"] = "risk-not-assessed"
        else:
            a["risk.self-harm"] = "risk-no"
            a["risk.suicidal-thoughts"] = "risk-yes" if risk else "risk-no"
            a["risk.suicide-attempt"] = "risk-no"
            a["risk.harm-to-others"] = "risk-no" if fmt == "individual" else "risk-not-assessed"
            a["risk.emergency-attendance"] = "risk-no" if fmt == "individual" else "risk-not-assessed"
        if risk:
            a["risk.level"], a["risk.action"], a["risk.action-detail"] = risk
            a["risk.crisis-plan-reviewed"] = True
        # arousal: poised and intellectualising at first (low to moderate, rising when shame is touched), more
        # feeling reachable in the middle months, better held towards six months
        rupture = (fmt, week) in self.RUPTURES
        base = 3.5 if week < 6 else 5.0 if week < 17 else 4.5
        if fmt == "mbt-i":
            base = 3.0
        shame = rng.random() < (0.3 if week < 6 else 0.4)
        peak = round(base + rng.uniform(-1.0, 1.0) + (1.5 if shame else 0) + (1.5 if risk else 0)
                     + (2 if rupture else 0))
        peak = max(0, min(10, peak))
        a["arousal.peak"] = peak
        collapse = peak >= 8 or (peak == 7 and rng.random() < 0.4)
        a["arousal.collapse"] = collapse
        if collapse:
            a["arousal.collapse-context"] = rng.choice(self.COLLAPSE_CONTEXT)
        # mentalizing level: limited at first (as in the intake profile), moderate from about three months,
        # now and then good near six months; one step lower when it collapsed
        levels = ["mentalizing-very-limited", "mentalizing-limited", "mentalizing-moderate", "mentalizing-good"]
        idx = 1 if t < 0.35 else 2
        if t > 0.75 and rng.random() < 0.3:
            idx = 3
        elif 0.25 < t < 0.5 and rng.random() < 0.3:
            idx = 2
        if collapse:
            idx -= 1
        level = levels[idx]
        a["mentalizing.level"] = level
        a["mentalizing.level-score"] = int(self.c.weight(level))
        if t < 0.25:
            modes = ["pretend-mode", "teleological-mode"] + (["psychic-equivalence"] if peak >= 6 else [])
        elif t < 0.6:
            modes = self.pick(["pretend-mode", "teleological-mode"], 1) + (
                ["psychic-equivalence"] if peak >= 6 else [])
        else:
            modes = ["psychic-equivalence"] if peak >= 7 else self.pick(["pretend-mode", "teleological-mode"],
                                                                        rng.choice([0, 1]))
        order = ["psychic-equivalence", "pretend-mode", "teleological-mode"]
        a["mentalizing.modes"] = sorted(set(modes), key=order.index)
        poles = ["pole-self", "pole-external", "pole-cognitive", "pole-automatic"]
        a["mentalizing.imbalances"] = self.pick(poles, 4 if t < 0.25 else (3 if t < 0.6 else rng.choice([1, 2])))
        a["mentalizing.direction"] = ("mixed-direction" if t < 0.4 else
                                      "hypermentalizing" if t < 0.8 else
                                      rng.choice(["hypermentalizing", "no-predominant-direction"]))
        # openness to the clinician's or the group's view: closed at first, emerging by the later months
        trust = ["trust-closed", "trust-selective", "trust-emerging", "trust-open"]
        openness = 0 if t < 0.2 else 1 if t < 0.55 else 2
        a["mentalizing.openness"] = trust[max(0, openness - (1 if rupture or collapse else 0))]
        # interventions; no gentle challenge once mentalizing has collapsed: arousal first, then thinking
        used = ["not-knowing-stance", "clarification"]
        used += self.pick(["empathic-validation", "affect-elaboration", "affect-focus", "naming-missing-feeling",
                           "gentle-challenge", "stop-rewind-explore"], 2 if t < 0.5 else 3)
        if peak >= 7:
            used.append("regulating-arousal")
        if collapse:
            used = [u for u in used if u != "gentle-challenge"] + ["regulating-arousal"]
        if rupture:
            used.append("mentalizing-the-relationship")
        if (week < 6 and fmt == "individual") or fmt == "mbt-i":
            used.append("psychoeducation")
        order = ["not-knowing-stance", "empathic-validation", "clarification", "affect-elaboration", "affect-focus",
                 "naming-missing-feeling", "gentle-challenge", "stop-rewind-explore", "mentalizing-the-relationship",
                 "regulating-arousal", "psychoeducation"]
        a["interventions.used"] = sorted(set(used), key=order.index)
        stages = ["stage-what", "stage-expand-the-what", "stage-why", "stage-how"]
        stage = min(3, int(t * 4 + rng.uniform(-0.6, 0.4)))
        if fmt == "group":
            stage = min(stage, 2)
        elif fmt == "mbt-i":
            stage = min(stage, 1)
        if collapse:
            stage = max(0, stage - 1)
        a["interventions.stage"] = stages[max(0, stage)]
        # me-mode to we-mode
        shift = rng.random() < 0.02 + 0.7 * t ** 1.3
        a["we-mode.shift"] = shift
        if shift:
            a["we-mode.example"] = rng.choice(self.WE_MODE_EXAMPLES[fmt])
        # alliance
        a["alliance.rupture"] = rupture
        if rupture:
            a["alliance.rupture-description"] = self.RUPTURE_TEXT[week]
            a["alliance.repair"] = self.RUPTURES[(fmt, week)]
        patterns = []
        if t < 0.4:
            patterns = self.pick(["idealisation-devaluation", "defensive-distance", "competition-envy"], 2)
        elif rupture or rng.random() < 0.3:
            patterns = [rng.choice(["defensive-distance", "competition-envy"])]
        if week in (16, 17, 18):
            patterns.append("dropout-risk")
        a["alliance.patterns"] = patterns
        # the clinician's own reactions: pulled into the debate early on, rescuing when risk is high
        reactions = []
        if rupture:
            reactions.append("reaction-devalued")
        if t < 0.3 and fmt == "individual" and rng.random() < 0.5:
            reactions.append("reaction-angry")
        if risk and risk[0] != "risk-low":
            reactions.append("reaction-rescuing")
        if reactions:
            order = ["reaction-idealised", "reaction-devalued", "reaction-bored", "reaction-angry",
                     "reaction-manipulated", "reaction-rescuing"]
            a["clinician-self.reactions"] = sorted(set(reactions), key=order.index)
            a["clinician-self.supervision"] = rupture or bool(risk)
        # adherence
        scores = []
        for it in _iter_items(self.c.questionnaire("mbt-session-record")["item"]):
            if it["linkId"].startswith("adherence.") and it["type"] == "integer":
                s = max(1, min(7, round(4.4 + 1.2 * t + rng.uniform(-1.0, 1.0))))
                a[it["linkId"]] = s
                scores.append(s)
        a["adherence.mean"] = _round(Decimal(sum(scores)) / len(scores), 2)
        focus = self.FOCUS[fmt]
        a["next.focus"] = focus[week % len(focus)]
        return a

    def checkin(self, week):
        rng = self.rng
        t = self.progress(week)
        # early wins in weeks 2-8 (fewer blow-ups, more pauses), slower change after that
        early = math.exp(-week / 5)
        blow = max(0, round(1.3 + 4.7 * early + rng.uniform(-1.0, 1.0) + (1 if week in self.RUPTURE_WEEKS else 0)))
        pause = max(0, round(0.5 + 3.3 * (1 - early) + 1.5 * t + rng.uniform(-1.0, 1.0)))
        steady = ["very-unsteady", "unsteady", "somewhat-steady", "steady"][
            min(3, int(t * 3.4 + rng.uniform(-0.5, 0.5)))]
        curious = ["freq-never", "freq-rarely", "freq-sometimes", "freq-often"][
            min(3, int(t * 3.6 + rng.uniform(-0.5, 0.5)))]
        early_pool = ["emotion-anger", "emotion-contempt", "emotion-emptiness", "emotion-humiliation"]
        middle = ["emotion-anger", "emotion-shame", "emotion-fear", "emotion-envy", "emotion-hurt", "emotion-sadness"]
        late = ["emotion-shame", "emotion-sadness", "emotion-calm", "emotion-pride", "emotion-affection",
                "emotion-fear", "emotion-anger"]
        pool = early_pool if t < 0.2 else middle if t < 0.6 else late
        emotions = self.pick(pool, 2 if t < 0.2 else 3)
        if week in (8, 19):
            emotions.append("restless" if week == 8 else "relieved")
        a = {
            "checkin.blow-ups": blow,
            "checkin.pauses": pause,
            "checkin.self-worth": steady,
            "checkin.curiosity": curious,
            "checkin.emotions": emotions,
            "checkin.repairs": ("no-clash" if blow == 0 else
                                "repair-not-tried" if t < 0.2 else
                                "repair-tried" if t < 0.45 else
                                rng.choice(["repair-made", "repair-made", "repair-tried"])),
            "checkin.risk.self-harm-thoughts": False,
            "checkin.risk.suicide-thoughts": week in self.RISK_WEEKS,
            "checkin.risk.acted": False,
        }
        if week in (5, 12, 20):
            a["checkin.emotions-note"] = [
                "My dad asked about school and I felt the anger coming; I went for a walk first.",
                "I noticed shame when a friend mentioned her exam results. I did not say anything nasty.",
                "I felt proud that I apologised to my mother without being asked.",
            ][(5, 12, 20).index(week)]
        if week in self.RISK_WEEKS:
            a["checkin.risk.plan"] = False
            a["checkin.risk.safe-now"] = True
            a["checkin.risk.contact-wanted"] = week == 4
        a["checkin.score.self-worth"] = int(self.c.weight(steady))
        a["checkin.score.curiosity"] = int(self.c.weight(curious))
        if blow + pause > 0:
            a["checkin.score.pause-proportion"] = (pause * 100) // (blow + pause)
        return a

    def weekly(self):
        for week in range(WEEKS):
            day = START + timedelta(weeks=week)
            if self.MISSED.get(("individual", week), ("attended",))[0] != "did-not-attend":
                self.response(f"peter-checkin-{week + 1:02d}", "mbt-weekly-checkin", self.when(day, 13),
                              self.checkin(week), self.patient_ref, source=self.patient_ref)
            self.response(f"peter-session-{week + 1:02d}", "mbt-session-record", self.when(day, 16),
                          self.session(week), self.clinician_ref)
            if week in self.MBT_I_WEEKS:
                self.response(f"peter-mbti-{week + 1:02d}", "mbt-session-record",
                              self.when(day + timedelta(days=self.GROUP_DAY), 18), self.session(week, "mbt-i"),
                              self.clinician_ref)
            if week >= self.GROUP_START:
                group_day = day + timedelta(days=self.GROUP_DAY)
                self.response(f"peter-group-{week + 1:02d}", "mbt-session-record", self.when(group_day, 18),
                              self.session(week, "group"), self.clinician_ref)

    # -- periodic reviews at three and six months
    REVIEWS = {
        13: ("change-better", "change-none", "change-better",
             ["goal-some-progress", "goal-no-progress", "goal-some-progress"], 14, 12,
             "Fewer blow-ups at home; still undecided about medical school; beginning to notice shame."),
        26: ("change-better", "change-better", "change-much-better",
             ["goal-clear-progress", "goal-some-progress", "goal-clear-progress"], 9, 8,
             "Parents say rows end sooner; a plan to return to school part-time, talked through calmly; names "
             "shame more often in sessions and in the group."),
    }

    def reviews(self):
        goals = self.formulation_answers()["goal"]
        for week, (rel, work, selfreg, progress, phq9, gad7, note) in self.REVIEWS.items():
            day = START + timedelta(weeks=week)
            a = {
                "review.date": day,
                "review.status": "status-ongoing",
                "review.phase": "phase-middle",
                "review.relationships": rel,
                "review.work-activity": work,
                "review.self-regulation": selfreg,
                "review.functioning-note": note,
                "review.goal": [{"review.goal.text": g["goal.text"], "review.goal.progress": p}
                                for g, p in zip(goals, progress)],
                "review.phq9": phq9,
                "review.gad7": gad7,
                "review.summary": "Continue weekly individual and group sessions; next review in three months.",
            }
            self.response(f"peter-review-m{week // 13 * 3}", "mbt-periodic-review", self.when(day, 18), a,
                          self.clinician_ref)

    def bundle(self):
        self.people()
        self.rfq8()
        self.profiles()
        self.formulations()
        self.reviews()
        self.weekly()
        return {"resourceType": "Bundle", "id": "mbt-example-peter", "type": "transaction",
                "entry": self.entries}


def build(content_dir=CONTENT):
    return Peter(Content(content_dir)).bundle()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--content", type=Path, default=CONTENT)
    args = parser.parse_args(argv)
    bundle = build(args.content)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(bundle['entry'])} entries)")


if __name__ == "__main__":
    main()
