"""One patient's MBT records as plain dicts: the answers of each response, found by linkId.

Shared by everything that reads a whole record (the app's dashboard, the
CDS Hooks cards): a response becomes an :class:`Entry` (its answers
flattened once, its date), and nothing here builds a model object, so
years of weekly records stay cheap to read.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

__all__ = ["FINAL", "Entry", "entry", "flatten", "groups", "first", "display", "questionnaire_id", "reference_id"]

#: Statuses of a response that counts as the record (drafts do not).
FINAL = ("completed", "amended")


def questionnaire_id(response: Mapping) -> str:
    """The id part of the response's Questionnaire canonical (``.../Questionnaire/rfq-8|0.1.0`` → ``rfq-8``)."""
    canonical = str(response.get("questionnaire", "")).split("|", 1)[0]
    return canonical.rstrip("/").rsplit("/", 1)[-1]


def flatten(items: Iterable[Mapping] | None, out: dict[str, list] | None = None) -> dict[str, list]:
    """linkId → every answer value in the (sub)tree, in document order.

    Iterative rather than recursive: it runs over every item of every
    response on each dashboard view, and a year of weekly records is some
    hundred thousand items.
    """
    out = {} if out is None else out
    stack = list(reversed(items or ()))
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        children = item.get("item")
        if children:
            push(reversed(children))
        answers = item.get("answer")
        if not answers:
            continue
        values = out.get(item.get("linkId"))
        if values is None:
            values = out[item.get("linkId")] = []
        nested = []
        for answer in answers:
            for key, value in answer.items():
                if key.startswith("value"):
                    values.append(value)
                    break
            sub = answer.get("item")
            if sub:
                nested.extend(sub)
        if nested:
            push(reversed(nested))
    return out


def groups(items: Iterable[Mapping] | None, link_id: str) -> list[list[Mapping]]:
    """The child items of every instance of the group ``link_id``, anywhere in the tree."""
    found = []
    for item in items or ():
        if item.get("linkId") == link_id:
            found.append(item.get("item", []))
        found.extend(groups(item.get("item"), link_id))
    return found


def first(answers: Mapping[str, list], link_id: str, default=None):
    values = answers.get(link_id)
    return values[0] if values else default


def display(value: Any) -> str:
    """An answer value as words: a Coding's display, yes/no for booleans."""
    if isinstance(value, Mapping):
        return str(value.get("display") or value.get("code") or value.get("reference") or "")
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "" if value is None else str(value)


def reference_id(reference: Any, resource_type: str) -> str | None:
    """The id in a Reference to ``resource_type`` (relative or absolute, history dropped), else None."""
    if not isinstance(reference, Mapping):
        return None
    parts = str(reference.get("reference", "")).split("/_history/", 1)[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == resource_type and parts[-1]:
        return parts[-1]
    return None


class Entry:
    """A response, its date (the answer at ``date_link``, else authored) and its answers by linkId.

    The answers are flattened on first use: a rule that needs only dates
    (when was the last RFQ-8?) reads years of records without walking them.
    """

    __slots__ = ("response", "date", "_answers")

    def __init__(self, response: Mapping, answers: dict[str, list] | None = None, date: str = ""):
        self.response = response
        self._answers = answers
        self.date = date

    def __repr__(self) -> str:
        return f"Entry({self.id!r}, {self.date!r})"

    @property
    def answers(self) -> dict[str, list]:
        if self._answers is None:
            self._answers = flatten(self.response.get("item"))
        return self._answers

    @property
    def id(self) -> str:
        return self.response.get("id", "")

    @property
    def questionnaire_id(self) -> str:
        return questionnaire_id(self.response)

    @property
    def status(self) -> str:
        return self.response.get("status", "")


def _top_level(response: Mapping, link_id: str) -> Any:
    for item in response.get("item") or ():
        if isinstance(item, Mapping) and item.get("linkId") == link_id:
            for answer in item.get("answer") or ():
                for key, value in answer.items():
                    if key.startswith("value"):
                        return value
    return None


def entry(response: Mapping, date_link: str | None = None) -> Entry:
    made = Entry(response)
    value = None
    if date_link:
        value = _top_level(response, date_link)
        if value is None:
            value = first(made.answers, date_link, "")
    made.date = str(value or "") or str(response.get("authored", ""))[:10]
    return made
