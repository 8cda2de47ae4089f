#!/usr/bin/env bash
# Regenerate the route table in docs/write-surface.md from the binary's own
# routing table (proxy/route.c, printed by the hidden --write-surface), so the
# document cannot drift from what the proxy does. tests/unit/test_route.c
# checks the same block.
#
#   docs/gen-write-surface.sh [BINARY] [FILE]
set -euo pipefail
bin=${1:-./ci-wrap}
file=${2:-docs/write-surface.md}
table=$("$bin" --write-surface)
awk -v table="$table" '
	/^<!-- BEGIN ROUTES -->$/ { print; print table; skip = 1; next }
	/^<!-- END ROUTES -->$/ { skip = 0 }
	!skip { print }
' "$file" >"$file.tmp"
mv "$file.tmp" "$file"
