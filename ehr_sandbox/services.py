"""The sandbox's parts, built once per app from its config and shared by the views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import requests

from flask import current_app

from ehr_sandbox.config import Client, read_clients
from ehr_sandbox.keys import SigningKey
from ehr_sandbox.store import Store
from ehr_sandbox.upstream import Upstream

__all__ = ["Sandbox", "sandbox"]


@dataclass
class Sandbox:
    public_base: str
    app_launch_url: str
    portal_launch_url: str
    clients: dict[str, Client]
    token_lifetime: int
    key: SigningKey
    store: Store
    upstream: Upstream
    cds_base: str | None = None
    cds_timeout: Any = (3.0, 10.0)
    cds_session: requests.Session = field(default_factory=requests.Session)

    @property
    def fhir_base(self) -> str:
        """The FHIR base apps are launched with (``iss`` and ``aud``)."""
        return f"{self.public_base}/fhir"

    @property
    def issuer(self) -> str:
        """The ``iss`` of id_tokens, as published in the SMART configuration."""
        return self.public_base

    def url(self, path: str) -> str:
        return f"{self.public_base}{path}"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Sandbox":
        public_base = str(config["SANDBOX_PUBLIC_BASE"]).rstrip("/")
        lifetime = int(config["SANDBOX_TOKEN_LIFETIME"])
        if lifetime <= 0:
            raise ValueError("SANDBOX_TOKEN_LIFETIME must be a positive number of seconds")
        return cls(
            public_base=public_base,
            app_launch_url=str(config["SANDBOX_APP_LAUNCH_URL"]),
            portal_launch_url=str(config.get("SANDBOX_PORTAL_LAUNCH_URL")
                                  or str(config["SANDBOX_APP_LAUNCH_URL"]).rsplit("/", 1)[0] + "/portal/launch"),
            clients=read_clients(config["SANDBOX_CLIENTS"]),
            token_lifetime=lifetime,
            key=SigningKey(config.get("SANDBOX_SIGNING_KEY")),
            store=config.get("SANDBOX_STORE") or Store(),
            upstream=Upstream(str(config["SANDBOX_UPSTREAM"]), f"{public_base}/fhir",
                              timeout=config["SANDBOX_UPSTREAM_TIMEOUT"]),
            cds_base=str(config["SANDBOX_CDS_SERVICES"]).rstrip("/") if config.get("SANDBOX_CDS_SERVICES") else None,
            cds_timeout=config.get("SANDBOX_CDS_TIMEOUT", (3.0, 10.0)),
        )


def sandbox() -> Sandbox:
    return current_app.extensions["ehr_sandbox"]
