#!/usr/bin/env bash
# fuzz.sh — run every Go fuzz target in the module for FUZZTIME each
# (`make fuzz`). Targets are discovered with `go test -list`, so a new
# FuzzXxx function is picked up without editing anything.
#
# FUZZ_TARGETS (space-separated names) runs only those (`make fuzz-long`);
# a name no package has fails the run, so a renamed target is not
# silently dropped from the list.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZTIME=${FUZZTIME:-30s}
FUZZ_TARGETS=${FUZZ_TARGETS:-}
GO=${GO:-go}
status=0
declare -A found=()
for pkg in $("$GO" list ./...); do
	for target in $("$GO" test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		if [[ -n $FUZZ_TARGETS && " $FUZZ_TARGETS " != *" $target "* ]]; then
			continue
		fi
		found[$target]=1
		echo "== $pkg $target ($FUZZTIME)"
		if ! "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"; then
			status=1
		fi
	done
done
for target in $FUZZ_TARGETS; do
	if [[ -z ${found[$target]:-} ]]; then
		echo "fuzz.sh: no package has a fuzz target named $target" >&2
		status=1
	fi
done
exit $status
