#!/usr/bin/env bash
# pip-ensure.sh PKG==VERSION...: install PyPI tools the tests run into the
# project's own virtual environment, var/tools/venv, skipping those present.
set -euo pipefail
venv="$(cd "$(dirname "$0")/.." && pwd)/var/tools/venv"
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
echo "installing PyPI tools into var/tools/venv: ${missing[*]}"
"$venv/bin/pip" install -q --disable-pip-version-check "${missing[@]}"
