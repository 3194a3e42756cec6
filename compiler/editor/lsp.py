"""`regate lsp`: a language server over stdio (pygls) for `*.rg` files and JSON payloads.

A document belongs to a source directory: a `sourceRoots` entry of the client's
initialization options that holds it, else its own directory, widened to each parent
that also holds `*.rg` files (a project of several directories is checked whole).
Every open, change, save and close checks that directory as `regate check` does, with
the editor's unsaved texts in place of the files, and publishes the diagnostics of
every file in it: a change to a specification moves diagnostics in the policies.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import ServerTextPosition, ServerTextRange, TextDocument

from compiler import __version__
from compiler.diagnostics import Diagnostic
from compiler.driver import check_loaded
from compiler.editor import assist
from compiler.editor.model import Location, Model
from compiler.editor.scan import Cursor, Scan, scan
from compiler.fmt import format_text
from compiler.sources import Source, load

SOURCE_SUFFIXES = (".rg", ".json")
COMPLETION_KINDS = {
    "field": types.CompletionItemKind.Field,
    "operator": types.CompletionItemKind.Operator,
    "entity": types.CompletionItemKind.Class,
    "action": types.CompletionItemKind.Event,
    "policy": types.CompletionItemKind.Reference,
    "value": types.CompletionItemKind.EnumMember,
    "keyword": types.CompletionItemKind.Keyword,
}
SYMBOL_KINDS = {
    "specification": types.SymbolKind.Struct,
    "policy": types.SymbolKind.Function,
    "action": types.SymbolKind.Event,
    "waiver": types.SymbolKind.Constant,
    "exception": types.SymbolKind.Constant,
    "entity": types.SymbolKind.Class,
    "test": types.SymbolKind.Method,
}


def path_of(uri: str) -> Path | None:
    parts = urlsplit(uri)
    return Path(unquote(parts.path)) if parts.scheme == "file" else None


class RegateServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("regate", __version__)
        self.source_roots: list[Path] = []
        self.workspace_root: Path | None = None
        self.models: dict[Path, Model] = {}
        self.published: dict[Path, set[str]] = {}

    def root_for(self, file: Path) -> Path:
        for root in self.source_roots:
            if file.is_relative_to(root):
                return root
        directory = file.parent
        while True:
            parent = directory.parent
            inside = self.workspace_root is None or parent.is_relative_to(self.workspace_root)
            if parent == directory or not inside or not any(parent.glob("*.rg")):
                return directory
            directory = parent

    def document(self, uri: str) -> TextDocument:
        return self.workspace.get_text_document(uri)

    def check(self, root: Path) -> None:
        """Check a source directory with the open documents' texts; publish every file's
        diagnostics, and clear those of files that have none now."""
        sources, diagnostics = load([str(root)])
        open_texts = {}
        by_uri: dict[str, list[types.Diagnostic]] = {}  # open documents hear even "none"
        for uri, document in self.workspace.text_documents.items():
            file = path_of(uri)
            if file is not None and file.is_relative_to(root) and file.suffix in SOURCE_SUFFIXES:
                open_texts[file.as_posix()] = document.source
                by_uri[file.as_uri()] = []
        sources = [replace(s, text=open_texts.pop(s.path, s.text)) for s in sources]
        for path, text in open_texts.items():  # open, not yet saved to disk
            sources.append(Source(path, Path(path).relative_to(root).as_posix(), text, False))
        result = check_loaded(sources, diagnostics)
        if result.program is not None and not any(d.code == "RG002" for d in result.diagnostics):
            self.models[root] = Model(result.program, result.texts)
        model = self.models.get(root)
        for diagnostic in result.diagnostics:
            if Path(diagnostic.span.file).is_dir():
                continue  # RG004, a directory without sources: nothing an editor shows
            uri = Path(diagnostic.span.file).absolute().as_uri()
            by_uri.setdefault(uri, []).append(self.to_lsp(diagnostic, model))
        for uri in self.published.get(root, set()) - set(by_uri):
            by_uri[uri] = []
        for uri, found in by_uri.items():
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=found)
            )
        self.published[root] = {uri for uri, found in by_uri.items() if found}

    def range(self, location: Location) -> types.Range:
        """A 1-based span of a file as an LSP range in the client's units."""
        document = self.document(Path(location.file).absolute().as_uri())
        server = ServerTextRange(
            ServerTextPosition(location.line - 1, location.col - 1),
            ServerTextPosition(location.end_line - 1, location.end_col - 1),
        )
        try:
            return document.range_to_client_units(server)
        except (OSError, IndexError):  # the file is gone: positions as they are
            return types.Range(
                types.Position(server.start.line, server.start.character),
                types.Position(server.end.line, server.end.character),
            )

    def offsets(self, document: TextDocument, start: int, end: int) -> types.Range:
        text = document.source
        first, last = text_position(text, start), text_position(text, end)
        return document.range_to_client_units(ServerTextRange(first, last))

    def to_lsp(self, diagnostic: Diagnostic, model: Model | None) -> types.Diagnostic:
        span = diagnostic.span
        message = diagnostic.message + (f"\nhelp: {diagnostic.help}" if diagnostic.help else "")
        related = []
        if model is not None:
            for location, note in assist.related(model, span.file, span.line, span.col):
                uri = Path(location.file).absolute().as_uri()
                related.append(
                    types.DiagnosticRelatedInformation(
                        types.Location(uri, self.range(location)), note
                    )
                )
        return types.Diagnostic(
            range=self.range(Location.of(span)),
            message=message,
            severity=(
                types.DiagnosticSeverity.Error
                if diagnostic.severity == "error"
                else types.DiagnosticSeverity.Warning
            ),
            code=diagnostic.code,
            source="regate",
            related_information=related or None,
        )

    def at(
        self, uri: str, position: types.Position, typing: bool = False
    ) -> tuple[TextDocument, Scan, Cursor, Model | None] | None:
        """The document's scan, the cursor at `position` and the model, or None."""
        file = path_of(uri)
        if file is None or file.suffix not in SOURCE_SUFFIXES:
            return None
        document = self.document(uri)
        scanned = scan(document.source, file.suffix == ".json")
        cursor = scanned.cursor(document.offset_at_position(position), typing)
        return document, scanned, cursor, self.models.get(self.root_for(file))


def text_position(text: str, offset: int) -> ServerTextPosition:
    line = text.count("\n", 0, offset)
    return ServerTextPosition(line, offset - (text.rfind("\n", 0, offset) + 1))


server = RegateServer()


@server.feature(types.INITIALIZE)
def initialize(ls: RegateServer, params: types.InitializeParams) -> None:
    options = params.initialization_options or {}
    root = path_of(params.root_uri) if params.root_uri else None
    ls.workspace_root = root
    roots = options.get("sourceRoots", []) if isinstance(options, dict) else []
    ls.source_roots = [(root or Path.cwd()) / r for r in roots if isinstance(r, str)]


def _refresh(ls: RegateServer, uri: str) -> None:
    file = path_of(uri)
    if file is not None and file.suffix in SOURCE_SUFFIXES:
        ls.check(ls.root_for(file))


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: RegateServer, params: types.DidOpenTextDocumentParams) -> None:
    _refresh(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: RegateServer, params: types.DidChangeTextDocumentParams) -> None:
    _refresh(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: RegateServer, params: types.DidSaveTextDocumentParams) -> None:
    _refresh(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: RegateServer, params: types.DidCloseTextDocumentParams) -> None:
    _refresh(ls, params.text_document.uri)


@server.feature(
    types.TEXT_DOCUMENT_COMPLETION,
    types.CompletionOptions(trigger_characters=['"', ".", "$", "["]),
)
def completion(ls: RegateServer, params: types.CompletionParams) -> types.CompletionList:
    found = ls.at(params.text_document.uri, params.position, typing=True)
    if found is None:
        return types.CompletionList(is_incomplete=False, items=[])
    document, scanned, cursor, model = found
    items = []
    for index, item in enumerate(assist.complete(scanned, cursor, model)):
        items.append(
            types.CompletionItem(
                label=item.label,
                kind=COMPLETION_KINDS[item.kind],
                detail=item.detail or None,
                documentation=(
                    types.MarkupContent(types.MarkupKind.Markdown, item.documentation)
                    if item.documentation
                    else None
                ),
                sort_text=f"{index:04d}",
                filter_text=item.label,
                text_edit=types.TextEdit(ls.offsets(document, *item.replace), item.insert),
            )
        )
    return types.CompletionList(is_incomplete=False, items=items)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: RegateServer, params: types.HoverParams) -> types.Hover | None:
    found = ls.at(params.text_document.uri, params.position)
    if found is None:
        return None
    document, scanned, cursor, model = found
    shown = assist.hover(scanned, cursor, model)
    if shown is None:
        return None
    return types.Hover(
        contents=types.MarkupContent(types.MarkupKind.Markdown, shown.markdown),
        range=ls.offsets(document, *shown.span),
    )


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def definition(ls: RegateServer, params: types.DefinitionParams) -> list[types.Location]:
    found = ls.at(params.text_document.uri, params.position)
    if found is None:
        return []
    _document, scanned, cursor, model = found
    return [
        types.Location(Path(location.file).absolute().as_uri(), ls.range(location))
        for location in assist.definition(scanned, cursor, model)
    ]


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: RegateServer, params: types.DocumentFormattingParams) -> list[types.TextEdit]:
    """`regate fmt` of the document: one edit replacing it whole, none when it is already
    formatted or cannot be (the diagnostics say why)."""
    file = path_of(params.text_document.uri)
    if file is None or file.suffix not in SOURCE_SUFFIXES:
        return []
    document = ls.document(params.text_document.uri)
    formatted = format_text(document.source, file.as_posix(), file.suffix == ".json")
    if isinstance(formatted, Diagnostic) or formatted == document.source:
        return []
    return [types.TextEdit(ls.offsets(document, 0, len(document.source)), formatted)]


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbols(
    ls: RegateServer, params: types.DocumentSymbolParams
) -> list[types.DocumentSymbol]:
    file = path_of(params.text_document.uri)
    if file is None or file.suffix not in SOURCE_SUFFIXES:
        return []
    document = ls.document(params.text_document.uri)
    return [
        types.DocumentSymbol(
            name=symbol.name,
            kind=SYMBOL_KINDS.get(symbol.kind, types.SymbolKind.Object),
            detail=symbol.detail,
            range=ls.offsets(document, *symbol.span),
            selection_range=ls.offsets(document, *symbol.selection),
        )
        for symbol in assist.symbols(scan(document.source, file.suffix == ".json"))
    ]
