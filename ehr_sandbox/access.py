"""What a token may do through the proxy: coarse, but stated exactly.

Each request is read into an :class:`Interaction` (read, search, create,
update, delete, operation, a page of an earlier search, or a batch /
transaction Bundle) and checked against the token's granted scopes:

- The interaction needs its SMART 2 letter on the resource type (``c r u d s``;
  1.x ``read`` / ``write`` count as ``rs`` / ``cud``). Operations count as a
  read of their type (``*`` for system-level ones); paging needs a page id
  this grant was given. Nothing else is let through.
- A ``user/`` scope grants the type outright: the sandbox has no per-user
  access rules.
- A ``patient/`` scope grants it within the launch patient's compartment,
  judged by the resource's ``subject``, ``patient`` and (Task) ``for`` references (a Patient is
  in it by its own id). Searches must name the patient (``patient``,
  ``subject`` or, for Patient, ``_id``); instance updates and deletes are
  checked against the stored resource first and written bodies must not name
  another patient; a conditional update is let through when its body is in the
  compartment and every resource its condition matches now is too (the
  sandbox runs the search first); creating a Patient, conditional delete,
  PATCH and type- or system-level operations are refused.
- Everything read back (a resource, Bundle entries, ``_include``-d ones) is
  checked again: a resource of a type the token cannot read, or naming
  another patient under ``patient/`` scopes only, is withheld.

Not enforced: other compartment links (``Provenance.target``,
``Group.member``, ``Encounter.participant``, ...), so a resource naming no
Patient in ``subject`` / ``patient`` counts as outside every compartment;
scope query restrictions (such scopes are never granted); XML (refused).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlencode, parse_qsl, urlsplit

from ehr_sandbox.scopes import Granted
from ehr_sandbox.store import Context

__all__ = ["Interaction", "Refused", "Policy", "classify", "entry_interaction"]

_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_PATIENT_REF = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_PATIENT_PARAMS = ("patient", "subject", "patient:Patient", "subject:Patient")
_LETTER_FOR = {"read": "read", "search": "search", "create": "create", "update": "update",
               "delete": "delete", "operation": "read"}


class Refused(Exception):
    """The request is not let through; ``status`` is what the app gets."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status

    @property
    def insufficient_scope(self) -> bool:
        return self.status == 403


@dataclass(frozen=True)
class Interaction:
    kind: str
    resource_type: str | None = None
    resource_id: str | None = None
    conditional: bool = False
    operation: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    patch: bool = False

    @property
    def path(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"


def classify(method: str, path: str, params: Iterable[tuple[str, str]]) -> Interaction:
    """The FHIR interaction of a request to ``{fhir base}/{path}``."""
    method = method.upper()
    method = "GET" if method == "HEAD" else method
    params = tuple(params)
    parts = [p for p in path.split("/") if p]
    bad = Refused(f"{method} /{path} is not an interaction the sandbox proxies", 400)
    if not parts:
        if method == "GET" and any(k == "_getpages" for k, _ in params):
            return Interaction("page", params=params)
        if method == "GET":
            return Interaction("search", "*", params=params)
        if method == "POST":
            return Interaction("bundle")
        raise bad
    if parts[0].startswith("$") and len(parts) == 1:
        return Interaction("operation", "*", operation=parts[0], params=params)
    rtype = parts[0]
    if not _TYPE.fullmatch(rtype):
        raise bad
    rest = parts[1:]
    if not rest:
        kinds = {"GET": "search", "POST": "create", "PUT": "update", "PATCH": "update",
                 "DELETE": "delete"}
        if method not in kinds:
            raise bad
        kind = kinds[method]
        return Interaction(kind, rtype, conditional=kind in ("update", "delete"), params=params,
                           patch=method == "PATCH")
    if rest[0].startswith("$") and len(rest) == 1:
        return Interaction("operation", rtype, operation=rest[0], params=params)
    if rest[0] in ("_search", "_history") and len(rest) == 1 and method in ("GET", "POST"):
        if rest[0] == "_history" and method != "GET":
            raise bad
        return Interaction("search", rtype, params=params)
    rid = rest[0]
    if not _ID.fullmatch(rid):
        raise bad
    if len(rest) == 1:
        kinds = {"GET": "read", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
        if method not in kinds:
            raise bad
        return Interaction(kinds[method], rtype, rid, params=params, patch=method == "PATCH")
    if rest[1].startswith("$") and len(rest) == 2:
        return Interaction("operation", rtype, rid, operation=rest[1], params=params)
    if rest[1] == "_history" and len(rest) in (2, 3) and method == "GET":
        return Interaction("read", rtype, rid, params=params)
    raise bad


def entry_interaction(entry: Any, public_base: str) -> Interaction:
    """The interaction of one batch / transaction entry (its ``request``)."""
    request = entry.get("request") if isinstance(entry, dict) else None
    if not isinstance(request, dict) or not isinstance(request.get("url"), str):
        raise Refused("a Bundle entry has no request.url", 400)
    method = str(request.get("method") or "").upper()
    url = request["url"]
    if "://" in url.split("?", 1)[0]:  # a query may hold a URL (identifier=system|value)
        if not url.startswith(public_base.rstrip("/") + "/"):
            raise Refused("a Bundle entry names another server", 400)
        url = url[len(public_base.rstrip("/")) + 1:]
    parts = urlsplit(url)
    if method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        raise Refused("a Bundle entry has no usable request.method", 400)
    interaction = classify("GET" if method == "HEAD" else method, parts.path,
                           parse_qsl(parts.query, keep_blank_values=True))
    if interaction.kind in ("bundle", "page"):
        raise Refused("a Bundle entry may not nest a Bundle interaction or a page", 400)
    return interaction


def _references(resource: dict[str, Any]) -> list[str]:
    refs = []
    for name in ("subject", "patient", "for"):
        value = resource.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("reference"), str):
                refs.append(item["reference"])
    return refs


def patients_named(resource: dict[str, Any]) -> set[str]:
    """The Patient ids a resource belongs to, as far as the sandbox looks."""
    if resource.get("resourceType") == "Patient":
        return {resource["id"]} if isinstance(resource.get("id"), str) else set()
    found = set()
    for ref in _references(resource):
        match = _PATIENT_REF.search(ref.split("?")[0])
        if match:
            found.add(match.group(1))
    return found


@dataclass
class Policy:
    """The rules for one access token: its scopes, its launch context, its pages."""

    granted: Granted
    context: Context
    pages: set[str] = field(default_factory=set)

    # --- before the request ------------------------------------------------
    def mode(self, resource_type: str, interaction: str) -> str:
        """``user`` (whole type), ``patient`` (the compartment); :class:`Refused` otherwise."""
        contexts = self.granted.contexts_for(resource_type, interaction)
        if "user" in contexts:
            return "user"
        if "patient" in contexts and self.context.patient:
            return "patient"
        raise Refused(f"the granted scopes do not allow {interaction} of {resource_type}")

    def check(self, interaction: Interaction, resource: Any = None) -> list[str]:
        """Refuse what is not granted; the paths to check against the compartment first.

        ``resource`` is the body of a create or update (a dict, when JSON).
        """
        kind = interaction.kind
        if kind == "page":
            ids = {v for k, v in interaction.params if k == "_getpages"}
            if len(ids) != 1 or not ids <= self.pages:
                raise Refused("this page does not belong to a search made with this token")
            return []
        if kind == "bundle":
            raise Refused("a Bundle is checked entry by entry", 500)
        rtype = interaction.resource_type or "*"
        if kind == "read" and self._own_user(rtype, interaction.resource_id):
            return []
        mode = self.mode(rtype, _LETTER_FOR[kind])
        if mode == "user":
            return []
        patient = self.context.patient
        if kind == "read":
            if rtype == "Patient" and interaction.resource_id != patient:
                raise Refused("only the patient in context can be read")
            return []
        if kind == "search":
            self._search_names_patient(rtype, interaction.params)
            return []
        if kind == "operation":
            if rtype == "Patient" and interaction.resource_id == patient:
                return []
            raise Refused("operations are only allowed on the patient in context")
        if interaction.conditional and kind == "update" and not interaction.patch:
            self._body_in_compartment(rtype, interaction, resource)
            query = urlencode(interaction.params)
            if not query:
                raise Refused("a conditional update needs a condition", 400)
            return [f"{rtype}?{query}"]
        if interaction.conditional:
            raise Refused("conditional delete needs a user/ scope")
        if interaction.patch:
            raise Refused("PATCH needs a user/ scope")
        if kind == "create" and rtype == "Patient":
            raise Refused("creating a Patient needs a user/ scope")
        if kind in ("create", "update"):
            self._body_in_compartment(rtype, interaction, resource)
        if kind in ("update", "delete"):
            if rtype == "Patient":
                if interaction.resource_id != patient:
                    raise Refused("only the patient in context can be changed")
                return []
            return [interaction.path]
        return []

    def _own_user(self, rtype: str, rid: Any) -> bool:
        """The signed-in user's own resource, which the ``fhirUser`` scope lets the app read."""
        return ("fhirUser" in self.granted.scopes and rtype == "Practitioner"
                and bool(self.context.practitioner) and rid == self.context.practitioner)

    def _search_names_patient(self, rtype: str, params: tuple[tuple[str, str], ...]) -> None:
        patient = self.context.patient
        names = ("_id",) if rtype == "Patient" else _PATIENT_PARAMS
        values = [v for k, v in params if k in names]
        wanted = {patient, f"Patient/{patient}"} if rtype != "Patient" else {patient}
        if rtype == "*" or not values or any(
            v not in wanted and not v.endswith(f"/Patient/{patient}") for v in values
        ):
            what = "_id" if rtype == "Patient" else "patient or subject"
            raise Refused(f"a search under patient/ scopes must give {what} = the patient in context")

    def _body_in_compartment(self, rtype: str, interaction: Interaction, resource: Any) -> None:
        if not isinstance(resource, dict):
            raise Refused("the body of a write must be a JSON resource", 415)
        if resource.get("resourceType") != rtype:
            raise Refused("the body is not a resource of the type in the URL", 400)
        others = patients_named(resource) - {self.context.patient}
        if others:
            raise Refused("the resource names another patient")

    def in_compartment(self, resource: Any) -> bool:
        """For a stored resource about to be changed: not another patient's."""
        return not isinstance(resource, dict) or not (patients_named(resource) - {self.context.patient})

    # --- after the request -------------------------------------------------
    def readable(self, resource: Any) -> bool:
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            return True
        rtype = resource["resourceType"]
        if rtype in ("OperationOutcome", "Bundle") or self._own_user(rtype, resource.get("id")):
            return True
        contexts = self.granted.contexts_for(rtype, "read") | self.granted.contexts_for(rtype, "search")
        if "user" in contexts:
            return True
        if "patient" in contexts and self.context.patient:
            return not (patients_named(resource) - {self.context.patient})
        return False

    def filter_bundle(self, bundle: dict[str, Any], only: set[int] | None = None) -> int:
        """Withhold the entries' resources the token cannot read; how many were withheld.

        Searchset and history entries are dropped; batch / transaction
        response entries (only those at the positions in ``only``) keep their
        place with the resource replaced by an OperationOutcome.
        """
        entries = bundle.get("entry")
        if not isinstance(entries, list):
            return 0
        responses = bundle.get("type") in ("batch-response", "transaction-response")
        kept, withheld = [], 0
        for index, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if only is not None and index not in only:
                kept.append(entry)
                continue
            if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
                withheld += self.filter_bundle(resource)
            if self.readable(resource):
                kept.append(entry)
                continue
            withheld += 1
            if responses:
                entry = {k: v for k, v in entry.items() if k != "resource"}
                entry["response"] = {"status": "403 Forbidden", "outcome": outcome(
                    "forbidden", "withheld: outside the scopes granted to this token")}
                kept.append(entry)
        bundle["entry"] = kept
        return withheld


def outcome(code: str, text: str, severity: str = "error") -> dict[str, Any]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": text}]}
