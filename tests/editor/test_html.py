"""The HTML renderer reads decisions defensively: what a newer bundle adds is shown, what
it cannot read is shown as it is, and markup in a value is text, never markup."""

from __future__ import annotations

from html.parser import HTMLParser

from compiler.editor.html import condition_rows, decision_page, decision_view, render_page

DECISION = {
    "result": "manual",
    "revision": "abc",
    "actions": [
        {
            "id": "prod",
            "action": "deployment:create",
            "nrn": "organization=1",
            "dimensions": {"environment": "production"},
            "result": "manual",
            "policies": [
                {
                    "name": "Release",
                    "source": "policies.rg:30",
                    "passed": False,
                    "failures": [
                        {
                            "operator": "$or",
                            "source": "policies.rg:33",
                            "clauses": [
                                [
                                    {
                                        "path": "build.metadata.git.branch",
                                        "operator": "$eq",
                                        "expected": "main",
                                        "actual": "feature/x",
                                        "source": "policies.rg:33",
                                    }
                                ],
                                [
                                    {
                                        "path": "build.metadata.git.tag",
                                        "operator": "$exists",
                                        "expected": True,
                                        "missing": True,
                                        "source": "policies.rg:34",
                                    }
                                ],
                            ],
                        }
                    ],
                }
            ],
        }
    ],
}


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def text_of(html: str) -> tuple[str, list[str]]:
    parser = Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split()), parser.tags


def test_nested_logic_becomes_indented_rows() -> None:
    failure = DECISION["actions"][0]["policies"][0]["failures"][0]  # type: ignore[index]
    assert [(r.depth, r.path, r.actual, r.expected, r.note) for r in condition_rows(failure)] == [
        (0, "", "", "", "no clause of $or holds"),
        (1, "", "", "", "clause 1"),
        (2, "build.metadata.git.branch", '"feature/x"', '= "main"', ""),
        (1, "", "", "", "clause 2"),
        (2, "build.metadata.git.tag", "missing", "to exist", ""),
    ]


def test_fields_of_newer_decisions_are_shown_not_fatal() -> None:
    decision = {
        "result": "pending",
        "revision": "abc",
        "errors": [
            {"code": "RG120", "path": "entities.build", "message": "not an object"},
            "nrn is not a string",
        ],
        "actions": [
            {
                "id": "checklist",
                "action": "deployment:create",
                "nrn": "organization=1",
                "result": "pending",
                "checklist": [{"item": "change ticket approved", "done": False}],
                "policies": [
                    {"name": "Odd", "passed": False, "failures": [{"operator": "$future"}]}
                ],
            }
        ],
        "sampled_at": "2026-12-01",
    }
    text, _ = text_of(decision_page(decision))
    assert "Pending" in text  # an unknown result is named, never taken for an approval
    assert "RG120 entities.build not an object" in text
    assert "nrn is not a string" in text
    assert "change ticket approved" in text  # the action's other fields, as JSON
    assert "sampled_at" in text
    assert "the element" in text and "needs $future null" in text


def test_no_decision_is_a_denial() -> None:
    view = decision_view(None)
    assert (view.result, view.headline) == ("deny", "no decision")


def test_values_are_escaped() -> None:
    decision = {
        "result": "deny",
        "actions": [
            {
                "id": "<script>x</script>",
                "action": "a",
                "nrn": "n",
                "result": "deny",
                "policies": [{"name": "<b>bold</b>", "passed": False}],
            }
        ],
    }
    html = decision_page(decision)
    text, tags = text_of(html)
    assert "script" not in tags and "b" not in tags
    assert "<script>x</script>" in text and "<b>bold</b>" in text


def test_checklist_items_and_selected_out_policies_have_their_own_rows() -> None:
    decision = {
        "result": "manual",
        "revision": "abc",
        "actions": [
            {
                "id": 1001,
                "action": "scope:create",
                "nrn": "organization=1",
                "result": "manual",
                "on_checklist_fail": "pending",
                "checklist": {
                    "name": "Production scope readiness",
                    "source": "org.rg:3",
                    "execution_trigger": "any_approval",
                    "items": [
                        {
                            "id": "auto_scaling",
                            "type": "condition",
                            "behavior": "gate",
                            "severity": "major",
                            "state": "failed",
                            "source": "org.rg:7",
                            "failures": [
                                {
                                    "operator": "$eq",
                                    "path": "scope.capabilities.auto_scaling",
                                    "expected": True,
                                    "actual": False,
                                    "source": "org.rg:9",
                                }
                            ],
                        },
                        {
                            "id": "capacity_review",
                            "type": "manual",
                            "behavior": "gate",
                            "state": "pending",
                            "source": "org.rg:12",
                        },
                    ],
                },
            },
            {
                "id": "deploys",
                "action": "deployment:create",
                "nrn": "organization=1",
                "result": "approve",
                "policies": [
                    {
                        "name": "PCI",
                        "source": "org.rg:20",
                        "selected": False,
                        "selector": {"application.metadata.pci": "Yes"},
                    }
                ],
            },
        ],
    }
    text, _ = text_of(decision_page(decision))
    assert "Checklist Production scope readiness (org.rg:3) of action 1001" in text
    assert "auto_scaling condition gate, major ✗ failed org.rg:7" in text
    assert "capacity_review manual gate ⧗ pending org.rg:12" in text
    assert "scope.capabilities.auto_scaling false needs = true org.rg:9" in text
    assert "PCI \u2013 not selected org.rg:20" in text
    assert "Policy “PCI” failed" not in text


def test_finding_exceptions_of_any_shape_are_shown_escaped_never_dropped() -> None:
    decision = {
        "result": "deny",
        "revision": "abc",
        "actions": [],
        "exceptions": [
            {
                "name": "<i>log4shell</i>",
                "nrn": "organization=1",
                "rule": "CVE-2021-44228",
                "package": "log4j-core",
                "owner": "appsec@example.com",
                "reason": "not reachable",
                "compensating_controls": "one WAF rule",  # not a list: shown as JSON
                "expires": "2027-01-31T00:00:00Z",
                "findings": 2,
                "ticket": "SEC-42",
            },
            "not an exception",
        ],
        "expired_exceptions": {"not": "a list"},
    }
    view = decision_view(decision)
    assert [e.name for e in view.exceptions] == ["<i>log4shell</i>", '"not an exception"']
    assert view.expired_exceptions == ()
    text, tags = text_of(decision_page(decision))
    assert "i" not in tags
    assert (
        "<i>log4shell</i> at organization=1 CVE-2021-44228 in log4j-core 2 appsec@example.com "
        "2027-01-31T00:00:00Z not reachable More about <i>log4shell</i>"
    ) in text
    assert '"compensating_controls": "one WAF rule"' in text and '"ticket": "SEC-42"' in text
    assert '"not an exception" at ? ? ? ? ?' in text
    assert "2 finding exceptions used" in text
    # A list of exceptions of a shape not known here stays among the decision's fields.
    assert '"expired_exceptions": { "not": "a list" }' in text
    assert "Expired finding exceptions" not in text
    fragment, _ = text_of(render_page("decision_fragment.html.j2", decision=view))  # playground
    assert "Finding exceptions the decision used" in fragment and "SEC-42" in fragment
