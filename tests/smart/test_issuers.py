"""The issuer allowlist and its normal form."""

import pytest

from fhir_mbt.smart import IssuerAllowlist, IssuerNotAllowed, normalize_issuer


@pytest.mark.parametrize("given", [
    "https://ehr.example/fhir", "https://ehr.example/fhir/", "HTTPS://EHR.Example/fhir",
    "https://ehr.example:443/fhir", " https://ehr.example/fhir// ",
])
def test_spellings_of_one_issuer_are_equal(given):
    assert normalize_issuer(given) == "https://ehr.example/fhir"


def test_path_case_and_port_matter():
    assert normalize_issuer("https://ehr.example/FHIR") != normalize_issuer("https://ehr.example/fhir")
    assert normalize_issuer("https://ehr.example:8443/fhir") == "https://ehr.example:8443/fhir"


@pytest.mark.parametrize("bad", [
    "ftp://ehr.example/fhir", "ehr.example/fhir", "https://user:pw@ehr.example/fhir",
    "https://ehr.example/fhir?x=1", "https://ehr.example/fhir#f", "https:///fhir", "https://h:99999/",
])
def test_non_issuers_are_refused(bad):
    with pytest.raises(ValueError):
        normalize_issuer(bad)


def test_check_returns_the_configured_form():
    allow = IssuerAllowlist(["https://ehr.example/fhir/"])
    assert allow.check("https://EHR.example/fhir") == "https://ehr.example/fhir"
    assert "https://ehr.example/fhir/" in allow
    assert "https://ehr.example/fhir2" not in allow
    assert list(allow) == ["https://ehr.example/fhir"]


@pytest.mark.parametrize("iss", [None, "", "https://evil.example/fhir", "https://ehr.example/fhir/../x",
                                 "https://ehr.example.evil.example/fhir", "javascript:alert(1)"])
def test_unlisted_or_unusable_iss_is_refused(iss):
    with pytest.raises(IssuerNotAllowed):
        IssuerAllowlist(["https://ehr.example/fhir"]).check(iss)


def test_http_only_for_loopback():
    assert IssuerAllowlist(["http://localhost:8080/fhir", "http://127.0.0.1/fhir", "http://[::1]:9/f"])
    with pytest.raises(ValueError):
        IssuerAllowlist(["http://ehr.example/fhir"])


def test_empty_allowlist_is_a_configuration_error():
    with pytest.raises(ValueError):
        IssuerAllowlist([])
