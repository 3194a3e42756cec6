"""`regate playground` as a person uses it: the page in a real headless Chromium, the
server as its own process, decisions by the real OPA."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.editor.conftest import Served, Visit

pytestmark = pytest.mark.opa

DECIDE_TIMEOUT = 30_000  # ms: a compilation and an `opa eval` on a shared machine


def regions(page: Page) -> tuple[Any, Any, Any]:
    return (
        page.get_by_role("region", name="sources"),
        page.get_by_role("region", name="request"),
        page.get_by_role("region", name="decision"),
    )


def test_the_page_starts_with_the_example_and_its_decision(
    scripted: Visit, playground: type[Served]
) -> None:
    server = playground()
    page = scripted.page
    page.goto(server.url)
    sources, request, decision = regions(page)
    expect(sources.get_by_role("textbox", name="policies.rg")).to_contain_text(
        'policy "Code Coverage"'
    )
    expect(request.get_by_role("combobox", name="Sample request")).to_have_value("0")
    expect(decision.get_by_role("heading", level=3).first).to_have_text(
        "⚠ Manual approval required"
    )
    expect(decision.get_by_label("explanation")).to_contain_text(
        "build.metadata.coverage.code.coverage is 70, needs ≥ 80 (policies.rg:8)"
    )
    # Everything the page loads comes from the playground itself.
    assert all(url.startswith(server.url) for url in scripted.requests), scripted.requests


def test_an_edit_to_a_policy_updates_the_decision(
    scripted: Visit, playground: type[Served]
) -> None:
    server = playground()
    page = scripted.page
    page.goto(server.url)
    sources, _request, decision = regions(page)
    policies = sources.get_by_role("textbox", name="policies.rg")
    text = policies.input_value()
    policies.fill(text.replace('{"$gte": 80}', '{"$gte": 60}'))
    headline = decision.locator(".headline")
    expect(headline).to_have_text("✓ Approved", timeout=DECIDE_TIMEOUT)
    expect(decision.get_by_label("Rego changes")).to_contain_text("+", timeout=DECIDE_TIMEOUT)
    expect(decision.get_by_label("Rego changes")).to_contain_text("60")

    # A syntax error: diagnostics, and no decision (never the last one).  What the page
    # shows the moment the edit is made, read by a listener that runs after the page's own:
    policies.evaluate(
        """(area) => area.addEventListener("input", () => {
            window.shownAfterEdit = document.getElementById("decision-body").textContent;
        })"""
    )
    policies.fill(text.replace('{"$gte": 80}', '{"$gte": }'))
    assert page.evaluate("window.shownAfterEdit") == ""  # the approval is gone at once
    expect(headline).to_have_text("✗ No decision", timeout=DECIDE_TIMEOUT)
    expect(decision.get_by_label("diagnostics")).to_contain_text("error[RG002]")
    expect(decision.get_by_label("diagnostics")).to_contain_text("policies.rg:8:")


def test_an_edit_to_the_request_updates_the_decision(
    scripted: Visit, playground: type[Served]
) -> None:
    server = playground()
    page = scripted.page
    page.goto(server.url)
    _sources, request, decision = regions(page)
    request.get_by_role("combobox", name="Sample request").select_option(
        label="requests/04-leaked-secret.json"
    )
    headline = decision.locator(".headline")
    expect(headline).to_have_text("✗ Denied", timeout=DECIDE_TIMEOUT)
    editor = request.get_by_role("textbox", name="Request JSON")
    editor.fill(editor.input_value() + "}")
    expect(headline).to_have_text("✗ No decision", timeout=DECIDE_TIMEOUT)
    expect(decision.get_by_label("diagnostics")).to_contain_text("the request is not valid JSON")


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url + "api/evaluate", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_server_refuses_what_it_should_not_run(playground: type[Served]) -> None:
    server = playground()
    assert server.url.startswith("http://127.0.0.1:")
    json_type = {"Content-Type": "application/json"}
    status, answer = post(
        server.url, json.dumps({"sources": {"../x.rg": ""}, "request": "{}"}).encode(), json_type
    )
    assert (status, answer) == (400, {"error": "not a source of this playground: ../x.rg"})
    status, _ = post(server.url, b"{}", json_type)
    assert status == 400
    try:  # refused before it is read: the client may see the answer, or the closed socket
        status, _ = post(server.url, b"x" * (1 << 21), json_type)
        assert status == 413
    except (ConnectionResetError, BrokenPipeError, urllib.error.URLError):
        pass
    status, _ = post(server.url, b"{}", {"Content-Type": "text/plain"})
    assert status == 415
    status, _ = post(server.url, b"{}", {**json_type, "Origin": "http://example.com"})
    assert status == 403
    # A good request decides with the sources on disk.
    body = {
        "sources": {},
        "request": json.dumps({"action": "scope:create", "nrn": "organization=1", "entities": {}}),
    }
    status, answer = post(server.url, json.dumps(body).encode(), json_type)
    assert status == 200 and answer["decision"]["result"] == "approve"
