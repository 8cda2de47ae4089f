#!/usr/bin/env bash
# bench/stall.sh - GET /_ping latency on one connection while a second one's
# big container create body is rewritten (bench/stall.c), for this tree and
# for a revision to compare with (default: the commit before proxy/worker.c
# came in, when the loop did every rewrite itself).
#
#   bench/stall.sh [--before REV] [-b MIB] [-r ROUNDS]
#
# Each proxy is built from its own tree (the revision's from `git archive`,
# under bench/build/) and run in-process in front of /var/run/docker.sock;
# the create names an image that does not exist, so the daemon makes
# nothing. Prints bench/stall.c's JSON lines, each tagged with its tree.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=$HERE/build
before=$(git -C "$ROOT" rev-parse "$(git -C "$ROOT" log --format=%H --diff-filter=A -1 -- proxy/worker.c)^")
args=()
while (($#)); do
	case $1 in
	--before) before=$(git -C "$ROOT" rev-parse "$2"); shift 2 ;;
	*) args+=("$1"); shift ;;
	esac
done

# Build TREE's objects with its own Makefile, then stall.c against them.
build_stall() { # TREE OUT
	local tree=$1 out=$2 objs=() o
	make -C "$tree" -s -j2 COMMIT=bench ci-wrap >/dev/null
	for o in "$tree"/build/{common,proxy,launcher,cgroup,llhttp}/*.o; do
		[[ $o == */launcher/main.o ]] || objs+=("$o")
	done
	# shellcheck disable=SC2046
	${CC:-cc} -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -I/usr/share/include/llhttp \
		$(pkg-config --cflags jansson) -o "$out" "$tree/bench/stall.c" "${objs[@]}" \
		-lev -lcgroup $(pkg-config --libs jansson) -lm -ldl -pthread
}

mkdir -p "$BUILD"
old=$BUILD/stall-tree-${before:0:7}
if [[ ! -d $old ]]; then
	mkdir -p "$old"
	git -C "$ROOT" archive "$before" | tar -x -C "$old"
fi
cp "$HERE/stall.c" "$old/bench/stall.c"
build_stall "$old" "$BUILD/stall-before"
build_stall "$ROOT" "$BUILD/stall-after"
for which in before after; do
	rev=${before:0:7}
	[[ $which == after ]] && rev=$(git -C "$ROOT" describe --always --dirty)
	"$BUILD/stall-$which" "${args[@]}" | sed "s/^{/{\"tree\":\"$which $rev\",/"
done
