"""The example compiled from regate sources and from the API's JSON payloads decides alike."""

from __future__ import annotations

import pytest

from compiler.opa import eval_bundle
from tests.conftest import QUALITY_GATES, REPO, REQUESTS, build, load_request

pytestmark = pytest.mark.opa


def test_regate_sources_and_api_payloads_give_the_same_decisions(tmp_path):
    (tmp_path / "rg").mkdir()
    (tmp_path / "api").mkdir()
    from_sources = build([QUALITY_GATES], tmp_path / "rg")
    from_payloads = build([REPO / "bundles" / "quality-gates-api"], tmp_path / "api")
    requests = sorted(p.name for p in REQUESTS.glob("*.json"))
    assert len(requests) == 6
    for name in requests:
        request = load_request(name)
        left, right = (
            eval_bundle(str(from_sources), request),
            eval_bundle(str(from_payloads), request),
        )
        assert without_locations(left) == without_locations(right), name


def without_locations(decision: dict) -> dict:
    """The decision minus what names the source files, which differ between the two forms."""
    return {
        "result": decision["result"],
        "actions": [
            {
                **action,
                "policies": [
                    {k: v for k, v in p.items() if k != "source"} for p in action["policies"]
                ],
            }
            for action in decision["actions"]
        ],
    }
