"""Stable identities: what makes writing a response twice write it once.

The response carries a business
identifier (its own, a caller's, or one derived from questionnaire, subject
and authored time, in :data:`RESPONSE_IDENTIFIER_SYSTEM`). Each Observation's
identifier (:data:`OBSERVATION_IDENTIFIER_SYSTEM`) is a UUIDv5 of the response
identifier, the linkId path to the item (with the instance number of each
repeating group) and, for repeating questions, the answer's code (or its
position when the answer is not coded). A non-repeating item keeps its
identity whatever its value, which is what lets an ``amended`` response update
its earlier Observations instead of adding new ones.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from urllib.parse import quote

from fhir_mbt.engine.errors import ExtractionError

__all__ = [
    "OBSERVATION_IDENTIFIER_SYSTEM",
    "PROVENANCE_ID_PREFIX",
    "RESPONSE_IDENTIFIER_SYSTEM",
    "ObservationIds",
    "identifier_key",
    "identifier_search",
    "response_full_url",
    "response_identifier",
    "uuid5",
    "with_identifier",
]

OBSERVATION_IDENTIFIER_SYSTEM = "http://fhir-mbt.org/fhir/identifier/observation"
RESPONSE_IDENTIFIER_SYSTEM = "http://fhir-mbt.org/fhir/identifier/response"
PROVENANCE_ID_PREFIX = "mbt-prov-"
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "http://fhir-mbt.org/fhir")
_NAMESPACE_BYTES = _NAMESPACE.bytes
_URL_SAFE = re.compile(r"[A-Za-z0-9:/._~|-]*")


def response_identifier(response: dict, identifier: dict | str | None = None) -> dict:
    """The response's business identifier: its own, the caller's, or derived."""
    own = response.get("identifier")
    if isinstance(own, list):
        own = own[0] if own else None
    if isinstance(own, dict) and own.get("value"):
        return own
    if isinstance(identifier, str):
        return {"system": RESPONSE_IDENTIFIER_SYSTEM, "value": identifier}
    if isinstance(identifier, dict) and identifier.get("value"):
        return identifier
    basis = "|".join(
        str(x)
        for x in (
            response.get("questionnaire"),
            (response.get("subject") or {}).get("reference"),
            response.get("authored"),
            response.get("id"),
        )
    )
    if basis == "None|None|None|None":
        raise ExtractionError("the response has no identifier, id, subject or authored time to identify it by")
    return {"system": RESPONSE_IDENTIFIER_SYSTEM, "value": uuid5(basis)}


def with_identifier(response: dict, identifier: dict | str | None = None) -> dict:
    """A shallow copy of ``response`` that carries its business identifier."""
    ident = response_identifier(response, identifier)
    if response.get("identifier") == ident:
        return response
    return {**response, "identifier": ident}


def identifier_key(identifier: dict) -> str:
    """``system|value``: an identifier as one string."""
    return f"{identifier.get('system', '')}|{identifier['value']}"


def response_full_url(response: dict, identifier: dict | str | None = None) -> str:
    """The ``urn:uuid`` the response has inside a transaction (stable per identifier)."""
    return "urn:uuid:" + uuid5("response#" + identifier_key(response_identifier(response, identifier)))


def uuid5(name: str) -> str:
    """``str(uuid.uuid5(_NAMESPACE, name))``, without the cost of a UUID object."""
    return _uuid_text(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest())


#: The RFC 4122 variant digit (10xx) for each hex digit the hash gave in its place.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _uuid_text(sha1: bytes) -> str:
    """The name-based (version 5) UUID, as text, whose SHA-1 is ``sha1``."""
    h = sha1.hex()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


class ObservationIds:
    """Observation identifiers of one response: ``uuid5(f"{resp_key}#{path}#{answer_key}")``.

    A response has dozens of Observations whose names share the response
    key, so its part of the hash is computed once and copied.
    """

    __slots__ = ("_prefix",)

    def __init__(self, resp_key: str):
        self._prefix = hashlib.sha1(_NAMESPACE_BYTES + f"{resp_key}#".encode("utf-8"))

    def __call__(self, path: str, answer_key: str) -> dict:
        digest = self._prefix.copy()
        digest.update(f"{path}#{answer_key}".encode("utf-8"))
        return {"system": OBSERVATION_IDENTIFIER_SYSTEM, "value": _uuid_text(digest.digest())}


def identifier_search(identifier: dict) -> str:
    """The ``identifier=system|value`` search parameter finding a resource by this identifier."""
    key = identifier_key(identifier)
    return "identifier=" + (key if _URL_SAFE.fullmatch(key) else quote(key, safe=":/|"))
