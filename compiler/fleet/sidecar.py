"""`regate sidecar-config`: the OPA configuration of a sidecar that pulls regate
bundles from an OCI registry (OPA's docs: Configuration, "Services", "Bundles",
"Keys", "Decision Logs", "Status").

What it writes, and why:
- one `type: oci` service per registry, one bundle per reference, polled;
- signature verification by a named key (`signing.keyid`: with it OPA does not
  depend on the signature's `kid`) and the scope the bundles were signed for;
  verification is on unless `--unsigned` says otherwise, so a forgotten key
  cannot quietly turn it off;
- decision logs on the console (the cluster's log collector ships them), with a
  mask policy (`mask.rego`, package `system.log`) erasing the metadata fields
  named with `--mask` from each logged request, and what failed conditions on
  them say the request held from each logged decision;
- the status plugin on the console and at `GET /v1/status`: OPA's `/health`
  stays 200 while a bad bundle is refused (a good one is still active), and the
  status is where the refusal shows.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from compiler import __version__
from compiler.ast import Span
from compiler.bundle import check_output, write_atomically, write_failed
from compiler.diagnostics import Diagnostic, did_you_mean, error, render
from compiler.emit import render as render_rego
from compiler.entities import entity_model
from compiler.fleet.publish import reference_of
from compiler.fleet.reference import Reference
from compiler.rego import comment
from compiler.signing import ALGORITHMS, MAX_KEY_BYTES
from compiler.sources import Unreadable, read_bounded

CONFIG_FILE = "opa-config.yaml"
MASK_FILE = "mask.rego"
ENVIRONMENT_NAME = "[A-Z_][A-Z0-9_]*"


@dataclass(frozen=True)
class BundleSource:
    name: str  # the bundle's name in OPA: status, decision logs
    reference: Reference


@dataclass(frozen=True)
class Verification:
    key_id: str
    algorithm: str
    key: str  # a PEM public key, or `${VARIABLE}` that OPA reads from its environment
    scope: str | None


@dataclass(frozen=True)
class MaskedField:
    path: str  # `build.metadata.security`, as policies and failures name it

    @property
    def pointer(self) -> str:
        """The field in a decision log event: `/input/entities/build/metadata/security`."""
        segments = (s.replace("~", "~0").replace("/", "~1") for s in self.path.split("."))
        return "/input/entities/" + "/".join(segments)


@dataclass(frozen=True)
class Sidecar:
    bundles: tuple[BundleSource, ...]
    plain_http: bool
    verification: Verification | None
    polling: tuple[int, int]  # min and max seconds between downloads
    masks: tuple[MaskedField, ...]
    registry_auth_env: str | None
    labels: tuple[tuple[str, str], ...]
    persistence_directory: str | None

    def services(self) -> dict[str, str]:
        """Registry host → service name, in order of first use."""
        hosts = list(dict.fromkeys(b.reference.registry for b in self.bundles))
        if len(hosts) == 1:
            return {hosts[0]: "registry"}
        return {host: f"registry-{n}" for n, host in enumerate(hosts, 1)}


def opa_config(sidecar: Sidecar) -> dict[str, Any]:
    """The configuration as OPA reads it."""
    scheme = "http" if sidecar.plain_http else "https"
    services: dict[str, Any] = {}
    for host, name in sidecar.services().items():
        service: dict[str, Any] = {"url": f"{scheme}://{host}", "type": "oci"}
        if sidecar.registry_auth_env:
            # OPA's OCI downloader sends `Basic base64(token)`: the variable holds user:password.
            token = f"${{{sidecar.registry_auth_env}}}"
            service["credentials"] = {"bearer": {"scheme": "Basic", "token": token}}
        services[name] = service
    bundles: dict[str, Any] = {}
    for source in sidecar.bundles:
        bundle: dict[str, Any] = {
            "service": sidecar.services()[source.reference.registry],
            "resource": str(source.reference),
            "polling": {
                "min_delay_seconds": sidecar.polling[0],
                "max_delay_seconds": sidecar.polling[1],
            },
        }
        if sidecar.persistence_directory is not None:
            bundle["persist"] = True
        if sidecar.verification is not None:
            bundle["signing"] = {"keyid": sidecar.verification.key_id}
            if sidecar.verification.scope is not None:
                bundle["signing"]["scope"] = sidecar.verification.scope
        bundles[source.name] = bundle
    config: dict[str, Any] = {"services": services, "bundles": bundles}
    if sidecar.verification is not None:
        config["keys"] = {
            sidecar.verification.key_id: {
                "key": sidecar.verification.key,
                "algorithm": sidecar.verification.algorithm,
            }
        }
    config["decision_logs"] = {"console": True}
    config["status"] = {"console": True}
    if sidecar.labels:
        config["labels"] = dict(sidecar.labels)
    if sidecar.persistence_directory is not None:
        config["persistence_directory"] = sidecar.persistence_directory
    return config


_COMMENTS = {
    "services": "The OCI registries the bundles are pulled from.",
    "bundles": "regate bundles, polled; a bundle that fails to download, verify or load is\n"
    "refused and the last good one keeps deciding.",
    "keys": "The key that verifies the bundles' signatures (`regate build --signing-key-id`).",
    "decision_logs": "Every decision, with its input, result and bundle revision, on OPA's\n"
    "console as JSON lines (`regate audit` reads them).",
    "status": "Bundle status on the console and at GET /v1/status: /health stays 200 while\n"
    "a bad bundle is refused; the status says why.",
    "labels": "Name this sidecar in its decision logs and status.",
    "persistence_directory": "Activated bundles are kept here: a sidecar that restarts while\n"
    "the registry is down starts with the last good bundle.",
}


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """A PEM key as a block (`|`), the way people write one in YAML."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    )


_Dumper.add_representer(str, _string)


def config_yaml(sidecar: Sidecar, command: str) -> str:
    """The configuration as YAML, each section with a comment saying what it is for."""
    out = [
        "# OPA configuration for a regate sidecar, written by `regate sidecar-config`.",
        f"# Run: {command}",
    ]
    for key, value in opa_config(sidecar).items():
        out.append("")
        out += [f"# {line}" for line in _COMMENTS[key].splitlines()]
        out.append(yaml.dump({key: value}, Dumper=_Dumper, sort_keys=False).rstrip("\n"))
    return "\n".join(out) + "\n"


def mask_policy(masks: Sequence[MaskedField]) -> str:
    """package system.log: what OPA erases from each decision log event."""
    return render_rego(
        "mask.rego.j2",
        fields=[m.path for m in masks],
        pointers=[{"field": comment(m.path), "pointer": m.pointer} for m in masks],
    )


def run_command(directory: str, masked: bool) -> str:
    files = [f"{directory}/{MASK_FILE}"] if masked else []
    return " ".join(
        [
            "opa run --server --addr 127.0.0.1:8181 --optimize-store-for-read-speed",
            f"--config-file {directory}/{CONFIG_FILE}",
            *files,
        ]
    )


# --- reading the command line -------------------------------------------------------------


class SidecarError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def bundle_sources(arguments: Sequence[str]) -> tuple[BundleSource, ...]:
    """`[NAME=]REF` arguments; a bundle is named after its repository's last segment."""
    sources = []
    for argument in arguments:
        name, equals, text = argument.rpartition("=")
        if not equals:
            text = argument
        reference = reference_of(text)
        sources.append(BundleSource(name or reference.repository.rsplit("/", 1)[-1], reference))
    names = [s.name for s in sources]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise click.BadParameter(
            f"two bundles named {repeated[0]!r}: name each, NAME=REF", param_hint="REF"
        )
    return tuple(sources)


def masked_fields(paths: Sequence[str]) -> tuple[MaskedField, ...]:
    entities = entity_model().entities
    fields = []
    for path in paths:
        segments = path.split(".")
        if any(not s for s in segments):
            raise click.BadParameter(f"{path!r} has an empty segment", param_hint="--mask")
        if segments[0] not in entities:
            hint = did_you_mean(segments[0], entities) or f"one of {', '.join(entities)}"
            raise click.BadParameter(
                f"{path!r} starts with no entity: {hint} (a field as policies name it, "
                "e.g. build.metadata.security)",
                param_hint="--mask",
            )
        fields.append(MaskedField(path))
    return tuple(dict.fromkeys(fields))


def verification(
    key_file: str | None,
    key_env: str | None,
    unsigned: bool,
    algorithm: str,
    key_id: str,
    scope: str | None,
) -> Verification | None:
    """How the sidecar verifies bundles: exactly one of a public key file, an
    environment variable holding the HS256 secret, or `--unsigned`."""
    given = [o for o, v in (("--verification-key", key_file), ("--verification-key-env", key_env),
                            ("--unsigned", unsigned)) if v]  # fmt: skip
    if len(given) != 1:
        raise click.UsageError(
            "give one of --verification-key (RS256, ES256), --verification-key-env (HS256) "
            f"and --unsigned{'' if not given else ', not ' + ' and '.join(given)}"
        )
    if unsigned:
        if scope is not None:
            raise click.UsageError("--scope is the scope of a signature; --unsigned has none")
        return None
    if key_env is not None:
        if algorithm != "HS256":
            raise click.UsageError(
                "--verification-key-env names the HS256 secret; with --signing-alg "
                f"{algorithm} give the public key file with --verification-key"
            )
        if not _is_environment_name(key_env):
            raise click.BadParameter(
                f"{key_env!r} is not an environment variable name",
                param_hint="--verification-key-env",
            )
        return Verification(key_id, algorithm, f"${{{key_env}}}", scope)
    assert key_file is not None
    return Verification(key_id, algorithm, public_key(key_file, algorithm), scope)


def _is_environment_name(name: str) -> bool:
    return re.fullmatch(ENVIRONMENT_NAME, name) is not None


def public_key(path: str, algorithm: str) -> str:
    """The PEM public key in `path`, checked to verify `algorithm`; a private key
    is refused (it would be copied to every node)."""
    span = Span(path, 1, 1, 1, 1)
    if algorithm == "HS256":
        raise SidecarError(
            error(
                "RG122",
                span,
                "HS256 verifies with the signing secret, which must not be written into "
                "a configuration file",
                help="put the secret in the sidecar's environment (a Kubernetes Secret) and "
                "name the variable with --verification-key-env",
            )
        )
    try:
        pem = read_bounded(path, MAX_KEY_BYTES)  # a file or a pipe, never a wait
    except Unreadable as exc:
        raise SidecarError(
            error("RG122", span, f"cannot read verification key {path}: {exc}")
        ) from exc
    kinds = {
        "RS256": (rsa.RSAPublicKey, "an RSA"),
        "ES256": (ec.EllipticCurvePublicKey, "a P-256 EC"),
    }
    kind, described = kinds[algorithm]
    try:
        key = load_pem_public_key(pem)
    except ValueError:
        if _is_private_key(pem):
            raise SidecarError(
                error(
                    "RG122",
                    span,
                    f"{path} is a private key: a sidecar needs only the public key",
                    help=f"openssl pkey -in {path} -pubout -out public.pem",
                )
            ) from None
        raise SidecarError(
            error(
                "RG122",
                span,
                f"{path} is not a PEM public key",
                help=f"{algorithm} needs {described} public key",
            )
        ) from None
    if not isinstance(key, kind) or (
        isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, ec.SECP256R1)
    ):
        raise SidecarError(
            error(
                "RG122",
                span,
                f"{path} cannot verify {algorithm} signatures",
                help=f"{algorithm} needs {described} public key",
            )
        )
    # The key as PEM, re-encoded: a file may hold text before or after its PEM block.
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def _is_private_key(pem: bytes) -> bool:
    try:
        load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        return b"PRIVATE KEY" in pem
    return True


@click.command("sidecar-config")
@click.argument("references", metavar="[NAME=]REF...", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="The directory to write the files into.")
@click.option("--plain-http", is_flag=True, help="The registry speaks HTTP (127.0.0.1).")
@click.option("--verification-key", help="The PEM public key that verifies the signatures.")
@click.option(
    "--verification-key-env",
    metavar="VARIABLE",
    help="HS256: the environment variable that holds the secret, in the sidecar.",
)
@click.option("--unsigned", is_flag=True, help="Accept unsigned bundles (verification off).")
@click.option("--signing-alg", type=click.Choice(ALGORITHMS), default="RS256", show_default=True)
@click.option(
    "--key-id",
    default="regate",
    show_default=True,
    help="The key's name (`regate build --signing-key-id`).",
)
@click.option("--scope", help="The scope the bundles were signed for.")
@click.option("--poll-min", type=click.IntRange(min=1), default=10, show_default=True,
              help="Seconds between downloads, at least.")  # fmt: skip
@click.option("--poll-max", type=click.IntRange(min=1), default=30, show_default=True,
              help="Seconds between downloads, at most.")  # fmt: skip
@click.option(
    "--mask",
    "masks",
    multiple=True,
    metavar="FIELD",
    help="Erase this field (e.g. build.metadata.security) from decision logs (repeatable).",
)
@click.option(
    "--registry-auth-env",
    metavar="VARIABLE",
    help="The environment variable holding user:password for the registry, in the sidecar.",
)
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
              help="A label naming this sidecar in logs and status (repeatable).")  # fmt: skip
@click.option("--persistence-dir", help="Keep activated bundles here, for restarts.")
def sidecar_config_command(
    references: tuple[str, ...],
    output: str,
    plain_http: bool,
    verification_key: str | None,
    verification_key_env: str | None,
    unsigned: bool,
    signing_alg: str,
    key_id: str,
    scope: str | None,
    poll_min: int,
    poll_max: int,
    masks: tuple[str, ...],
    registry_auth_env: str | None,
    labels: tuple[str, ...],
    persistence_dir: str | None,
) -> None:
    """Write the OPA configuration (and mask policy) of a sidecar that pulls the regate
    bundles at REF... from an OCI registry, into the directory OUTPUT.

    Exit status: 0 written, 1 a key cannot be used (nothing written), 2 usage."""
    if poll_max < poll_min:
        raise click.BadParameter("must be at least --poll-min", param_hint="--poll-max")
    if registry_auth_env is not None and not _is_environment_name(registry_auth_env):
        raise click.BadParameter(
            f"{registry_auth_env!r} is not an environment variable name",
            param_hint="--registry-auth-env",
        )
    pairs = []
    for label in labels:
        key, equals, value = label.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{label!r} is not KEY=VALUE", param_hint="--label")
        pairs.append((key, value))
    try:
        sidecar = Sidecar(
            bundles=bundle_sources(references),
            plain_http=plain_http,
            verification=verification(
                verification_key, verification_key_env, unsigned, signing_alg, key_id, scope
            ),
            polling=(poll_min, poll_max),
            masks=masked_fields(masks),
            registry_auth_env=registry_auth_env,
            labels=tuple(pairs),
            persistence_directory=persistence_dir,
        )
    except SidecarError as exc:
        problems = [exc.diagnostic]
    else:
        problems = []
    unwritable = check_output(output, directory=True)
    if unwritable is not None:
        problems.append(unwritable)
    if problems:
        sys.stderr.write(render(problems, {}, "text", __version__))
        sys.exit(1)
    command = run_command(output, bool(sidecar.masks))
    files = {CONFIG_FILE: config_yaml(sidecar, command)}
    if sidecar.masks:
        files[MASK_FILE] = mask_policy(sidecar.masks)
    for name, text in files.items():
        target = str(Path(output, name))
        try:
            write_atomically(target, text.encode())
        except OSError as exc:
            sys.stderr.write(render([write_failed(target, exc)], {}, "text", __version__))
            sys.exit(1)
    click.echo(command)
