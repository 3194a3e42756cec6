"""Tenant-sized bundles: `regate build --split-by organization|account`.

A sidecar that serves one organisation (or one account) need not hold every
tenant's policies: the 2,000-action bundle of the benchmark keeps a live heap of
about 150 MB whose collections set the decision's p99.  Split, the compiled
program becomes

- one bundle per tenant: the actions at the tenant's NRN or below it, and those
  above it (an organisation's actions apply to each of its accounts), with the
  policies they bind and those policies' waivers; rooted at
  `regate_tenants/<tenant>`, so tenant bundles never overlap;
- the router bundle (`regate.tar.gz`, roots `regate` and
  `regate_tenants/common`): `data.regate.decision` for clients, unchanged, which
  asks the tenant bundle covering the request's NRN (templates/router.rego.j2),
  and the common bundle: the actions above every tenant (NRNs without the
  tenant's segments), which decides requests no tenant bundle covers.

A sidecar pulls the router and the tenants it serves.  Each tenant bundle is the
ordinary emitted bundle moved under its root: the emitted Rego names its
packages `regate...` and reads `data.regate...`; both are rewritten in code,
never inside a string or a comment (a name from the sources reaches Rego only
as a JSON string literal or in a comment, compiler/rego.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from compiler import catalog
from compiler.bundle import bundle_files, json_bytes, tar_gz, write_atomically
from compiler.emit import emit, render
from compiler.ir import BundleIR
from compiler.share import share

# The NRN segments a tenant is named by, from the top.
LEVELS: dict[str, tuple[str, ...]] = {
    "organization": ("organization",),
    "account": ("organization", "account"),
}
TENANTS = "regate_tenants"
COMMON = "common"  # the bundle of actions above every tenant, inside the router bundle
ROUTER = "regate"  # the router bundle's file name and root
EMITTED_ROOT = "regate"


@dataclass(frozen=True)
class Tenant:
    prefix: tuple[str, ...]  # NRN segments: ("organization=1", "account=2"); () for common
    id: str  # a Rego identifier: organization_1_account_2

    @property
    def nrn(self) -> str:
        return ":".join(self.prefix)

    @property
    def root(self) -> str:
        return f"{TENANTS}/{self.id}"


def tenant_prefix(nrn: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    """The NRN's leading segments named by `keys`, as far as they go."""
    prefix = []
    for key, segment in zip(keys, nrn.split(":"), strict=False):
        if segment.split("=", 1)[0] != key:
            break
        prefix.append(segment)
    return tuple(prefix)


def _identifiers(prefixes: list[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    """A Rego identifier per tenant prefix, readable, unique: where two NRNs slug
    alike (`organization=a-b`, `organization=a_b`), each gets a hash of its NRN."""
    slugs = {p: re.sub(r"[^a-z0-9]+", "_", ":".join(p).lower()).strip("_") for p in prefixes}
    taken = list(slugs.values())
    return {
        p: slug if taken.count(slug) == 1 and slug != COMMON
        else f"{slug}_{hashlib.sha256(':'.join(p).encode()).hexdigest()[:8]}"
        for p, slug in slugs.items()
    }  # fmt: skip


def tenants(ir: BundleIR, split_by: str) -> list[Tenant]:
    """The tenants the program's actions name, common first, then by NRN."""
    keys = LEVELS[split_by]
    prefixes = sorted(
        {tenant_prefix(nrn, keys) for by_nrn in _actions(ir).values() for nrn in by_nrn} - {()}
    )
    ids = _identifiers(prefixes)
    return [Tenant((), COMMON), *(Tenant(p, ids[p]) for p in prefixes)]


def _actions(ir: BundleIR) -> dict[str, dict[str, list[Any]]]:
    lowered = ir.catalog
    assert isinstance(lowered, dict)
    actions: dict[str, dict[str, list[Any]]] = lowered["actions"]
    return actions


def tenant_ir(ir: BundleIR, tenant: Tenant, keys: tuple[str, ...]) -> BundleIR:
    """The lowered program as one tenant's sidecar needs it: the actions at the
    tenant's NRN or below, and above it, and the rules their catalog entries name
    (policies, selectors, checklist items).  The rest of the catalog (the finding
    exceptions) is kept as it is."""

    def applies(nrn: str) -> bool:
        owner = tenant_prefix(nrn, keys)
        return tenant.prefix[: len(owner)] == owner  # the tenant's own, or above it

    actions = {
        name: kept
        for name, by_nrn in _actions(ir).items()
        if (kept := {nrn: entries for nrn, entries in by_nrn.items() if applies(nrn)})
    }
    # A decision reaches a rule only by a name its action's entry holds (`rule`,
    # a checklist item's `applies`, ...): keep every rule the entries name.
    named = set(_strings(actions))
    rules = {p.rule for m in ir.modules for p in m.policies} & named
    modules = tuple(
        replace(module, policies=bound)
        for module in ir.modules
        if (bound := tuple(p for p in module.policies if p.rule in rules))
    )
    lowered = ir.catalog
    assert isinstance(lowered, dict)
    return replace(ir, modules=modules, catalog={**lowered, "actions": actions})


def _strings(value: object) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# A token of emitted Rego: a string, a raw string, a comment, or code between them.
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|#[^\n]*|[^"`#]+|.', re.S)
_REFERENCES = re.compile(r"\b(data\.|package )regate\b")


def moved(text: str, tenant: Tenant) -> str:
    """Emitted Rego with its packages and data references under the tenant's root."""
    package = f"{TENANTS}.{tenant.id}"

    def code(token: str) -> str:
        if token[0] in '"`#':
            return token
        return _REFERENCES.sub(lambda m: m.group(1) + package, token)

    return "".join(code(m.group(0)) for m in _TOKENS.finditer(text))


def _moved_files(files: Mapping[str, bytes], tenant: Tenant) -> dict[str, bytes]:
    rooted = {}
    for path, content in files.items():
        top, _, rest = path.partition("/")
        assert top == EMITTED_ROOT, path
        if path.endswith(".rego"):
            content = moved(content.decode(), tenant).encode()
        rooted[f"{tenant.root}/{rest}"] = content
    return rooted


@dataclass(frozen=True)
class SplitBundle:
    name: str  # the file name without .tar.gz: `regate` (the router) or the tenant's id
    nrn: str  # the NRN the bundle covers; "" for the router
    files: dict[str, bytes]
    actions: int  # approval actions in it

    @property
    def revision(self) -> str:
        return str(json.loads(self.files[".manifest"])["revision"])


def split_bundles(ir: BundleIR, split_by: str, extra: Mapping[str, bytes]) -> list[SplitBundle]:
    """The router bundle, then each tenant's.  `extra` goes into every bundle (the
    input schema)."""
    keys = LEVELS[split_by]
    found = tenants(ir, split_by)
    bundles = []
    for tenant in found:
        owned = share(tenant_ir(ir, tenant, keys))
        files = _moved_files(emit(owned), tenant)
        actions = sum(
            len(entries) for by_nrn in _actions(owned).values() for entries in by_nrn.values()
        )
        if tenant.id == COMMON:
            by_nrn = {t.nrn: t.id for t in found if t.id != COMMON}
            files["regate/router.rego"] = render("router.rego.j2", split_by=split_by).encode()
            files["regate/tenants/data.json"] = json_bytes({"by_nrn": by_nrn, "split_by": split_by})
            data = catalog.runtime(owned.catalog)
            bundle = bundle_files(files, data, tenant.root, other_roots=(ROUTER,))
            bundles.append(SplitBundle(ROUTER, "", {**bundle, **extra}, actions))
        else:
            bundle = bundle_files(files, catalog.runtime(owned.catalog), tenant.root)
            bundles.append(SplitBundle(tenant.id, tenant.nrn, {**bundle, **extra}, actions))
    return bundles


INDEX = "bundles.json"


def write_split(bundles: list[SplitBundle], directory: str) -> list[str]:
    """Write each bundle to DIRECTORY/<name>.tar.gz (atomically) and the index
    DIRECTORY/bundles.json; a bundle the previous index lists that this build no
    longer makes is removed, so that publishing the directory's bundles never
    pushes a tenant that is gone.  The lines that say what was written."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(20, "with --split-by, the output is a directory")
    stale = set(_indexed(target / INDEX)) - {b.name for b in bundles}
    lines = []
    for bundle in bundles:
        path = target / f"{bundle.name}.tar.gz"
        write_atomically(str(path), tar_gz(bundle.files))
        what = (
            f"the router, and {bundle.actions} actions above every tenant"
            if bundle.name == ROUTER
            else f"{bundle.nrn}, {bundle.actions} actions"
        )
        lines.append(f"{path}: {what}, revision {bundle.revision}")
    for name in sorted(stale):
        (target / f"{name}.tar.gz").unlink(missing_ok=True)
        lines.append(f"{target / f'{name}.tar.gz'}: removed, no action is at or above its NRN now")
    index = {b.name: {"nrn": b.nrn, "revision": b.revision, "actions": b.actions} for b in bundles}
    write_atomically(str(target / INDEX), json_bytes({"bundles": index}))
    return lines


def _indexed(index: Path) -> list[str]:
    """The bundle names a previous split wrote; none when there is no readable index."""
    try:
        found = json.loads(index.read_text(encoding="utf-8"))["bundles"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    names = [n for n in found if isinstance(n, str) and re.fullmatch(r"[a-z0-9_]+", n)]
    return names
