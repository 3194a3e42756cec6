#!/usr/bin/env bash
# Installs what regate's commands and tests need, into the checkout only:
#   .venv/        Python virtual environment with regate (editable) and its test deps
#   .tools/bin/   a pinned, real OPA built with `go install`
#   chromium      Debian's, for the browser tests (tests/editor), when missing and root
# Idempotent and quick when everything is already there.  Source it or run it.
set -euo pipefail

OPA_VERSION="v1.22.2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $($python --version)" >&2
  "$python" -m venv .venv
fi
stamp=.venv/.regate-deps
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing Python dependencies" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  touch "$stamp"
fi

opa=.tools/bin/opa
# Read the version first: `opa version | grep -q` can fail under pipefail when grep exits early.
installed="$("$opa" version 2>/dev/null || true)"
if [ ! -x "$opa" ] || ! grep -q "^Version: ${OPA_VERSION#v}$" <<<"$installed"; then
  if ! command -v go >/dev/null 2>&1; then
    echo "bootstrap: Go is needed to install OPA ${OPA_VERSION} (go install); install Go first" >&2
    exit 1
  fi
  echo "bootstrap: installing OPA ${OPA_VERSION} with go install (the first build takes minutes)" >&2
  mkdir -p .tools/bin
  GOBIN="$root/.tools/bin" GOFLAGS=-mod=mod go install "github.com/open-policy-agent/opa@${OPA_VERSION}"
fi

# The browser tests drive Debian's chromium with Playwright (never Playwright's own browser
# downloads).  REGATE_CHROMIUM names another binary.
if [ -z "${REGATE_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing Debian's chromium with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "bootstrap: the browser tests need chromium: apt-get install chromium, as root" >&2
  fi
fi
