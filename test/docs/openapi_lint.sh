#!/usr/bin/env bash
# Lints docs/openapi.yaml with Redocly CLI (pinned below; installed from the
# npm registry into .run/tools/redocly on first use, git-ignored) and its
# recommended rules: any error or warning fails. Run by ctest (docs.openapi).
#   test/docs/openapi_lint.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
# shellcheck source=../../deploy/lib.sh
source "${ROOT}/deploy/lib.sh"

REDOCLY_VERSION=2.77.0
TOOLS="${ROOT}/.run/tools/redocly"
BIN="${TOOLS}/node_modules/.bin/redocly"

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  # Debian's nodejs ships npm in a package of its own
  ensure_packages nodejs npm
fi
installed="$(node -p "require('${TOOLS}/node_modules/@redocly/cli/package.json').version" 2>/dev/null || true)"
if [[ "$installed" != "$REDOCLY_VERSION" ]]; then
  log "installing @redocly/cli@${REDOCLY_VERSION} into ${TOOLS}"
  mkdir -p "$TOOLS"
  npm install --no-audit --no-fund --silent --prefix "$TOOLS" "@redocly/cli@${REDOCLY_VERSION}" >&2
fi
out="$(cd "$ROOT" && NO_UPDATE_NOTIFIER=1 REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "$BIN" lint --format=stylish docs/openapi.yaml 2>&1)" || { printf '%s\n' "$out"; die "redocly lint: errors"; }
# the tool's own banner (its Node.js support) is not about the document
out="$(printf '%s\n' "$out" | grep -v '[║╔╚]' || true)"
printf '%s\n' "$out"
if printf '%s\n' "$out" | grep -qiE 'warning'; then
  die "redocly lint: warnings (the document must lint clean)"
fi
log "redocly lint: docs/openapi.yaml is clean"
