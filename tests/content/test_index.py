"""Loading and looking up definitions by canonical URL."""

from __future__ import annotations

import json

import pytest

import minicontent as mc
from fhir_mbt.content import ContentIndex, load_manifest, split_canonical
from fhir_mbt.errors import ContentError, ContentNotFound


@pytest.fixture
def index(tmp_path):
    return ContentIndex.from_folder(mc.write(tmp_path / "c"))


def test_lookup_by_url_and_version(index):
    url = f"{mc.BASE}/Questionnaire/demo"
    assert index.get(url)["id"] == "demo"
    assert index.get(url, "1.0.0")["id"] == "demo"
    assert index.get(f"{url}|1.0.0")["id"] == "demo"
    with pytest.raises(ContentNotFound) as info:
        index.get(url, "2.0.0")
    assert isinstance(info.value, LookupError) and "2.0.0" in str(info.value)
    assert index.find(f"{mc.BASE}/Questionnaire/none") is None


def test_lookup_by_type_and_id(index):
    assert index.by_id("ObservationDefinition", "score")["code"]["coding"][0]["code"] == "score"
    with pytest.raises(ContentNotFound):
        index.by_id("ObservationDefinition", "nope")


def test_expand_is_a_filter_skips_abstract_parent(index):
    codes = [c["code"] for c in index.expand(f"{mc.BASE}/ValueSet/modes")]
    assert codes == ["pretend", "teleological"]


def test_expand_carries_ordinal_weights(tmp_path):
    def change(files):
        files["ValueSet-modes.json"]["compose"]["include"][0] = {
            "system": mc.CS,
            "concept": [
                {
                    "code": "pretend",
                    "extension": [
                        {"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 0}
                    ],
                },
                {"code": "teleological"},
            ],
        }

    index = ContentIndex.from_folder(mc.write(tmp_path / "c", mc.variant(change)))
    expansion = index.expand(f"{mc.BASE}/ValueSet/modes")
    assert expansion[0] == {"system": mc.CS, "code": "pretend", "display": "Pretend mode", "weight": 0}
    assert "weight" not in expansion[1]


def test_split_canonical():
    assert split_canonical("http://x/ValueSet/a|1.0") == ("http://x/ValueSet/a", "1.0")
    assert split_canonical("http://x/ValueSet/a") == ("http://x/ValueSet/a", None)


def test_broken_json_is_a_content_error(tmp_path):
    folder = mc.write(tmp_path / "c")
    (folder / "ValueSet-broken.json").write_text("{not json")
    with pytest.raises(ContentError, match="ValueSet-broken.json"):
        ContentIndex.from_folder(folder)


def test_non_resource_json_is_a_content_error(tmp_path):
    folder = mc.write(tmp_path / "c")
    (folder / "ValueSet-list.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ContentError, match="no resourceType"):
        ContentIndex.from_folder(folder)


def test_manifest_errors(tmp_path):
    with pytest.raises(ContentError, match="not found"):
        load_manifest(tmp_path)
    (tmp_path / "package.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ContentError, match="malformed"):
        load_manifest(tmp_path)


def test_the_content_package_exports_the_index_names():
    import fhir_mbt.content as content

    assert sorted(content.__all__) == ["ContentIndex", "LoadedResource", "Manifest", "definitions_dir",
                                       "load_manifest", "resource_files", "shipped", "split_canonical"]
    assert all(hasattr(content, name) for name in content.__all__)
