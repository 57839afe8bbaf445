"""The sandbox playing a lesser EHR: scopes granted in v1 syntax or read-only, capabilities withheld."""

import pytest
from flask import Flask

from ehr_sandbox import limits
from ehr_sandbox.access import Refused

ASKED = ["launch", "openid", "patient/Patient.r", "patient/QuestionnaireResponse.crus", "patient/Provenance.cu"]


def under(*names):
    app = Flask(__name__)
    app.config["SANDBOX_LIMITS"] = names
    return app.app_context()


def test_v1_scopes():
    with under("v1-scopes"):
        assert limits.grant_scopes(ASKED) == [
            "launch", "openid", "patient/Patient.read", "patient/QuestionnaireResponse.read",
            "patient/QuestionnaireResponse.write", "patient/Provenance.write"]


def test_read_only_scopes():
    with under("read-only"):
        assert limits.grant_scopes(ASKED) == ["launch", "openid", "patient/Patient.r",
                                              "patient/QuestionnaireResponse.rs"]


def test_capability_without_transactions_or_conditional_create():
    capability = {"rest": [{"interaction": [{"code": "transaction"}, {"code": "batch"}],
                            "resource": [{"type": "Observation", "conditionalCreate": True}]}]}
    with under("no-transaction", "no-conditional-create"):
        limits.limit_capability(capability)
        with pytest.raises(Refused) as info:
            limits.check_request("POST", "", [], {}, {"resourceType": "Bundle", "type": "transaction"})
        assert info.value.status == 405
        with pytest.raises(Refused):
            limits.check_request("POST", "Observation", [], {"If-None-Exist": "identifier=a|b"}, {})
        with pytest.raises(Refused):
            limits.check_request("PUT", "Observation", [("identifier", "a|b")], {}, {})
        limits.check_request("PUT", "Observation/1", [], {}, {})
    assert capability["rest"][0]["interaction"] == [{"code": "batch"}]
    assert capability["rest"][0]["resource"][0]["conditionalCreate"] is False


def test_unknown_limits_are_refused():
    with under("no-such-thing"), pytest.raises(ValueError):
        limits.active()
