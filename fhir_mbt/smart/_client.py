"""The SMART App Launch client: one object per registered app, no state per user.

Everything a user's launch needs between steps travels through the caller:
:meth:`SmartClient.authorize` returns a URL and a
:class:`PendingAuthorization` to store server-side; :meth:`SmartClient.complete`
takes it back with the redirect's parameters and returns a :class:`TokenSet`
to store server-side; :meth:`SmartClient.refresh` takes that and returns the
next one. What the client does keep is shared and public: discovered
configurations and signing keys, each for a while.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Iterable, Mapping, Sequence

import requests

from fhir_mbt.smart._authorize import PendingAuthorization, authorization_request, read_callback
from fhir_mbt.smart._client_auth import ClientAuth, PublicClient, choose_client_auth
from fhir_mbt.smart._discovery import SmartConfiguration, discover
from fhir_mbt.smart._errors import DiscoveryError, IdTokenInvalid
from fhir_mbt.smart._http import DEFAULT_TIMEOUT
from fhir_mbt.smart._id_token import IdTokenClaims, JwksCache, verify_id_token, verify_refreshed_id_token
from fhir_mbt.smart._issuers import IssuerAllowlist
from fhir_mbt.smart._scopes import scope_string
from fhir_mbt.smart._token_endpoint import exchange_code, refresh_tokens
from fhir_mbt.smart._tokens import TokenSet

__all__ = ["SmartClient"]

log = logging.getLogger("fhir_mbt.smart")


class SmartClient:
    """SMART App Launch 2.x, client side, for one registered app.

    ``issuers`` is the allowlist of FHIR base URLs; ``client_auth`` defaults to
    a public client. ``clock`` and ``session`` are injectable for tests.
    """

    def __init__(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        scope: str | Iterable[str],
        issuers: IssuerAllowlist | Iterable[str],
        client_auth: ClientAuth | Sequence[ClientAuth] | None = None,
        session: requests.Session | None = None,
        timeout: Any = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
        discovery_ttl: float = 3600.0,
        pending_max_age: float = 600.0,
        id_token_leeway: float = 30.0,
        assume_s256_on_fallback: bool = False,
    ):
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scope = scope if isinstance(scope, str) else scope_string(scope)
        self.issuers = issuers if isinstance(issuers, IssuerAllowlist) else IssuerAllowlist(issuers)
        if client_auth is None:
            client_auth = PublicClient(client_id)
        auths = tuple(client_auth) if isinstance(client_auth, (list, tuple)) else (client_auth,)
        if not auths or any(a.client_id != client_id for a in auths):
            raise ValueError("client_auth is for another client_id")
        #: The methods the app can use, in order of preference; each server's advertised
        #: methods pick one (see :meth:`auth_for`).
        self.client_auths = auths
        self.client_auth = auths[0]
        if timeout is None:
            raise ValueError("a timeout is required")
        self.timeout = timeout
        self._session = session if session is not None else requests.Session()
        self._clock = clock
        self._discovery_ttl = discovery_ttl
        self._pending_max_age = pending_max_age
        self._leeway = id_token_leeway
        self._assume_s256 = assume_s256_on_fallback
        self._configs: dict[str, tuple[float, SmartConfiguration]] = {}
        self._lock = threading.Lock()
        self._jwks = JwksCache(self._session, timeout, clock=clock)

    def __repr__(self) -> str:
        return f"SmartClient(client_id={self.client_id!r}, auth={self.client_auth.method!r})"

    def discover(self, iss: str) -> SmartConfiguration:
        """The configuration of an allowed issuer (cached for ``discovery_ttl``)."""
        base = self.issuers.check(iss)
        now = self._clock()
        with self._lock:
            cached = self._configs.get(base)
        if cached and now - cached[0] <= self._discovery_ttl:
            return cached[1]
        config = discover(base, self._session, self.timeout,
                          assume_s256_on_fallback=self._assume_s256)
        self._check_client_auth(config)
        with self._lock:
            self._configs[base] = (now, config)
        return config

    def auth_for(self, config: SmartConfiguration) -> ClientAuth:
        """The client authentication to use with this server: the first it advertises."""
        return choose_client_auth(self.client_auths, config.token_endpoint_auth_methods_supported or ())

    def _check_client_auth(self, config: SmartConfiguration) -> None:
        methods = config.token_endpoint_auth_methods_supported
        auth = self.auth_for(config)
        method = auth.method
        if methods and method != "none" and method not in methods:
            raise DiscoveryError(f"the server does not accept {method} client authentication")
        algs = config.token_endpoint_auth_signing_alg_values_supported
        alg = getattr(auth, "alg", None)
        if method == "private_key_jwt" and algs and alg not in algs:
            raise DiscoveryError(f"the server does not accept {alg} client assertions")

    def authorize(
        self, iss: str, *, launch: str | None = None, scope: str | Iterable[str] | None = None
    ) -> tuple[str, PendingAuthorization]:
        """Start a launch: the authorize URL to redirect to, and the record to keep.

        ``launch`` is the opaque value of an EHR launch (omit it for a
        standalone launch). The issuer is checked before any request is made.
        """
        config = self.discover(iss)
        wanted = self.scope if scope is None else (scope if isinstance(scope, str) else scope_string(scope))
        url, pending = authorization_request(
            config,
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            scope=wanted,
            launch=launch,
            now=self._clock(),
        )
        log.info("authorization started for %s (%s launch)", config.fhir_base,
                 "EHR" if launch is not None else "standalone")
        return url, pending

    def complete(
        self, pending: PendingAuthorization | None, params: Mapping[str, str]
    ) -> TokenSet:
        """Finish a launch from the redirect's query parameters.

        ``pending`` is what the caller's store popped for this session and
        state (``None`` if nothing was there). The code is exchanged, and an
        id_token, if any, is verified; its ``fhirUser`` goes into the context.
        """
        code = read_callback(pending, params, now=self._clock(), max_age=self._pending_max_age)
        config = self.discover(pending.iss)
        tokens = exchange_code(
            config,
            self.auth_for(config),
            code=code,
            redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier,
            requested_scope=pending.scope,
            session=self._session,
            timeout=self.timeout,
            now=self._clock(),
        )
        return self._with_identity(tokens, config)

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """The next token set, from the refresh token of ``tokens``."""
        config = self.discover(tokens.issuer)
        fresh = refresh_tokens(config, self.auth_for(config), tokens, session=self._session,
                               timeout=self.timeout, now=self._clock())
        if fresh.id_token and fresh.id_token != tokens.id_token:
            fresh = self._refreshed_identity(tokens, fresh, config)
        log.info("token refreshed for %s", tokens.issuer)
        return fresh

    def _refreshed_identity(self, old: TokenSet, fresh: TokenSet, config: SmartConfiguration) -> TokenSet:
        """``fresh`` with the identity of ``old``: a refreshed id_token never costs the access token.

        One that verifies (leniently) is kept; one that does not is dropped
        with a warning, and the first id_token stays.
        """
        kept = replace(fresh, context=replace(fresh.context, fhir_user=old.context.fhir_user))
        try:
            claims = verify_refreshed_id_token(fresh.id_token, config, client_id=self.client_id,
                                               jwks=self._jwks)
        except (IdTokenInvalid, DiscoveryError) as exc:
            log.warning("refreshed id_token not used (%s); keeping the identity of the launch", exc)
            return replace(kept, id_token=old.id_token)
        user = claims.get("fhirUser") or claims.get("profile")
        if user and old.context.fhir_user and user != old.context.fhir_user:
            log.warning("refreshed id_token names another user; keeping the identity of the launch")
            return replace(kept, id_token=old.id_token)
        return kept

    def verify_id_token(self, id_token: str, config: SmartConfiguration) -> IdTokenClaims:
        return verify_id_token(id_token, config, client_id=self.client_id, jwks=self._jwks,
                               now=self._clock(), leeway=self._leeway)

    def _with_identity(self, tokens: TokenSet, config: SmartConfiguration) -> TokenSet:
        if not tokens.id_token:
            if tokens.scope.has_openid:
                log.info("openid granted but no id_token returned")
            return tokens
        claims = self.verify_id_token(tokens.id_token, config)
        if claims.fhir_user is None and "fhirUser" in tokens.scope:
            log.warning("fhirUser was granted but the id_token has no fhirUser claim")
        return replace(tokens, context=replace(tokens.context, fhir_user=claims.fhir_user))
