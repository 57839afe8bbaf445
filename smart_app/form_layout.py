"""How a form's questions are laid out: the section index and answer grids.

Both are read off the field tree (:mod:`smart_app.questionnaire_form`), never
off particular linkIds, so new content gets them too:

- **Sections**: a long form's top-level groups, as in-page links. When a form
  has only one or two, a top-level group that itself holds several groups
  (the session record's "Session") is listed by those groups instead, so the
  index names what a clinician scrolls to.
- **Grids**: consecutive sibling questions that take one answer from the same
  short scale (the same answer list, shown as radio buttons; or the same
  whole-number range, shown as a slider) become one grid: a row per
  question, a column per point of the scale. Each row stays a fieldset with
  its question as legend and a labelled radio button per point, so it reads
  and is operated as the separate questions it is (the columns' headers are
  only a visual aid), and on a narrow screen it falls back to a list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from smart_app.questionnaire_form import Field, Option

__all__ = ["Grid", "Section", "blocks", "sections", "field_id", "MAX_COLUMNS", "MIN_SECTIONS"]

#: The widest scale shown as a grid (an 800 px EHR frame still fits seven columns beside the question).
MAX_COLUMNS = 7
#: A form with fewer sections than this gets no index.
MIN_SECTIONS = 3
#: A top-level group with at least this many groups inside is indexed by them.
_SPLIT_AT = 3


def field_id(name: str) -> str:
    """The HTML id of a field (its input, or the fieldset of a group or choice list)."""
    out = name.replace(":", "-").replace("/", "-").replace("[", "-").replace("]", "")
    return "f-" + out


@dataclass
class Grid:
    """Questions answered on one shared scale: ``columns`` are its points (value, label)."""

    fields: list[Field]
    columns: list[Option]
    kind: str = "grid"

    @property
    def link_ids(self) -> list[str]:
        return [f.link_id for f in self.fields]


@dataclass(frozen=True)
class Section:
    text: str
    anchor: str
    conditional: bool


def _scale(f: Field) -> tuple | None:
    """What makes questions share a grid: the same points, in the same order, with the same labels."""
    if f.hidden or f.read_only or f.calculated or f.repeats or f.type == "open-choice":
        return None
    if f.type == "choice" and f.control == "radio" and 2 <= len(f.options) <= MAX_COLUMNS:
        return ("choice",) + tuple((o.token, o.label) for o in f.options)
    if (f.type == "integer" and f.control == "slider" and isinstance(f.min, int) and isinstance(f.max, int)
            and not isinstance(f.min, bool) and 2 <= f.max - f.min + 1 <= MAX_COLUMNS):
        return ("integer", f.min, f.max)
    return None


def _columns(f: Field) -> list[Option]:
    if f.type == "integer":
        return [Option(str(n), str(n), {"valueInteger": n}) for n in range(f.min, f.max + 1)]
    return list(f.options)


def blocks(fields: Iterable[Field]) -> list[Field | Grid]:
    """The fields of one list in order, runs of two or more questions on one scale made into a grid."""
    out: list[Field | Grid] = []
    run: list[Field] = []
    key = None

    def flush():
        if len(run) >= 2:
            out.append(Grid(list(run), _columns(run[0])))
        else:
            out.extend(run)
        run.clear()

    for f in fields:
        scale = _scale(f)
        if scale is not None and scale == key:
            run.append(f)
            continue
        flush()
        key = scale
        if scale is not None:
            run.append(f)
        else:
            out.append(f)
    flush()
    return out


def sections(fields: Iterable[Field]) -> list[Section]:
    """The in-page index of a form: empty when it has fewer than :data:`MIN_SECTIONS` sections."""
    found: list[Section] = []
    groups = [f for f in fields if f.type == "group" and not f.hidden]
    for f in groups:
        inner = [c for c in f.children if c.type == "group" and not c.hidden]
        if len(groups) < MIN_SECTIONS and len(inner) >= _SPLIT_AT and not f.repeats:
            found.extend(Section(c.text or c.link_id, field_id(c.name), bool(f.enable_when or c.enable_when))
                         for c in inner)
        else:
            found.append(Section(f.text or f.link_id, field_id(f.name), bool(f.enable_when)))
    return found if len(found) >= MIN_SECTIONS else []
