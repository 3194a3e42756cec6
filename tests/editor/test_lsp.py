"""`regate lsp` driven by a real LSP client (pygls' LanguageClient) over stdio: the server
runs as its own process, exactly as an editor starts it."""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from compiler.driver import check_sources
from compiler.entities import entity_model
from compiler.fmt import format_text
from tests.conftest import QUALITY_GATES, REPO

T = TypeVar("T")
TIMEOUT = 30  # seconds any one exchange may take


class Session:
    """A language client on its own event loop thread, talking to `regate lsp`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = LanguageClient("regate-tests", "1")
        self.diagnostics: dict[str, list[types.Diagnostic]] = {}
        self.published = threading.Condition()
        self.versions: dict[str, int] = {}

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def publish(params: types.PublishDiagnosticsParams) -> None:
            with self.published:
                self.diagnostics[params.uri] = list(params.diagnostics)
                self.published.notify_all()

        command = [sys.executable, "-c", "from compiler.cli import main; main()", "lsp"]
        self.run(self.client.start_io(*command))
        self.run(
            self.client.initialize_async(
                types.InitializeParams(
                    capabilities=types.ClientCapabilities(), root_uri=root.as_uri()
                )
            )
        )
        self.client.initialized(types.InitializedParams())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT)

    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    def wait_for(self, name: str, expect: Any) -> list[types.Diagnostic]:
        """The diagnostics of a file once `expect(diagnostics)` holds."""
        uri = self.uri(name)
        with self.published:
            done = self.published.wait_for(
                lambda: uri in self.diagnostics and expect(self.diagnostics[uri]), TIMEOUT
            )
            assert done, f"no such diagnostics for {name}: {self.diagnostics.get(uri)}"
            return self.diagnostics[uri]

    def open(self, name: str, text: str | None = None) -> str:
        text = (self.root / name).read_text() if text is None else text
        self.versions[name] = 1
        language = "json" if name.endswith(".json") else "regate"
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(self.uri(name), language, 1, text)
            )
        )
        return text

    def change(self, name: str, text: str) -> None:
        self.versions[name] += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(
                    uri=self.uri(name), version=self.versions[name]
                ),
                [types.TextDocumentContentChangeWholeDocument(text)],
            )
        )

    def close(self) -> None:
        self.run(self.client.shutdown_async(None))
        self.client.exit(None)
        self.run(self.client.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)


def position(text: str, marker: str, after: int = 0) -> types.Position:
    """The position `after` characters into the first occurrence of `marker`."""
    offset = text.index(marker) + after
    line = text.count("\n", 0, offset)
    return types.Position(line, offset - (text.rfind("\n", 0, offset) + 1))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lsp") / "quality-gates"
    shutil.copytree(QUALITY_GATES, root)
    shutil.copytree(REPO / "bundles" / "quality-gates-api", root.parent / "api")
    return root


@pytest.fixture(scope="module")
def lsp(project: Path) -> Iterator[Session]:
    session = Session(project.parent)
    yield session
    session.close()


def names(items: list[types.CompletionItem]) -> list[str]:
    return [item.label for item in items]


def complete(lsp: Session, name: str, text: str, marker: str, after: int) -> list[str]:
    result = lsp.run(
        lsp.client.text_document_completion_async(
            types.CompletionParams(
                types.TextDocumentIdentifier(lsp.uri(name)), position(text, marker, after)
            )
        )
    )
    assert isinstance(result, types.CompletionList)
    return names(result.items)


def hover(lsp: Session, name: str, text: str, marker: str, after: int = 1) -> str:
    result = lsp.run(
        lsp.client.text_document_hover_async(
            types.HoverParams(
                types.TextDocumentIdentifier(lsp.uri(name)), position(text, marker, after)
            )
        )
    )
    assert result is not None and isinstance(result.contents, types.MarkupContent)
    return result.contents.value


def definition(lsp: Session, name: str, text: str, marker: str, after: int = 1) -> list[Any]:
    result = lsp.run(
        lsp.client.text_document_definition_async(
            types.DefinitionParams(
                types.TextDocumentIdentifier(lsp.uri(name)), position(text, marker, after)
            )
        )
    )
    assert isinstance(result, list)
    return result


TYPO = '"build.metadata.coverage.code.coverage"'


def test_diagnostics_follow_the_text_as_regate_check_reports_them(
    lsp: Session, project: Path
) -> None:
    name = "quality-gates/policies.rg"
    text = lsp.open(name)
    lsp.wait_for(name, lambda found: found == [])

    wrong = text.replace(TYPO, '"build.metadata.coverage.cod.coverage"')
    lsp.change(name, wrong)
    found = lsp.wait_for(name, lambda found: len(found) == 1)
    # The same code, span and message as `regate check` on the same text.
    (project / "policies.rg").write_text(wrong)
    try:
        expected = [d for d in check_sources([str(project)]).diagnostics]
    finally:
        (project / "policies.rg").write_text(text)
    assert len(expected) == 1
    [diagnostic] = found
    assert diagnostic.code == expected[0].code == "RG031"
    assert diagnostic.message == f"{expected[0].message}\nhelp: {expected[0].help}"
    span = expected[0].span
    assert (diagnostic.range.start.line, diagnostic.range.start.character) == (
        span.line - 1,
        span.col - 1,
    )
    assert diagnostic.range.end.character == span.end_col - 1
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    # Related: the specification the path was checked against, where it is declared.
    [related] = diagnostic.related_information or []
    assert related.location.uri == lsp.uri("quality-gates/specifications.rg")
    assert related.location.range.start.line == 4  # `specification "Coverage Schema"`, line 5
    assert 'specification "Coverage Schema"' in related.message

    lsp.change(name, text)
    lsp.wait_for(name, lambda found: found == [])


def test_a_change_in_one_file_moves_diagnostics_in_another(lsp: Session) -> None:
    policies = "quality-gates/policies.rg"
    specifications = "quality-gates/specifications.rg"
    lsp.open(policies)
    text = lsp.open(specifications)
    lsp.change(specifications, text.replace("metadata    = coverage", "metadata    = coverge"))
    found = lsp.wait_for(policies, lambda found: any(d.code == "RG032" for d in found))
    assert 'did you mean "coverge"?' in found[0].message
    lsp.change(specifications, text)
    lsp.wait_for(policies, lambda found: found == [])


def test_a_syntax_error_is_reported_while_typing(lsp: Session) -> None:
    name = "quality-gates/actions.rg"
    text = lsp.open(name)
    lsp.change(
        name, text.replace('policies          = ["Code Coverage", "Security"]', 'policies = ["Code')
    )
    [found] = lsp.wait_for(name, lambda found: len(found) == 1)
    assert found.code == "RG002"
    lsp.change(name, text)
    lsp.wait_for(name, lambda found: found == [])


def test_completes_paths_from_the_specification_in_force(lsp: Session) -> None:
    name = "quality-gates/policies.rg"
    text = lsp.open(name)
    marker = '"build.metadata.coverage.code.coverage"'
    visible = set(entity_model().actions["deployment:create"])
    assert set(complete(lsp, name, text, marker, 1)) == visible | {"$and", "$or", "$nor"}
    assert "metadata" in complete(lsp, name, text, marker, len('"build.'))
    assert set(complete(lsp, name, text, marker, len('"build.metadata.'))) == {
        "coverage",
        "security",
    }
    code = complete(lsp, name, text, marker, len('"build.metadata.coverage.code.'))
    assert code == ["coverage", "lines", "lines_covered", "branches"]


def test_completion_items_carry_types_and_replace_the_segment(lsp: Session) -> None:
    name = "quality-gates/policies.rg"
    text = lsp.open(name)
    marker = '"build.metadata.coverage.code.coverage"'
    at = position(text, marker, len('"build.metadata.coverage.code.cov'))
    result = lsp.run(
        lsp.client.text_document_completion_async(
            types.CompletionParams(types.TextDocumentIdentifier(lsp.uri(name)), at)
        )
    )
    assert isinstance(result, types.CompletionList)
    item = next(i for i in result.items if i.label == "coverage")
    assert item.detail == "number"
    assert isinstance(item.text_edit, types.TextEdit)
    assert item.text_edit.new_text == "coverage"
    assert item.text_edit.range.end == at
    assert item.text_edit.range.start.character == at.character - len("cov")


def test_completes_operators_valid_for_the_field_type(lsp: Session) -> None:
    name = "quality-gates/policies.rg"
    text = lsp.open(name)
    operators = complete(lsp, name, text, '{"$gte": 80}', 2)
    assert {"$gte", "$lt", "$in", "$exists", "$not", "$mod"} <= set(operators)
    assert not {"$regex", "$size", "$elemMatch", "$all", "$and"} & set(operators)


def test_completes_policy_entity_and_action_names(lsp: Session) -> None:
    name = "quality-gates/actions.rg"
    text = lsp.open(name)
    assert set(complete(lsp, name, text, '["Code Coverage", "Security"]', 2)) == {
        "Code Coverage", "No Leaked Secrets", "Security",
    }  # fmt: skip
    assert "build" in complete(lsp, name, text, "entity            = deployment", 20)
    actions = complete(lsp, name, text, '"deployment:create"', 1)
    assert {"deployment:create", "scope:create"} <= set(actions)


def test_completes_paths_in_json_payloads(lsp: Session) -> None:
    name = "api/policies.json"
    text = lsp.open(name)
    found = complete(
        lsp, name, text, '"build.metadata.coverage.code.coverage"', len('"build.metadata.')
    )
    assert set(found) == {"coverage", "security"}


def test_hover_on_a_path_an_operator_and_a_policy(lsp: Session) -> None:
    name = "quality-gates/policies.rg"
    text = lsp.open(name)
    shown = hover(lsp, name, text, '"build.metadata.coverage.code.coverage"', 35)
    assert "`build.metadata.coverage.code.coverage`" in shown
    assert "**number**" in shown and "`minimum 0`" in shown and "`maximum 100`" in shown
    assert 'specification "Coverage Schema"' in shown and "specifications.rg:" in shown
    assert "Percentage of code coverage" in shown
    # A segment in the middle: the path up to it.
    assert "`build.metadata.coverage.code`\n\n**object**" in hover(
        lsp, name, text, '"build.metadata.coverage.code.coverage"', 26
    )
    assert "greater than or equal" in hover(lsp, name, text, '"$gte"', 2)
    actions = "quality-gates/actions.rg"
    actions_text = lsp.open(actions)
    shown = hover(lsp, actions, actions_text, '"Security"]', 2)
    assert "policy **Security** at `organization=1:account=2:namespace=3`" in shown
    assert "`deployment-create-production`" in shown


def test_definition_of_a_policy_name_and_of_a_path(lsp: Session, project: Path) -> None:
    actions = "quality-gates/actions.rg"
    text = lsp.open(actions)
    [found] = definition(lsp, actions, text, '"Security"]', 2)
    assert found.uri == lsp.uri("quality-gates/policies.rg")
    policies = (project / "policies.rg").read_text()
    assert found.range.start == position(policies, '"Security"')

    name = "quality-gates/policies.rg"
    [schema] = definition(lsp, name, policies, '"build.metadata.coverage.code.coverage"', 35)
    assert schema.uri == lsp.uri("quality-gates/schemas/coverage.json")
    coverage = (project / "schemas" / "coverage.json").read_text()
    assert schema.range.start == position(coverage, '"coverage": {\n          "type": "number"')


def test_formatting_is_regate_fmt(lsp: Session) -> None:
    name = "quality-gates/scratch.rg"
    messy = 'policy "Tidy" {\n nrn="organization=1"\n    conditions={"build.status":"ok"}\n}\n'
    lsp.open(name, messy)
    edits = lsp.run(
        lsp.client.text_document_formatting_async(
            types.DocumentFormattingParams(
                types.TextDocumentIdentifier(lsp.uri(name)), types.FormattingOptions(2, True)
            )
        )
    )
    assert edits is not None and len(edits) == 1
    assert edits[0].new_text == format_text(messy, name, False)
    lsp.client.text_document_did_close(
        types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(lsp.uri(name)))
    )


def test_document_symbols(lsp: Session) -> None:
    name = "quality-gates/policies.rg"
    lsp.open(name)
    found = lsp.run(
        lsp.client.text_document_document_symbol_async(
            types.DocumentSymbolParams(types.TextDocumentIdentifier(lsp.uri(name)))
        )
    )
    assert found is not None
    assert [(s.name, s.kind) for s in found] == [  # type: ignore[union-attr]
        ("Code Coverage", types.SymbolKind.Function),
        ("Security", types.SymbolKind.Function),
        ("No Leaked Secrets", types.SymbolKind.Function),
    ]
    api = lsp.run(
        lsp.client.text_document_document_symbol_async(
            types.DocumentSymbolParams(
                types.TextDocumentIdentifier(lsp.uri("api/deployment-action.json"))
            )
        )
    )
    assert api is not None and [s.kind for s in api] == [types.SymbolKind.Event]  # type: ignore[union-attr]


def inserted(lsp: Session, name: str, text: str, marker: str, after: int) -> dict[str, str]:
    """Each item's label → the text it inserts."""
    result = lsp.run(
        lsp.client.text_document_completion_async(
            types.CompletionParams(
                types.TextDocumentIdentifier(lsp.uri(name)), position(text, marker, after)
            )
        )
    )
    assert isinstance(result, types.CompletionList)
    return {
        item.label: item.text_edit.new_text
        for item in result.items
        if isinstance(item.text_edit, types.TextEdit)
    }


def test_values_are_inserted_as_the_file_writes_them(lsp: Session) -> None:
    actions = "quality-gates/actions.rg"
    text = lsp.open(actions)
    assert inserted(lsp, actions, text, "entity            = deployment", 20)["build"] == "build"
    assert inserted(lsp, actions, text, "on_policy_fail    = manual", 20)["deny"] == "deny"
    in_string = inserted(lsp, actions, text, '"deployment:create"', 1)
    assert in_string["scope:create"] == "scope:create"
    payload = "api/deployment-action.json"
    json_text = lsp.open(payload)
    listed = inserted(lsp, payload, json_text, '"policies": [', len('"policies": ['))
    assert listed["No Leaked Secrets"] == '"No Leaked Secrets"'
    outcomes = inserted(
        lsp, payload, json_text, '"on_policy_fail": "manual"', len('"on_policy_fail": "')
    )
    assert outcomes["deny"] == "deny"


SCOPE_GATE = """policy "Tier" {
  nrn        = "organization=1"
  conditions = {"scope.tier": "gold"}
}

action "scopes" {
  action   = "scope:create"
  nrn      = "organization=1"
  policies = ["Tier"]
}
"""


def test_paths_offer_only_the_entities_the_bound_actions_see(lsp: Session) -> None:
    """An unsaved document joins its project: its policy, bound to a scope:create action,
    is offered only what scope actions can read."""
    name = "quality-gates/scopes.rg"
    lsp.open(name, SCOPE_GATE)
    lsp.wait_for(name, lambda found: found == [])
    visible = set(entity_model().actions["scope:create"])
    assert "build" not in visible
    assert set(complete(lsp, name, SCOPE_GATE, '"scope.tier"', 1)) == visible | {
        "$and",
        "$or",
        "$nor",
    }
    assert "tier" in complete(lsp, name, SCOPE_GATE, '"scope.tier"', len('"scope.'))
    lsp.client.text_document_did_close(
        types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(lsp.uri(name)))
    )
