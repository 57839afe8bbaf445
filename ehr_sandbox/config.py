"""The sandbox's settings: defaults, and the registered clients read into one shape.

Flask config keys (all optional except where a default cannot do):

SANDBOX_UPSTREAM         FHIR base URL of the real server behind the proxy (HAPI)
SANDBOX_PUBLIC_BASE      where the sandbox itself is reached, e.g. http://127.0.0.1:9090;
                         its FHIR base (the ``iss`` apps are launched with) is this + /fhir
SANDBOX_APP_LAUNCH_URL   the launch URL offered on the launch page
SANDBOX_PORTAL_LAUNCH_URL the app's patient-portal launch URL (the portal page launches it)
SANDBOX_CLIENTS          {client_id: {"redirect_uris": [...], "secret": "...",
                         "scopes": [...]}}; secret makes the client confidential,
                         scopes limits what it can be granted (default: all supported)
SANDBOX_TOKEN_LIFETIME   seconds an access token lives
SANDBOX_SIGNING_KEY      RSA private key for id_tokens; generated at start when absent
SANDBOX_UPSTREAM_TIMEOUT (connect, read) seconds for requests to the upstream server
SANDBOX_CDS_SERVICES     base URL of a CDS Hooks service provider (its /cds-services is called
                         when a chart is opened); none by default
SANDBOX_CDS_TIMEOUT      (connect, read) seconds the chart waits for a CDS service
SANDBOX_LIMITS           what this EHR does not take: no-transaction, no-conditional-create,
                         v1-scopes, read-only (see ``limits``); default none
SANDBOX_STORE            an :class:`ehr_sandbox.store.Store` to use (tests pass one
                         with a fake clock); a fresh one otherwise
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["DEFAULTS", "SUPPORTED_SCOPES", "Client", "read_clients"]

#: What a client may be granted unless its registration says less.
SUPPORTED_SCOPES = (
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "online_access",
    "offline_access",
    "patient/*.cruds",
    "user/*.cruds",
)

DEFAULTS: dict[str, Any] = {
    "SANDBOX_UPSTREAM": "http://127.0.0.1:8080/fhir",
    "SANDBOX_PUBLIC_BASE": "http://127.0.0.1:9090",
    "SANDBOX_APP_LAUNCH_URL": "http://127.0.0.1:5000/launch",
    "SANDBOX_PORTAL_LAUNCH_URL": "http://127.0.0.1:5000/portal/launch",
    "SANDBOX_CLIENTS": {
        "fhir-mbt": {"redirect_uris": ["http://127.0.0.1:5000/callback"]},
    },
    "SANDBOX_TOKEN_LIFETIME": 3600,
    "SANDBOX_SIGNING_KEY": None,
    "SANDBOX_UPSTREAM_TIMEOUT": (5.0, 60.0),
    "SANDBOX_CDS_SERVICES": None,
    "SANDBOX_CDS_TIMEOUT": (3.0, 10.0),
    "SANDBOX_LIMITS": (),
}


@dataclass(frozen=True)
class Client:
    """A registered app: where codes may be sent and what it may be granted."""

    client_id: str
    redirect_uris: tuple[str, ...]
    secret: str | None = None
    scopes: tuple[str, ...] = SUPPORTED_SCOPES

    @property
    def confidential(self) -> bool:
        return self.secret is not None

    def __repr__(self) -> str:
        return f"Client({self.client_id!r}, confidential={self.confidential})"


def read_clients(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, Client]:
    """The client registry from plain config; ValueError when an entry is unusable."""
    clients: dict[str, Client] = {}
    for client_id, entry in raw.items():
        uris = entry.get("redirect_uris") or ()
        if isinstance(uris, str):
            uris = (uris,)
        if not client_id or not uris:
            raise ValueError(f"client {client_id!r} needs at least one redirect URI")
        scopes = entry.get("scopes")
        clients[client_id] = Client(
            client_id=client_id,
            redirect_uris=tuple(uris),
            secret=entry.get("secret") or None,
            scopes=tuple(scopes.split() if isinstance(scopes, str) else scopes)
            if scopes else SUPPORTED_SCOPES,
        )
    if not clients:
        raise ValueError("no client is registered")
    return clients
