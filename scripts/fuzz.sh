#!/usr/bin/env bash
# fuzz.sh — run every Go fuzz target in the module for FUZZTIME each
# (`make fuzz`). Targets are discovered with `go test -list`, so a new
# FuzzXxx function is picked up without editing anything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZTIME=${FUZZTIME:-30s}
GO=${GO:-go}
status=0
for pkg in $("$GO" list ./...); do
	for target in $("$GO" test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "== $pkg $target ($FUZZTIME)"
		if ! "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"; then
			status=1
		fi
	done
done
exit $status
