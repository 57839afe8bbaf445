"""What changed between two versions of a record, in the words of its Questionnaire.

Each answer is placed by its path (the linkIds from the top, with the
instance of a repeating group: ``goals[2]/goal.text``), compared by value
(a coding by system and code, so a changed display is no change), and
told as the clinician reads it: the question's text from the Questionnaire
(with its groups before it, ``Treatment goals (2) › Goal``), never a linkId;
codings by their display; yes/no; numbers with their unit. A question the
Questionnaire no longer has is named by the text the record carries.

Nothing here knows Flask or FHIR servers: data in, a list out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from fhir_mbt.content import ContentIndex
from fhir_mbt.errors import ContentError

__all__ = ["Change", "changes", "MAX_TEXT"]

#: A text answer is shown up to this many characters in a list of changes.
MAX_TEXT = 300
_UNKNOWN = 10 ** 6
_NO_LABEL = "A question that is not in this form"


@dataclass(frozen=True)
class Change:
    """One answer that differs: ``kind`` is "changed", "added" or "removed"; ``old`` and
    ``new`` are the answers as text (several for a question that takes more than one);
    ``section`` the groups the question is in (``Session › Risk since the last session``)."""

    question: str
    kind: str
    old: tuple[str, ...]
    new: tuple[str, ...]
    section: str = ""

    @property
    def added(self) -> tuple[str, ...]:
        return tuple(v for v in self.new if v not in self.old)

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(v for v in self.old if v not in self.new)


class _Form:
    """What a Questionnaire says about its items: text, order, answer labels, repeating groups."""

    def __init__(self, questionnaires: Iterable[Mapping | None], index: ContentIndex | None):
        self.text: dict[str, str] = {}
        self.order: dict[str, int] = {}
        self.labels: dict[str, dict[tuple[str, str], str]] = {}
        self.repeats: set[str] = set()
        self.unit: dict[str, str] = {}
        self._index = index
        for questionnaire in questionnaires:
            if questionnaire:
                self._walk(questionnaire.get("item") or ())

    def _walk(self, items: Iterable[Mapping]) -> None:
        for item in items:
            link = item.get("linkId")
            if not isinstance(link, str) or link in self.order:
                continue
            self.order[link] = len(self.order)
            self.text[link] = str(item.get("text") or "").strip()
            if item.get("type") == "group" and item.get("repeats"):
                self.repeats.add(link)
            self.labels[link] = self._options(item)
            self._walk(item.get("item") or ())

    def _options(self, item: Mapping) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        for option in item.get("answerOption") or ():
            coding = option.get("valueCoding") if isinstance(option, Mapping) else None
            if isinstance(coding, Mapping) and coding.get("display"):
                out[(coding.get("system", ""), coding.get("code", ""))] = coding["display"]
        url = item.get("answerValueSet")
        if isinstance(url, str) and self._index is not None:
            try:
                for concept in self._index.expand(url.split("|", 1)[0]):
                    out[(concept.get("system", ""), concept.get("code", ""))] = concept.get("display") or concept["code"]
            except (ContentError, KeyError, LookupError):
                pass
        return out


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1].rstrip() + "…"


def _said(form: _Form, link: str, answer: Mapping, when: Callable[[str], str]) -> tuple[Any, str]:
    """(the value compared, the value shown) of one answer."""
    for key, value in answer.items():
        if not key.startswith("value"):
            continue
        if key == "valueCoding" and isinstance(value, Mapping):
            ident = (value.get("system", ""), value.get("code", ""))
            label = form.labels.get(link, {}).get(ident) or value.get("display") or value.get("code") or ""
            return ("coding",) + ident, str(label)
        if key == "valueBoolean":
            return value, "Yes" if value else "No"
        if key in ("valueDecimal", "valueInteger"):
            return float(value) if isinstance(value, (int, float)) else value, _number(value)
        if key == "valueQuantity" and isinstance(value, Mapping):
            unit = value.get("unit") or value.get("code") or ""
            return ("quantity", value.get("value"), value.get("code") or unit), f"{_number(value.get('value'))} {unit}".strip()
        if key == "valueReference" and isinstance(value, Mapping):
            return ("reference", value.get("reference")), str(value.get("display") or value.get("reference") or "")
        if key in ("valueDateTime", "valueDate"):
            return value, when(str(value))
        if key == "valueString":
            return value, _short(str(value))
        if key == "valueAttachment" and isinstance(value, Mapping):
            return ("attachment", value.get("url"), value.get("title")), str(value.get("title") or "an attachment")
        return value, str(value)
    return None, ""


def _flatten(items: Iterable[Mapping] | None, form: _Form, when, path=(), labels=(), out=None) -> dict:
    """path → (label, [(value, shown)]) for every answered question of a response."""
    out = {} if out is None else out
    seen: dict[str, int] = {}
    for item in items or ():
        link = item.get("linkId")
        if not isinstance(link, str):
            continue
        seen[link] = seen.get(link, 0) + 1
        n = seen[link]
        text = form.text.get(link) or str(item.get("text") or "").strip() or _NO_LABEL
        if link in form.repeats or (n > 1 and item.get("item")):
            text = f"{text} ({n})"
        here = path + ((form.order.get(link, _UNKNOWN), n, link),)
        answers = item.get("answer") or []
        if answers:
            said = [_said(form, link, a, when) for a in answers if isinstance(a, Mapping)]
            out[here] = ((" › ".join(labels), text), said)
            for a in answers:
                if isinstance(a, Mapping) and a.get("item"):
                    _flatten(a["item"], form, when, here, (*labels, text), out)
        if item.get("item"):
            _flatten(item["item"], form, when, here, (*labels, text), out)
    return out


def changes(older: Mapping | None, newer: Mapping, questionnaires: Iterable[Mapping | None],
            index: ContentIndex | None = None, *, when: Callable[[str], str] = str) -> list[Change]:
    """The answers that differ from ``older`` to ``newer``, in the form's order.

    ``questionnaires`` give the question texts and answer labels (the newer
    version's first); ``when`` shows a date or a date and time (e.g. in the
    service's zone).
    """
    form = _Form(questionnaires, index)
    before = _flatten((older or {}).get("item"), form, when)
    after = _flatten(newer.get("item"), form, when)
    found = []
    for path in sorted(set(before) | set(after), key=lambda p: tuple((o, n, link) for o, n, link in p)):
        old = before.get(path)
        new = after.get(path)
        old_values = [v for v, _ in old[1]] if old else []
        new_values = [v for v, _ in new[1]] if new else []
        if old_values == new_values:
            continue
        section, label = (new or old)[0]
        old_shown = tuple(s for _, s in old[1]) if old else ()
        new_shown = tuple(s for _, s in new[1]) if new else ()
        kind = "added" if not old_values else "removed" if not new_values else "changed"
        found.append(Change(label, kind, old_shown, new_shown, section))
    return found
