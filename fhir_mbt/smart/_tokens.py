"""The token response, read into typed values: the tokens and the launch context.

A token response carries two things of different nature: credentials
(access, refresh and id tokens) that must never be shown or logged, and the
launch context (patient, encounter, fhirContext, UI hints) the app renders
from. :class:`TokenSet` holds both and hides the first from ``repr``.

``fhirContext`` is read in both shapes: the 2.0 list of ``{"reference"}``
and the 2.2 objects that may name a ``canonical`` or an ``identifier``
instead, with a ``type`` and a ``role`` (``launch`` when absent). A context
that does not fit is refused rather than guessed at: the app would
otherwise show or write data for the wrong thing.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

import requests

from fhir_mbt.smart._errors import MalformedTokenResponse
from fhir_mbt.smart._scopes import GrantedScopes

__all__ = ["FhirContextItem", "LaunchContext", "TokenSet", "parse_token_response"]

_TOKEN_FIELDS = {"access_token", "token_type", "expires_in", "scope", "refresh_token", "id_token"}
_CONTEXT_FIELDS = {"patient", "encounter", "fhirContext", "need_patient_banner", "smart_style_url",
                   "intent", "tenant"}


@dataclass(frozen=True)
class FhirContextItem:
    """One resource the app was launched in the context of."""

    reference: str | None = None
    canonical: str | None = None
    identifier: Mapping[str, Any] | None = None
    type: str | None = None
    role: str = "launch"

    @property
    def resource_type(self) -> str | None:
        if self.type:
            return self.type
        if self.reference and "/" in self.reference:
            return self.reference.rstrip("/").split("/")[-2]
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in asdict(self).items() if v is not None}
        if self.identifier is not None:
            out["identifier"] = dict(self.identifier)
        return out


@dataclass(frozen=True)
class LaunchContext:
    """Who and what the app was launched for, and how the EHR wants it shown."""

    patient: str | None = None
    encounter: str | None = None
    fhir_context: tuple[FhirContextItem, ...] = ()
    need_patient_banner: bool | None = None
    smart_style_url: str | None = None
    intent: str | None = None
    tenant: str | None = None
    fhir_user: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def context_for(self, role: str = "launch") -> tuple[FhirContextItem, ...]:
        return tuple(item for item in self.fhir_context if item.role == role)

    def to_dict(self) -> dict[str, Any]:
        return {
            "patient": self.patient,
            "encounter": self.encounter,
            "fhirContext": [item.to_dict() for item in self.fhir_context],
            "need_patient_banner": self.need_patient_banner,
            "smart_style_url": self.smart_style_url,
            "intent": self.intent,
            "tenant": self.tenant,
            "fhirUser": self.fhir_user,
            "extra": dict(self.extra),
        }


@dataclass(frozen=True)
class TokenSet:
    """The tokens of one launch, and the context that came with them.

    Keep it server-side (``to_dict`` gives plain JSON for a server-side
    store); its ``repr`` shows no token.
    """

    access_token: str = field(repr=False)
    token_type: str
    issuer: str
    scope: GrantedScopes
    expires_at: float | None = None
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    context: LaunchContext = field(default_factory=LaunchContext)
    issued_at: float | None = None

    def expired(self, now: float | None = None, leeway: float = 30.0) -> bool:
        """True once the access token is (or within ``leeway`` seconds will be) expired.

        The leeway is at most half the token's lifetime, so a token that
        lives less than the leeway is not refreshed on every call.
        """
        if self.expires_at is None:
            return False
        if self.issued_at is not None:
            leeway = min(leeway, max(0.0, self.expires_at - self.issued_at) / 2)
        return (time.time() if now is None else now) >= self.expires_at - leeway

    @property
    def patient(self) -> str | None:
        return self.context.patient

    @property
    def fhir_user(self) -> str | None:
        return self.context.fhir_user

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "issuer": self.issuer,
            "scope": str(self.scope),
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "id_token": self.id_token,
            "context": self.context.to_dict(),
            "issued_at": self.issued_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TokenSet":
        ctx = dict(data.get("context") or {})
        context = replace(
            _read_context(ctx, None),
            fhir_user=ctx.get("fhirUser"),
            extra=dict(ctx.get("extra") or {}),
        )
        return cls(
            access_token=data["access_token"],
            token_type=data["token_type"],
            issuer=data["issuer"],
            scope=GrantedScopes.parse(data.get("scope")),
            expires_at=data.get("expires_at"),
            refresh_token=data.get("refresh_token"),
            id_token=data.get("id_token"),
            context=context,
            issued_at=data.get("issued_at"),
        )


def _optional(body: Mapping[str, Any], name: str, kind: type, response) -> Any:
    value = body.get(name)
    if value is not None and not isinstance(value, kind):
        raise MalformedTokenResponse(f"{name} is not a {kind.__name__}", response=response)
    return value


def _context_item(raw: Any, response) -> FhirContextItem:
    if isinstance(raw, str):
        return FhirContextItem(reference=raw)
    if not isinstance(raw, dict):
        raise MalformedTokenResponse("fhirContext item is not an object", response=response)
    for name in ("reference", "canonical", "type", "role"):
        _optional(raw, name, str, response)
    identifier = _optional(raw, "identifier", dict, response)
    if not (raw.get("reference") or raw.get("canonical") or identifier):
        raise MalformedTokenResponse(
            "fhirContext item has no reference, canonical or identifier", response=response
        )
    return FhirContextItem(
        reference=raw.get("reference"),
        canonical=raw.get("canonical"),
        identifier=identifier,
        type=raw.get("type"),
        role=raw.get("role") or "launch",
    )


def _read_context(body: Mapping[str, Any], response) -> LaunchContext:
    items = body.get("fhirContext")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise MalformedTokenResponse("fhirContext is not a list", response=response)
    return LaunchContext(
        patient=_optional(body, "patient", str, response),
        encounter=_optional(body, "encounter", str, response),
        fhir_context=tuple(_context_item(item, response) for item in items),
        need_patient_banner=_optional(body, "need_patient_banner", bool, response),
        smart_style_url=_optional(body, "smart_style_url", str, response),
        intent=_optional(body, "intent", str, response),
        tenant=_optional(body, "tenant", str, response),
    )


def parse_token_response(
    body: Mapping[str, Any],
    *,
    issuer: str,
    requested_scope: str | None,
    now: float,
    response: requests.Response | None = None,
) -> TokenSet:
    """A :class:`TokenSet` from a successful token response.

    A missing ``scope`` means the requested scopes were granted (RFC 6749
    section 5.1); a missing ``expires_in`` leaves the expiry unknown.
    """
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise MalformedTokenResponse("no access_token in the token response", response=response)
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise MalformedTokenResponse("token_type is not Bearer", response=response)
    expires_in = body.get("expires_in")
    if expires_in is not None:
        if isinstance(expires_in, str) and expires_in.isdigit():
            expires_in = int(expires_in)
        if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in < 0:
            raise MalformedTokenResponse("expires_in is not a number of seconds", response=response)
    scope = _optional(body, "scope", str, response)
    extra = {k: v for k, v in body.items() if k not in _TOKEN_FIELDS | _CONTEXT_FIELDS}
    return TokenSet(
        access_token=access_token,
        token_type="Bearer",
        issuer=issuer,
        scope=GrantedScopes.parse(scope if scope is not None else requested_scope),
        expires_at=None if expires_in is None else now + float(expires_in),
        refresh_token=_optional(body, "refresh_token", str, response),
        id_token=_optional(body, "id_token", str, response),
        context=replace(_read_context(body, response), extra=extra),
        issued_at=now,
    )
