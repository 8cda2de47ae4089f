#!/usr/bin/env bash
# Build the Debian package (`make deb`) from a copy of the tracked files as
# they are in the work tree, so that dpkg-buildpackage leaves the tree clean.
#
#   scripts/build-deb.sh OUTDIR
#
# The copy gets a .commit file (git describe --always --dirty of the tree), as
# it has no .git: ci-wrap --version names the commit it was built from. The
# .deb goes to OUTDIR; its path is the last line printed.
set -euo pipefail

out=${1:?usage: scripts/build-deb.sh OUTDIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v dpkg-buildpackage >/dev/null || {
	echo "build-deb: dpkg-buildpackage not found (scripts/setup.sh installs dpkg-dev and debhelper)" >&2
	exit 1
}
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d /tmp/ci-wrap-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/ci-wrap
mkdir "$src"
# Tracked and new (not ignored) files as they are now, deleted ones skipped.
(cd "$root" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
	[[ -e $f ]] && printf '%s\0' "$f"
done | tar --null -T - -cf -) | tar -xf - -C "$src"
(cd "$root" && git describe --always --dirty 2>/dev/null || echo unknown) >"$src/.commit"
(cd "$src" && dpkg-buildpackage -us -uc -b >"$tmp/build.log" 2>&1) || {
	tail -n 40 "$tmp/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (log above)" >&2
	exit 1
}
deb=$(cd "$tmp" && ls ci-wrap_*.deb)
cp "$tmp/$deb" "$out/"
echo "$out/$deb"
