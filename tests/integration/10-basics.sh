#!/usr/bin/env bash
# The command line, exit statuses and what the wrapped command sees.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

t_help() {
	cw --help >"$WORK/out" 2>"$WORK/err"
	assert_eq "exit status of ci-wrap --help" 0 "$?"
	grep -qi 'usage' "$WORK/out" || fail "--help: no usage on stdout: $(head -c 200 "$WORK/out")"
	grep -q -- '--memory' "$WORK/out" || fail "--help does not list --memory"
	[[ ! -s $WORK/err ]] || fail "--help wrote to stderr: $(head -c 200 "$WORK/err")"
}

t_version() {
	cw --version >"$WORK/out" 2>"$WORK/err"
	assert_eq "exit status of ci-wrap --version" 0 "$?"
	grep -q '[0-9]' "$WORK/out" || fail "--version printed no version: '$(head -c 200 "$WORK/out")'"
}

# ci-wrap OPTIONS -- touch MARKER must exit 125 with one "ci-wrap: ..." line on
# stderr (optionally followed by util-linux's "Try 'ci-wrap --help'" hint) and
# never run the command.
refused() {
	local rc
	cw "$@" -- touch "$WORK/marker" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	log "ci-wrap $* -- touch: status $rc; stderr:"
	sed 's/^/#   /' "$WORK/err" >&2
	assert_eq "exit status of ci-wrap $*" 125 "$rc"
	[[ ! -e $WORK/marker ]] || fail "ci-wrap $*: the command ran despite the bad option"
	[[ ! -s $WORK/out ]] || fail "ci-wrap $*: wrote to stdout: $(head -c 200 "$WORK/out")"
	local n_msg n_other
	n_msg=$(grep -c '^ci-wrap: ' "$WORK/err")
	n_other=$(grep -v '^ci-wrap: ' "$WORK/err" | grep -vc "^Try 'ci-wrap --help'")
	[[ $n_msg == 1 && $n_other == 0 ]] ||
		fail "ci-wrap $*: stderr should be one 'ci-wrap: ...' line, got: $(tr '\n' '|' <"$WORK/err" | head -c 300)"
}

t_bad_memory() { refused --memory lots; }
t_bad_grace() { refused --grace xyz; }
t_bad_cpus() { refused --cpus many; }
t_bad_pids() { refused --pids -5; }
t_bad_label() { refused --label novalue; }
t_unknown_option() { refused --no-such-option; }
t_missing_value() { refused --memory; }

t_no_command() {
	local rc
	cw >"$WORK/out" 2>"$WORK/err"
	rc=$?
	assert_eq "exit status of ci-wrap without a command" 125 "$rc"
	grep -q '^ci-wrap: ' "$WORK/err" || fail "no 'ci-wrap: ' message on stderr: $(head -c 200 "$WORK/err")"
}

t_exit_status() {
	local want
	for want in 0 3 255; do
		cw -q -- sh -c "exit $want" 2>"$WORK/err"
		assert_eq "exit status of ci-wrap -- sh -c 'exit $want'" "$want" "$?"
	done
}

t_signal_status() {
	cw -q -- sh -c 'kill -TERM $$' 2>"$WORK/err"
	assert_eq "exit status of ci-wrap -- sh -c 'kill -TERM \$\$'" 143 "$?"
	cw -q -- sh -c 'kill -KILL $$' 2>"$WORK/err"
	assert_eq "exit status of ci-wrap -- sh -c 'kill -KILL \$\$'" 137 "$?"
}

t_not_found() {
	cw -q -- /nonexistent 2>"$WORK/err"
	assert_eq "exit status of ci-wrap -- /nonexistent" 127 "$?"
	cw -q -- ciwt-no-such-command-anywhere 2>"$WORK/err"
	assert_eq "exit status of ci-wrap -- ciwt-no-such-command-anywhere (PATH lookup)" 127 "$?"
}

t_not_executable() {
	cw -q -- /etc/passwd 2>"$WORK/err"
	assert_eq "exit status of ci-wrap -- /etc/passwd" 126 "$?"
	cw -q -- /tmp 2>"$WORK/err"
	assert_eq "exit status of ci-wrap -- /tmp (a directory)" 126 "$?"
}

t_stdio_passthrough() {
	local out
	out=$(printf 'line one\nline two\n' | cw -q -- cat 2>"$WORK/err")
	assert_eq "stdin to stdout through ci-wrap -- cat" $'line one\nline two' "$out"
	out=$(cw -q -- sh -c 'echo to-stderr >&2' 2>&1 >/dev/null)
	[[ $out == *to-stderr* ]] || fail "the command's stderr did not reach ci-wrap's stderr: '$out'"
}

# Runs as ci-wrap's command.
inner_env() {
	local sock dir mode owner
	[[ ${DOCKER_HOST:-} == unix://* ]] || fail "DOCKER_HOST does not start with unix://: '${DOCKER_HOST:-}'"
	sock=${DOCKER_HOST#unix://}
	[[ -S $sock ]] || fail "DOCKER_HOST socket $sock is not a socket"
	[[ $sock != /var/run/docker.sock && $sock != "${CIWT_DOCKER_HOST#unix://}" ]] ||
		fail "DOCKER_HOST points at the real daemon: $sock"
	dir=$(dirname "$sock")
	mode=$(stat -c %a "$dir")
	owner=$(stat -c %u "$dir")
	assert_eq "mode of the socket directory $dir" 700 "$mode"
	assert_eq "owner of the socket directory $dir" "$(id -u)" "$owner"
	[[ -n ${CI_WRAP_SESSION:-} ]] || fail "CI_WRAP_SESSION is not set"
	local v
	for v in DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH; do
		[[ -z ${!v+set} ]] || fail "$v is set in the child: '${!v}'"
	done
	echo "$sock" >"$WORK/sock"
	echo "$CI_WRAP_SESSION" >"$WORK/session"
}

t_child_env() {
	DOCKER_CONTEXT=ciwt-no-such-context DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=/nonexistent \
		cw_inner -q -- inner_env 2>"$WORK/err"
	local rc=$?
	((rc == 0)) || fail "the command's checks failed (status $rc): $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	local dir
	dir=$(dirname "$(cat "$WORK/sock")")
	[[ ! -e $dir ]] || fail "socket directory $dir still exists after ci-wrap exited"
}

t_sessions_unique() {
	local a b
	# shellcheck disable=SC2016 # expanded by the command's shell
	a=$(cw -q -- sh -c 'echo "$CI_WRAP_SESSION"' 2>"$WORK/err")
	# shellcheck disable=SC2016
	b=$(cw -q -- sh -c 'echo "$CI_WRAP_SESSION"' 2>"$WORK/err")
	[[ -n $a && $a != "$b" ]] || fail "two runs got session ids '$a' and '$b'"
}

t_docker_version() {
	local want got
	want=$(d version --format '{{.Server.Version}} {{.Server.APIVersion}}') ||
		fail "docker version on the real daemon failed"
	# TLS or context settings from outside must not steer the CLI away from the
	# proxy (with DOCKER_TLS_VERIFY=1 the CLI wants certificates).
	got=$(DOCKER_CONTEXT=ciwt-no-such-context DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=/nonexistent \
		cw -q -- docker version \
		--format '{{.Server.Version}} {{.Server.APIVersion}}' 2>"$WORK/err")
	local rc=$?
	((rc == 0)) || fail "ci-wrap -- docker version: status $rc: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	assert_eq "server version seen through ci-wrap" "$want" "$got"
}

tcase help 20 t_help
tcase version 20 t_version
tcase bad-memory 20 t_bad_memory
tcase bad-grace 20 t_bad_grace
tcase bad-cpus 20 t_bad_cpus
tcase bad-pids 20 t_bad_pids
tcase bad-label 20 t_bad_label
tcase unknown-option 20 t_unknown_option
tcase missing-value 20 t_missing_value
tcase no-command 20 t_no_command
tcase exit-status 60 t_exit_status
tcase signal-status 60 t_signal_status
tcase not-found 60 t_not_found
tcase not-executable 60 t_not_executable
tcase stdio-passthrough 60 t_stdio_passthrough
tcase child-env 60 t_child_env
tcase sessions-unique 60 t_sessions_unique
tcase docker-version 60 t_docker_version
