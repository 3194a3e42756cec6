"""Pushing a bundle to an OCI registry as OPA pulls it, with oras-py.

OPA's OCI downloader takes the manifest a tag names and activates its one layer
of media type `application/vnd.oci.image.layer.v1.tar+gzip`: the bundle archive
as `regate build` wrote it; the config is `{}` of the image config media type
(OPA's docs, "OCI Registry").  The manifest records the bundle's revision
(`org.opencontainers.image.revision`), and nothing that changes from push to
push: the same bundle pushed twice is the same manifest digest.

Credentials come from the environment (`REGATE_REGISTRY_USERNAME` and
`REGATE_REGISTRY_PASSWORD`) or else from the Docker config that `docker login`
writes (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, including its
credential helpers), never from the command line, where they would end up in
shell histories and process listings.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import oras.auth
import oras.logger
import oras.provider
import requests
from requests.adapters import HTTPAdapter

from compiler.fleet.archive import BundleArchive
from compiler.fleet.reference import Reference

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
REVISION_ANNOTATION = "org.opencontainers.image.revision"
LAYER_TITLE = "bundle.tar.gz"  # fixed, so that the manifest does not depend on the file's name
USERNAME_VARIABLE = "REGATE_REGISTRY_USERNAME"
PASSWORD_VARIABLE = "REGATE_REGISTRY_PASSWORD"
TIMEOUT_SECONDS = 30  # per request: connecting, and waiting for each response


class RegistryError(Exception):
    """The registry could not be reached or refused the push; the message says which."""

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.help = help


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def environment_credentials() -> Credentials | None:
    """`REGATE_REGISTRY_USERNAME`/`REGATE_REGISTRY_PASSWORD`; one without the other is an error."""
    username = os.environ.get(USERNAME_VARIABLE)
    password = os.environ.get(PASSWORD_VARIABLE)
    if username is None and password is None:
        return None
    if not username or not password:
        raise RegistryError(
            f"set both {USERNAME_VARIABLE} and {PASSWORD_VARIABLE}, or neither "
            "(then the Docker config's credentials are used)"
        )
    return Credentials(username, password)


def docker_config_path() -> Path:
    """Where `docker login` keeps credentials."""
    directory = os.environ.get("DOCKER_CONFIG")
    if directory:
        return Path(directory) / "config.json"
    return Path.home() / ".docker" / "config.json"


class _Auth(oras.auth.TokenAuth):  # type: ignore[misc]
    """oras-py's token auth (Docker Hub, GHCR, ECR, Harbor challenge for a bearer
    token), plus registries that challenge for Basic auth (distribution with an
    htpasswd file), and credentials from the environment before the Docker config."""

    def __init__(self) -> None:
        super().__init__()
        self.environment = environment_credentials()

    @property
    def has_credentials(self) -> bool:
        return bool(getattr(self, "_basic_auth", None))

    def load_configs(self, container: Any, configs: list[str] | None = None) -> None:
        if self.environment is not None:
            self.set_basic_auth(self.environment.username, self.environment.password)
            return
        path = docker_config_path()
        super().load_configs(container, configs=[str(path)] if path.is_file() else None)

    def authenticate_request(
        self, original: requests.Response, headers: dict[str, str], refresh: bool = False
    ) -> tuple[dict[str, str], bool]:
        challenge = original.headers.get("Www-Authenticate", "")
        if challenge.lower().startswith("basic"):
            if not self.has_credentials:
                return headers, False
            return {**headers, "Authorization": f"Basic {self._basic_auth}"}, True
        result: tuple[dict[str, str], bool] = super().authenticate_request(
            original, headers, refresh
        )
        return result


oras.auth.auth_backends["regate"] = _Auth


class _Registry(oras.provider.Registry):  # type: ignore[misc]
    """One attempt per request: oras-py retries a failed request five times,
    sleeping 2 + 3**n seconds between them (two minutes before an error shows).
    A publish that fails says why at once; CI decides whether to run it again."""

    def do_request(self, *args: Any, **kwargs: Any) -> requests.Response:
        response: requests.Response = oras.provider.Registry.do_request.__wrapped__(
            self, *args, **kwargs
        )
        return response


class _TimeoutAdapter(HTTPAdapter):
    """requests waits forever by default; a registry that accepts a connection and
    never answers must not hang a publish."""

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(request, stream, timeout or TIMEOUT_SECONDS, verify, cert, proxies)


@contextmanager
def _registry_errors_collected() -> Iterator[list[str]]:
    """oras-py logs the errors a registry sends back (and its progress) to stderr;
    keep them to put in our own message instead."""
    logger = oras.logger.logger
    saved, collected = logger.log_handler, []

    def collect(message: dict[str, Any]) -> None:
        if message.get("level") == "error":
            collected.append(str(message.get("msg")))

    logger.log_handler = [collect]
    try:
        yield collected
    finally:
        logger.log_handler = saved


def _registry(reference: Reference, plain_http: bool) -> _Registry:
    registry = _Registry(hostname=reference.registry, insecure=plain_http, auth_backend="regate")
    for scheme in ("http://", "https://"):
        registry.session.mount(scheme, _TimeoutAdapter())
    return registry


@contextmanager
def _failures_explained(
    registry: _Registry, reference: Reference, plain_http: bool, doing: str
) -> Iterator[None]:
    """What oras-py and requests raise, as a RegistryError that says what to do."""
    with _registry_errors_collected() as errors:
        try:
            yield
        except requests.exceptions.SSLError as exc:
            raise RegistryError(
                f"TLS with {reference.registry} failed: {_reason(exc)}",
                help="a registry served over plain HTTP (on 127.0.0.1, say) needs --plain-http",
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise RegistryError(
                f"cannot connect to {reference.registry}: {_reason(exc)}",
                help=None if plain_http else "a registry on plain HTTP needs --plain-http",
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise RegistryError(
                f"{reference.registry} did not answer within {TIMEOUT_SECONDS} s"
            ) from exc
        except (requests.exceptions.RequestException, ValueError, OSError) as exc:
            raise _refused(
                reference, doing, str(exc), errors, registry.auth.has_credentials
            ) from exc


def push(bundle: BundleArchive, reference: Reference, plain_http: bool) -> str:
    """Push the bundle to `reference` (a tag); the manifest's digest."""
    registry = _registry(reference, plain_http)
    with (
        tempfile.TemporaryDirectory(prefix="regate-publish-") as directory,
        _failures_explained(registry, reference, plain_http, "the push"),
    ):
        layer, config = Path(directory, LAYER_TITLE), Path(directory, "config.json")
        layer.write_bytes(bundle.content)
        config.write_text("{}")
        response = registry.push(
            target=str(reference),
            files=[f"{layer}:{LAYER_MEDIA_TYPE}"],
            manifest_config=f"{config}:{CONFIG_MEDIA_TYPE}",
            manifest_annotations={REVISION_ANNOTATION: bundle.revision},
            disable_path_validation=True,
            quiet=True,
        )
    return str(response.headers.get("Docker-Content-Digest", ""))


def published_revision(reference: Reference, plain_http: bool) -> str:
    """The revision `regate publish` recorded in the manifest `reference` names."""
    registry = _registry(reference, plain_http)
    with _failures_explained(registry, reference, plain_http, "the request"):
        manifest = registry.get_manifest(str(reference))
    revision = (manifest.get("annotations") or {}).get(REVISION_ANNOTATION)
    if not isinstance(revision, str):
        raise RegistryError(
            f"its manifest records no {REVISION_ANNOTATION}: `regate publish` records one"
        )
    return revision


def _refused(
    reference: Reference, doing: str, failure: str, errors: list[str], had_credentials: bool
) -> RegistryError:
    said = f" (the registry says: {'; '.join(errors)})" if errors else ""
    if "Unauthorized" in failure or "authentication" in failure or "Forbidden" in failure:
        what = "refused the credentials" if had_credentials else "asks for credentials"
        return RegistryError(
            f"{reference.registry} {what} for {reference.repository}{said}",
            help=f"log in with `docker login {reference.registry}` (or set DOCKER_CONFIG), "
            f"or set {USERNAME_VARIABLE} and {PASSWORD_VARIABLE}",
        )
    if "Not Found" in failure:
        return RegistryError(f"{reference.registry} has no {reference}{said}")
    return RegistryError(f"{reference.registry} refused {doing}: {failure}{said}")


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests error, which says what happened (refused, reset)."""
    cause: BaseException = exc
    while cause.__context__ is not None and cause.__context__ is not cause:
        cause = cause.__context__
    text = str(cause)
    return text.split("] ", 1)[-1] if "] " in text else text
