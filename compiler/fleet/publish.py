"""`regate publish BUNDLE REF`: a built bundle to an OCI registry, for OPA to pull."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from compiler import __version__
from compiler.diagnostics import Diagnostic, render
from compiler.fleet.archive import read_bundle
from compiler.fleet.reference import Reference, ReferenceError, parse_reference
from compiler.fleet.registry import RegistryError, environment_credentials, push

# Exit statuses: 0 published, 1 the bundle is refused, 2 usage (a bad REF),
# 3 the registry could not be reached or refused the push (worth retrying).
REGISTRY_FAILED = 3


def reference_of(text: str, tag_required: bool = True, option: str = "REF") -> Reference:
    """An OCI reference from the command line, or click's usage error (exit 2)."""
    try:
        reference = parse_reference(text)
    except ReferenceError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc
    if tag_required and (reference.tag is None or reference.digest is not None):
        raise click.BadParameter(
            f"{text!r} must name a tag (and no digest): the fleet polls the tag, "
            f"e.g. {reference.registry}/{reference.repository}:production",
            param_hint=option,
        )
    return reference


def registry_failure(code: str, message: str, help: str | None) -> NoReturn:
    """A failure with no file to point at: `regate: error[CODE]: message`, then help."""
    click.echo(f"regate: error[{code}]: {message}", err=True)
    if help:
        click.echo(f"help: {help}", err=True)
    sys.exit(REGISTRY_FAILED)


@click.command("publish")
@click.argument("bundle")
@click.argument("reference", metavar="REF", callback=lambda _c, _p, text: reference_of(text))
@click.option(
    "--plain-http",
    is_flag=True,
    help="Talk to the registry over HTTP, not HTTPS (a local registry on 127.0.0.1).",
)
def publish_command(bundle: str, reference: Reference, plain_http: bool) -> None:
    """Push BUNDLE (from `regate build`) to the OCI registry at REF (HOST[:PORT]/REPO:TAG),
    as OPA's OCI downloader pulls it.

    Credentials: REGATE_REGISTRY_USERNAME and REGATE_REGISTRY_PASSWORD, else the Docker
    config (`docker login`; $DOCKER_CONFIG).  Exit status: 0 published, 1 the bundle is
    refused, 2 usage, 3 the registry could not be reached or refused the push."""
    try:
        environment_credentials()
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from exc
    archive = read_bundle(bundle)
    if isinstance(archive, Diagnostic):
        sys.stderr.write(render([archive], {}, "text", __version__))
        sys.exit(1)
    try:
        digest = push(archive, reference, plain_http)
    except RegistryError as exc:
        registry_failure("RG121", f"cannot publish {bundle} to {reference}: {exc}", exc.help)
    click.echo(f"published {bundle} to {reference}@{digest}: {archive.describe()}")
