#!/usr/bin/env bash
# ntc-templates.sh VERSION: install the TextFSM templates of the PyPI
# package ntc-templates into var/ntc-templates/templates (with its index
# file), where `meshq parse` looks for them by default
# (MESHQ_NTC_TEMPLATES points elsewhere). Skipped when that version is
# there already, so a warm machine does not touch the network.
set -euo pipefail
version=${1:?usage: ntc-templates.sh VERSION}
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/var/ntc-templates"
if [ "$(cat "$dest/VERSION" 2>/dev/null || true)" = "$version" ] && [ -f "$dest/templates/index" ]; then
  exit 0
fi
# The package's Python wrapper and its textfsm dependency are not needed:
# only the templates are, so pip installs the package alone into a scratch
# directory, with pip from the project's own virtual environment.
venv="$root/var/tools/venv"
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
tmp=$(mktemp -d "$root/var/.ntc-templates.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "installing ntc-templates $version into var/ntc-templates"
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps --target "$tmp/pkg" "ntc-templates==$version"
[ -f "$tmp/pkg/ntc_templates/templates/index" ] || { echo "ntc-templates $version has no templates/index" >&2; exit 1; }
mkdir -p "$tmp/out"
mv "$tmp/pkg/ntc_templates/templates" "$tmp/out/templates"
cp "$tmp"/pkg/ntc_templates-*.dist-info/licenses/LICENSE "$tmp/out/LICENSE" 2>/dev/null ||
  cp "$tmp"/pkg/ntc_templates-*.dist-info/LICENSE "$tmp/out/LICENSE" 2>/dev/null || true
echo "$version" >"$tmp/out/VERSION"
# Replace the old copy as a whole, so a reader never sees half of one.
rm -rf "$dest.old"
[ -d "$dest" ] && mv "$dest" "$dest.old"
mv "$tmp/out" "$dest"
rm -rf "$dest.old"
