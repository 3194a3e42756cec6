"""Requests mutated at random (hypothesis), decided by a real OPA: whatever the
mutation, the bundle decides (no error, never undefined), `valid` and `errors` agree,
and a request with errors is denied with no action looked at.  Every mutant of a
batch is decided in one `opa eval`; a failure found here becomes a corpus case
(tests/fixtures/bad-input/requests)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.opa import eval_bundle
from compiler.request import RequestDocument
from tests.conftest import QUALITY_GATES, build, load_request

pytestmark = pytest.mark.opa

BASE = load_request("01-coverage-70.json")
EXAMPLES = int(os.environ.get("REGATE_REQUEST_FUZZ_EXAMPLES", "4"))

TEXT = st.one_of(
    st.sampled_from(
        ["", " ", "deployment:create", "scope:create", "organization=1", "production",
         "organization=1:account=2", "1e400", "\u0000", "\ud800", "é", "metadata", "scope"]
    ),
    st.text(max_size=12),
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path in a document, the document's own included."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _places(item, (*path, index))
    return found


@st.composite
def mutants(draw: st.DrawFn) -> Any:
    """The example request with one to three values replaced, removed, or keys added."""
    request: Any = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_places(request)))
        if not path:
            request = draw(VALUES) if draw(st.booleans()) else request
            continue
        parent = request
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(TEXT)] = draw(VALUES)
        else:
            parent.append(draw(VALUES))
    return request


QUERY = (
    "{name: [d, valid, count(errors)] | some name, r in input.requests; "
    "d := data.regate.decision with input as r; "
    "valid := data.regate.request.valid with input as r; "
    "errors := data.regate.request.errors with input as r}"
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build([QUALITY_GATES], tmp_path_factory.mktemp("fuzz"))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(mutants(), min_size=50, max_size=50))
def test_mutated_requests_are_decided_and_never_approved_with_errors(bundle, batch):
    requests = {str(i): request for i, request in enumerate(batch)}
    text = json.dumps({"requests": requests}, ensure_ascii=True)
    found = eval_bundle(str(bundle), RequestDocument(text, None), QUERY)
    assert set(found) == set(requests), "a decision was undefined"
    for name, (decision, valid, errors) in found.items():
        assert valid == (errors == 0), (requests[name], decision)
        if errors:
            assert decision["result"] == "deny" and decision["actions"] == [], requests[name]
            assert decision["errors"], requests[name]
        else:
            assert "errors" not in decision, requests[name]
