"""The specification a metadata document must fit, and checking that it does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema
import jsonschema.exceptions

from compiler.ast import Nrn, Span
from compiler.check import Specifications
from compiler.diagnostics import Diagnostic, did_you_mean, error
from compiler.driver import check_sources
from compiler.evidence.report import EvidenceError
from compiler.parse import json_data
from compiler.sources import Source, read_text


@dataclass(frozen=True)
class Target:
    """A JSON Schema and how to name it in messages."""

    schema: Any
    described: str  # 'specification "Security Schema" at specifications.rg:12:1'


def _validator(schema: Any, span: Span, described: str) -> Any:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        message = f"{described} is not valid JSON Schema: {exc.message}"
        raise EvidenceError([error("RG040", span, message)]) from None
    return cls(schema)


def from_schema_file(path: str) -> Target:
    """A JSON Schema file given with `--schema`."""
    text = read_text(path, path)
    if isinstance(text, Diagnostic):
        raise EvidenceError([text])
    schema, problems = json_data(Source(path, path, text, explicit=True), "a schema")
    if problems:
        raise EvidenceError(problems, {path: text})
    return Target(schema, f"the schema {path}")


@dataclass(frozen=True)
class Declared:
    """The specifications declared in regate sources (`--sources`)."""

    specifications: Specifications
    root: str  # the first source argument, where a missing specification is reported

    @staticmethod
    def load(sources: Sequence[str]) -> Declared:
        result = check_sources(list(sources), gating=False)  # the specifications only
        if not result.ok or result.program is None:
            raise EvidenceError(result.diagnostics, result.texts)
        return Declared(Specifications(list(result.program.specifications)), sources[0])

    def target(self, entity: str, key: str, nrn: str | None) -> Target:
        """The specification for `entity.metadata.key` in force at `nrn` (or the only one)."""
        where = Span(self.root, 1, 1, 1, 1)
        declared = self.specifications.declared(entity, key)
        if nrn is not None:
            found = self.specifications.in_force(entity, key, Nrn(nrn, where))
        elif len(declared) > 1:
            at = ", ".join(s.nrn.text for s in declared)
            message = f'"{entity}.metadata.{key}" has specifications at several NRNs ({at})'
            raise EvidenceError([error("RG032", where, message, help="choose one with --nrn")])
        else:
            found = declared[0] if declared else None
        if found is None:
            at = f" at {nrn}" if nrn else ""
            message = f'no metadata specification for "{entity}.metadata.{key}"{at} in {self.root}'
            hint = did_you_mean(key, self.specifications.keys(entity))
            raise EvidenceError([error("RG032", where, message, help=hint)])
        return Target(found.schema, f'specification "{found.name}" at {found.span}')


def validate(document: Any, target: Target, reports: Sequence[str]) -> None:
    """Raise RG073 unless the document fits the target's schema."""
    where = Span(reports[0], 1, 1, 1, 1)
    validator = _validator(target.schema, where, target.described)
    problems = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if not problems:
        return
    named = "; ".join(
        f"{'.'.join(str(p) for p in problem.absolute_path) or 'the document'}: {problem.message}"
        for problem in problems
    )
    raise EvidenceError(
        [
            error(
                "RG073",
                where,
                f"the metadata from {', '.join(reports)} does not fit {target.described}: {named}",
                help="fit it with --mapping FILE (docs/evidence.md), or add the missing report",
            )
        ]
    )
