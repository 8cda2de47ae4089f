#!/usr/bin/env bash
# Generate the documentation's option list from the binary, so the docs cannot
# drift from the option table in launcher/cli.c.
#
#   docs/gen-options.sh [BINARY]                 roff .TP entries on stdout
#   docs/gen-options.sh BINARY --update FILE...  rewrite the generated blocks
#   docs/gen-options.sh BINARY --check FILE...   exit 1 if a block is stale
#
# Blocks: in a man page, the lines between `.\" BEGIN OPTIONS` and
# `.\" END OPTIONS` (the .TP entries); in a Markdown file, the lines between
# `<!-- BEGIN HELP -->` and `<!-- END HELP -->` (`ci-wrap --help`, verbatim,
# in a code fence). BINARY defaults to ./ci-wrap.
#
# The entries come from `BINARY --man-options` when the binary has it, else
# from parsing the "Options:" section of `BINARY --help`, whose lines look like
#     "  -q, --quiet              errors only on stderr"
#     "    --memory SIZE          memory limit of the pool: 512m, 4g (default: none)"
set -euo pipefail

BINARY=./ci-wrap
if (($#)) && [[ $1 != --* ]]; then
	BINARY=$1
	shift
fi
[[ -x $BINARY ]] || {
	printf 'gen-options: %s is not executable (run make first)\n' "$BINARY" >&2
	exit 1
}

# Escape text for roff: backslashes, and a leading . or ' (a request).
roff_text() {
	sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

# An option name or argument in roff: hyphens as \-, so they copy and search.
roff_opt() {
	sed -e 's/-/\\-/g'
}

options_from_help() {
	local help line short long arg text
	help=$("$BINARY" --help)
	# Only the "Options:" section: from its heading to the next blank line.
	awk '/^Options:$/ { on = 1; next } on && /^$/ { exit } on' <<<"$help" |
		while IFS= read -r line; do
			# "  -q, --quiet   text" or "    --name ARG   text"
			if [[ $line =~ ^\ +(-([A-Za-z0-9]),\ )?--([a-z][a-z0-9-]*)(\ ([^ ]+))?\ \ +(.*)$ ]]; then
				short=${BASH_REMATCH[2]}
				long=${BASH_REMATCH[3]}
				arg=${BASH_REMATCH[5]}
				text=${BASH_REMATCH[6]}
			else
				printf 'gen-options: cannot parse this --help line: %s\n' "$line" >&2
				return 1
			fi
			printf '.TP\n'
			if [[ -n $short ]]; then
				printf '\\fB\\-%s\\fR, ' "$short"
			fi
			printf '\\fB\\-\\-%s\\fR' "$(roff_opt <<<"$long")"
			if [[ -n $arg ]]; then
				printf ' \\fI%s\\fR' "$(roff_opt <<<"$arg")"
			fi
			printf '\n%s\n' "$(roff_text <<<"$text")"
		done
}

man_options() {
	local out
	if out=$("$BINARY" --man-options 2>/dev/null) && [[ $out == .TP* ]]; then
		printf '%s\n' "$out"
	else
		options_from_help
	fi
}

# shellcheck disable=SC2317 # called through replace_block's GENERATOR
help_block() {
	printf '```\n'
	"$BINARY" --help
	printf '```\n'
}

# Print FILE with the block between BEGIN and END replaced by stdin of GEN.
replace_block() { # FILE BEGIN END GENERATOR
	local file=$1 begin=$2 end=$3 gen=$4 block
	block=$("$gen")
	if ! grep -qxF -- "$begin" "$file" || ! grep -qxF -- "$end" "$file"; then
		printf 'gen-options: %s has no "%s" ... "%s" block\n' "$file" "$begin" "$end" >&2
		return 1
	fi
	# Through the environment: awk -v would eat the backslash of .\"
	BLOCK=$block BEGIN_LINE=$begin END_LINE=$end awk '
		$0 == ENVIRON["BEGIN_LINE"] { print; print ENVIRON["BLOCK"]; skip = 1; next }
		$0 == ENVIRON["END_LINE"] { skip = 0 }
		!skip' "$file"
}

regenerate() { # FILE: print FILE with its generated block brought up to date
	case $1 in
	*.md) replace_block "$1" '<!-- BEGIN HELP -->' '<!-- END HELP -->' help_block ;;
	*) replace_block "$1" '.\" BEGIN OPTIONS' '.\" END OPTIONS' man_options ;;
	esac
}

if (($# == 0)); then
	man_options
	exit 0
fi

mode=$1
shift
case $mode in
--update | --check) ;;
*)
	printf 'usage: %s [BINARY] [--update|--check FILE...]\n' "$0" >&2
	exit 2
	;;
esac
status=0
for file in "$@"; do
	new=$(regenerate "$file") || exit 1
	if [[ $new == "$(<"$file")" ]]; then
		continue
	fi
	if [[ $mode == --check ]]; then
		printf 'gen-options: %s is out of date; run %s %s --update %s\n' \
			"$file" "$0" "$BINARY" "$file" >&2
		status=1
	else
		printf '%s\n' "$new" >"$file"
		printf 'gen-options: updated %s\n' "$file" >&2
	fi
done
exit "$status"
