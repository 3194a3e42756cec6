"""OCI references as a registry and OPA read them: `HOST[:PORT]/REPOSITORY:TAG`
or `...@sha256:DIGEST` (the grammar of distribution's `reference` package).

regate asks for the registry explicitly: a fleet's bundles live in the
organisation's registry, and a name that silently meant Docker Hub would send
policies somewhere nobody meant."""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])"
_REFERENCE = re.compile(
    rf"(?P<registry>{_HOST}(?::[0-9]+)?)/"
    rf"(?P<repository>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
NAME_LIMIT = 255  # distribution's limit on REGISTRY/REPOSITORY


@dataclass(frozen=True)
class Reference:
    registry: str  # host[:port]
    repository: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


class ReferenceError(ValueError):
    """Why a text is not an OCI reference regate can use."""


def parse_reference(text: str) -> Reference:
    """A reference with an explicit registry host; raises ReferenceError."""
    match = _REFERENCE.fullmatch(text)
    if match is None:
        raise ReferenceError(_why_not(text))
    registry, repository = match["registry"], match["repository"]
    if not ("." in registry or ":" in registry or registry == "localhost"):
        # Docker reads a first segment without '.' or ':' as a repository on Docker Hub.
        raise ReferenceError(
            f"{text!r} names no registry: {registry!r} would be read as a repository "
            "name (on Docker Hub); write the registry's host, e.g. "
            f"registry.example.com/{registry}/{repository}"
        )
    if len(f"{registry}/{repository}") > NAME_LIMIT:
        raise ReferenceError(f"{text!r} is longer than {NAME_LIMIT} characters before its tag")
    return Reference(registry, repository, match["tag"], match["digest"])


def _why_not(text: str) -> str:
    example = "e.g. 127.0.0.1:5000/policies/quality-gates:production"
    if "://" in text:
        return f"{text!r} is a URL; a reference has no scheme ({example})"
    if "/" not in text:
        return f"{text!r} names no registry and repository ({example})"
    repository = text.split("/", 1)[1].split("@", 1)[0].split(":", 1)[0]
    if repository != repository.lower():
        return f"{text!r}: a repository name is lower case ({example})"
    return f"{text!r} is not an OCI reference HOST[:PORT]/REPOSITORY[:TAG] ({example})"
