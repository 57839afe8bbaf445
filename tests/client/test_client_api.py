"""The public face of fhir_mbt.client: pinned, and every error under one root."""

import inspect

import fhir_mbt.client as client
from fhir_mbt.errors import FhirMbtError


def test_exported_names_are_pinned():
    assert sorted(client.__all__) == sorted([
        "FhirClient", "DEFAULT_TIMEOUT", "FHIR_JSON", "Auth", "BearerAuth", "TokenHolder",
        "WriteResult", "RetryPolicy", "FhirError", "TransportError", "Timeout", "Unauthorized",
        "Forbidden", "ResourceNotFound", "ResourceGone", "VersionConflict", "InvalidResource",
        "RequestRejected", "RateLimited", "ServerError", "MalformedResponse", "PageLimitExceeded",
        "PartialWrite", "ServerWrites", "write_bundle", "TRANSACTION", "CONDITIONAL", "SEARCH",
    ])
    assert all(hasattr(client, name) for name in client.__all__)


def test_every_error_derives_from_fhir_error_and_the_root():
    errors = [getattr(client, n) for n in client.__all__
              if inspect.isclass(getattr(client, n)) and issubclass(getattr(client, n), Exception)]
    assert len(errors) == 15
    assert all(issubclass(e, client.FhirError) and issubclass(e, FhirMbtError) for e in errors)


def test_error_tree_is_drawn_in_the_errors_module():
    from fhir_mbt.client import _errors
    for name in _errors.__all__:
        if name[0].isupper():
            assert name in _errors.__doc__


def test_bearer_auth_satisfies_the_auth_protocol():
    assert isinstance(client.BearerAuth(object()), client.Auth)


def test_client_imports_no_flask():
    import subprocess
    import sys
    code = "import sys, fhir_mbt.client, fhir_mbt.smart; print('flask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
