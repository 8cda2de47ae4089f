#!/usr/bin/env bash
# Build the request-path fuzzer (libFuzzer, ASan, UBSan) into build/fuzz/,
# and with "run SECONDS [libFuzzer flags...]" run it that long on the seeds
# in tests/fuzz/corpus (new inputs go to build/fuzz/corpus, crashes to
# build/fuzz/crash-*). Needs clang with the compiler-rt fuzzer runtime
# (Debian: clang, libclang-rt-dev).
#
#   tests/fuzz/build.sh                 # build only
#   tests/fuzz/build.sh run 300         # build, then fuzz for 5 minutes
#   tests/fuzz/build.sh run 3600 -jobs=2 -workers=2
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
libs="-lev $($PKG_CONFIG --libs jansson libcurl) -lm"
# Libraries the modules may use beyond the request path (the pool's
# libcgroup); linked only if present, and only if needed.
for lib in cgroup; do
	if echo 'int main(void){return 0;}' | "$CC" -x c - -l"$lib" -o /dev/null 2>/dev/null; then
		libs="-Wl,--as-needed $libs -l$lib"
	fi
done

mkdir -p "$OUT/obj" "$OUT/corpus"
cflags="-g -O1 -fno-omit-frame-pointer -std=gnu11 -D_GNU_SOURCE \
	-DCI_WRAP_VERSION=\"fuzz\" -I$LLHTTP_INC $($PKG_CONFIG --cflags jansson libcurl)"
objs=()
for src in "${srcs[@]}" "$LLHTTP_SRC"/*.c; do
	obj="$OUT/obj/$(echo "${src#/}" | tr / _).o"
	extra="-Wall -Wextra"
	case $src in
	"$LLHTTP_SRC"/*) extra="-w -DLLHTTP_STRICT_MODE=1" ;; # as the Makefile builds it
	esac
	if [[ ! -e $obj || $src -nt $obj ]]; then
		# shellcheck disable=SC2086
		"$CC" $cflags $extra -fsanitize=fuzzer-no-link,address,undefined \
			-fno-sanitize-recover=all -c -o "$obj" "$src"
	fi
	objs+=("$obj")
done
# shellcheck disable=SC2086
"$CC" $cflags -Wall -Wextra -Werror $SAN -o "$OUT/fuzz_request" tests/fuzz/fuzz_request.c \
	"${objs[@]}" $libs
echo "fuzz: built $OUT/fuzz_request"

if [[ ${1:-} == run ]]; then
	secs=${2:?usage: $0 run SECONDS [libFuzzer flags...]}
	shift 2
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		"$OUT/fuzz_request" -max_total_time="$secs" -max_len=65536 -timeout=10 \
		-dict=tests/fuzz/http.dict -artifact_prefix="$OUT/" -print_final_stats=1 \
		"$@" "$OUT/corpus" tests/fuzz/corpus
fi
