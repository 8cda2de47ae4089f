#!/usr/bin/env bash
# Build the fuzzers (libFuzzer, ASan, UBSan) into build/fuzz/: fuzz_request
# (parse, route, rewrite of one request), fuzz_relay (a client's byte
# stream through the real relay to a model of the daemon's Go server),
# fuzz_framing (llhttp's framing of a byte stream, as the proxy runs it,
# against a model of Go's net/http framing), fuzz_filter (a list answer
# streamed through the isolation filter in pieces, against jansson and
# owner_list_filter() on the whole) and fuzz_buildctx (a build context read
# as it streams, whatever its cut points). With
# "run SECONDS [TARGET] [libFuzzer flags...]" run TARGET (fuzz_request by
# default) that long on its seeds, tests/fuzz/corpus (fuzz_request) or
# tests/fuzz/corpus-relay (fuzz_relay) or tests/fuzz/corpus-framing
# (fuzz_framing) or tests/fuzz/corpus-filter (fuzz_filter, with a JSON
# dictionary instead of the HTTP one) or tests/fuzz/corpus-buildctx
# (fuzz_buildctx, without a dictionary); new inputs go to
# build/fuzz/corpus-TARGET, crashes to build/fuzz/crash-*. Needs clang with
# the compiler-rt fuzzer runtime (Debian: clang, libclang-rt-dev).
#
#   tests/fuzz/build.sh                          # build only
#   tests/fuzz/build.sh run 300                  # fuzz_request for 5 minutes
#   tests/fuzz/build.sh run 600 fuzz_relay -fork=2 -ignore_crashes=1
set -euo pipefail

cd "$(dirname "$0")/../.."
CC=${CC_FUZZ:-clang}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
LLHTTP_SRC=${LLHTTP_SRC:-/usr/share/llhttp}
LLHTTP_INC=${LLHTTP_INC:-/usr/share/include/llhttp}
OUT=build/fuzz
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"

if ! command -v "$CC" >/dev/null; then
	echo "fuzz: $CC not found (apt-get install clang libclang-rt-dev)" >&2
	exit 1
fi

# Every module but the launcher's main(), which would clash with libFuzzer's.
mapfile -t srcs < <(ls common/*.c proxy/*.c launcher/*.c cgroup/*.c 2>/dev/null |
	grep -v '^launcher/main\.c$')
libs="-lev $($PKG_CONFIG --libs jansson libcurl) -lz -lm"
# Libraries the modules may use beyond the request path (the pool's
# libcgroup); linked only if present, and only if needed.
for lib in cgroup; do
	if echo 'int main(void){return 0;}' | "$CC" -x c - -l"$lib" -o /dev/null 2>/dev/null; then
		libs="-Wl,--as-needed $libs -l$lib"
	fi
done

mkdir -p "$OUT/obj" "$OUT/include"
# cli.c includes the version.h the Makefile writes; the fuzz build has its own.
printf '#define CI_WRAP_VERSION "fuzz"\n#define CI_WRAP_COMMIT "fuzz"\n' >"$OUT/include/version.h"
cflags="-g -O1 -fno-omit-frame-pointer -std=gnu11 -D_GNU_SOURCE \
	-I$OUT/include -I$LLHTTP_INC $($PKG_CONFIG --cflags jansson libcurl)"
# Objects are rebuilt when their source or any project header changed.
newest_h=$(ls -t common/*.h proxy/*.h launcher/*.h cgroup/*.h 2>/dev/null | head -n 1)
objs=()
for src in "${srcs[@]}" "$LLHTTP_SRC"/*.c; do
	obj="$OUT/obj/$(echo "${src#/}" | tr / _).o"
	extra="-Wall -Wextra"
	case $src in
	"$LLHTTP_SRC"/*) extra="-w -DLLHTTP_STRICT_MODE=1" ;; # as the Makefile builds it
	esac
	if [[ ! -e $obj || $src -nt $obj || $newest_h -nt $obj ]]; then
		# shellcheck disable=SC2086
		"$CC" $cflags $extra -fsanitize=fuzzer-no-link,address,undefined \
			-fno-sanitize-recover=all -c -o "$obj" "$src"
	fi
	objs+=("$obj")
done
for target in fuzz_request fuzz_relay fuzz_framing fuzz_filter fuzz_buildctx; do
	# shellcheck disable=SC2086
	"$CC" $cflags -Wall -Wextra -Werror $SAN -o "$OUT/$target" "tests/fuzz/$target.c" \
		"${objs[@]}" $libs
	echo "fuzz: built $OUT/$target"
done

if [[ ${1:-} == run ]]; then
	secs=${2:?usage: $0 run SECONDS [TARGET] [libFuzzer flags...]}
	shift 2
	target=fuzz_request
	if [[ $# -gt 0 && $1 != -* ]]; then
		target=$1
		shift
	fi
	seeds=tests/fuzz/corpus
	[[ $target == fuzz_relay ]] && seeds=tests/fuzz/corpus-relay
	[[ $target == fuzz_framing ]] && seeds=tests/fuzz/corpus-framing
	dict=(-dict=tests/fuzz/http.dict)
	if [[ $target == fuzz_filter ]]; then
		seeds=tests/fuzz/corpus-filter
		dict=(-dict="$OUT/json.dict")
		# The label paths' keys, spellings jansson decodes to them, and
		# the grammar's edges.
		printf '%s\n' '"\"ci-wrap.session\":"' '"\"s1\""' '"\"s2\""' '"\"Labels\":"' \
			'"\"Spec\":"' '"\"Volumes\":"' '"ci-wrap\\u002esession"' '"\\u0073"' \
			'"\\ud83d\\ude00"' '"\\u0000"' '"\xc3\xa9"' '"\xf0\x9f\x98\x80"' '"true"' \
			'"false"' '"null"' '"-0.5e+3"' '"{}"' '"[]"' '",{"' '"},"' >"$OUT/json.dict"
	elif [[ $target == fuzz_buildctx ]]; then
		seeds=tests/fuzz/corpus-buildctx
		dict=()
	fi
	mkdir -p "$OUT/corpus-$target"
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		"$OUT/$target" -max_total_time="$secs" -max_len=65536 -timeout=10 \
		${dict[@]+"${dict[@]}"} -artifact_prefix="$OUT/" -print_final_stats=1 \
		"$@" "$OUT/corpus-$target" "$seeds"
fi
