"""A launch from the risk card: the card's appContext marks the follow-ups it is about."""

import json

import pytest

from smart_app.app_context import card_records


def test_records_named_by_the_card_are_read_in_order_without_repeats():
    ctx = json.dumps({"records": ["QuestionnaireResponse/a1", "QuestionnaireResponse/b-2", "QuestionnaireResponse/a1"]})
    assert card_records(ctx) == ["a1", "b-2"]


@pytest.mark.parametrize("ctx", [
    None, "", "not json", "[]", json.dumps({"records": "QuestionnaireResponse/a"}),
    json.dumps({"records": ["Patient/a", "QuestionnaireResponse/../x", "QuestionnaireResponse/a b", 7]}),
    json.dumps({"records": ["QuestionnaireResponse/" + "a" * 65]}),
    "x" * 5000,
])
def test_anything_else_names_no_record(ctx):
    assert card_records(ctx) == []
