"""The report JSON validates against unskew/report/schema.json (draft 2020-12)."""

from __future__ import annotations

import copy
import json
from importlib import resources

import numpy as np
import pytest

jsonschema = pytest.importorskip("jsonschema")

import unskew  # noqa: E402
from unskew.audit import list_checks  # noqa: E402
from unskew.datasets import load_german, make_synthetic  # noqa: E402
from unskew.report import SCHEMA_VERSION, CheckResult, Report  # noqa: E402


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(resources.files("unskew.report").joinpath("schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _errors(validator, doc):
    return [f"{e.json_path}: {e.message[:200]}" for e in validator.iter_errors(doc)]


@pytest.fixture(scope="module")
def german_report():
    return unskew.audit(load_german(), target="credit", sensitive=["sex", "age_group"])


def test_german_audit_validates(validator, german_report):
    doc = json.loads(german_report.to_json())
    assert _errors(validator, doc) == []
    assert doc["schema_version"] == SCHEMA_VERSION
    assert [c["name"] for c in doc["checks"]] == list_checks()


def test_synthetic_audit_with_exclusions_compare_reference_validates(validator):
    df = make_synthetic(1500, random_state=3)
    df.loc[:40, "y"] = np.nan  # excluded rows
    df.loc[100:400, "num_1"] = np.nan  # group-blind missingness
    cmp = make_synthetic(800, random_state=4)
    cmp["num_0"] += 0.7  # a shift for the shift check, when it is registered
    rep = unskew.audit(df, target="y", sensitive="sex,race", compare=cmp,
                       reference={"sex": {"female": 0.5, "male": 0.5}})
    doc = json.loads(rep.to_json())
    assert _errors(validator, doc) == []
    assert doc["dataset"]["excluded_rows"] == {"target is missing": 41}
    assert doc["dataset"]["n_rows_read"] - doc["dataset"]["n_rows"] == 41


def test_skipped_and_error_checks_validate(validator):
    df = make_synthetic(500, random_state=0)
    rep = unskew.audit(df.drop(columns=["sex", "race"]), target="y")  # no sensitive: some skip
    doc = json.loads(rep.to_json())
    assert _errors(validator, doc) == []
    assert any(c["status"] == "skipped" for c in doc["checks"])
    err = CheckResult(name="boom", title="Boom", status="error", summary={"traceback": "x"})
    doc = Report(kind="evaluate", checks=[err]).to_dict()
    assert _errors(validator, json.loads(json.dumps(doc))) == []


def test_adult_audit_validates(validator, data_home):
    from unskew.datasets import load_adult

    df = load_adult(split="test", data_home=data_home).sample(2000, random_state=0)
    rep = unskew.audit(df, target="income", sensitive=["sex", "race"], ignore=["split"])
    assert _errors(validator, json.loads(rep.to_json())) == []


def test_schema_rejects_broken_reports(validator, german_report):
    good = json.loads(german_report.to_json())

    def broken(mutate):
        doc = copy.deepcopy(good)
        mutate(doc)
        return _errors(validator, doc)

    assert broken(lambda d: d.update(status="error"))  # a report's status is pass/warn/fail
    assert broken(lambda d: d["checks"][0].update(status="ok"))
    assert broken(lambda d: d["checks"][0].pop("findings"))
    assert broken(lambda d: d.update(schema_version="2.0"))
    assert broken(lambda d: d["dataset"].pop("excluded_rows"))
    assert broken(lambda d: d["dataset"]["excluded_rows"].update({"target is missing": -1}))
    assert broken(lambda d: d["checks"][0]["findings"].append({"message": "m", "severity": "bad"}))

    def long_sample(d):
        d["checks"][0]["tables"].append({"title": "s", "columns": ["a"], "rows": [[i] for i in range(21)],
                                         "is_sample": True, "n_rows_total": 21})

    assert broken(long_sample)

    def long_table(d):  # a non-sample table may be longer
        d["checks"][0]["tables"].append({"title": "s", "columns": ["a"], "rows": [[i] for i in range(21)],
                                         "is_sample": False, "n_rows_total": 21})

    assert not broken(long_table)


def test_schema_requires_every_key_the_models_write(validator):
    """Keep the schema and the dataclasses in step: every key written is described."""
    schema = validator.schema
    check_keys = set(CheckResult(name="x", title="x").to_dict())
    assert check_keys == set(schema["$defs"]["check"]["required"])
    report_keys = set(Report(kind="audit", checks=[]).to_dict())
    assert report_keys == set(schema["required"])
