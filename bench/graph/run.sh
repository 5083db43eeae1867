#!/usr/bin/env bash
# Graph sign-in paging at scale: 100,000 sign-ins over 100 pages from the
# loopback mock tenant, against 1,000 in one page of the same size; time and
# peak resident memory of each, and their ratio (memory must not grow with
# the row count).
#
#   bash bench/graph/run.sh [BUILD_DIR]      (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
bench="$build/tests/graph_bench"
[ -x "$bench" ] || { echo "bench: $bench not built (cmake --build $build --target graph_bench)" >&2; exit 2; }
"$bench"
