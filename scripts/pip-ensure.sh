#!/usr/bin/env bash
# pip-ensure.sh [--venv DIR] PKG==VERSION...: install PyPI tools the tests
# run into the project's own virtual environment, var/tools/venv (or DIR,
# relative to the repository root, for a tool whose dependencies must not
# mix with the others'), skipping those present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/var/tools/venv"
if [ "${1:-}" = "--venv" ]; then
  venv="$root/$2"
  shift 2
fi
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
missing=()
for spec in "$@"; do
  name=${spec%%[=<>]*}
  name=${name%%[*}
  want=${spec#*==}
  have=$("$venv/bin/pip" show "$name" 2>/dev/null | sed -n 's/^Version: //p' || true)
  [ "$have" = "$want" ] || missing+=("$spec")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing PyPI tools into ${venv#"$root"/}: ${missing[*]}"
"$venv/bin/pip" install -q --disable-pip-version-check "${missing[@]}"
