#!/usr/bin/env bash
# For the operator of a fleet: `ci-wrap ls` (table and JSON lines) over live
# sessions of every kind and dead ones, and --metrics-dir's textfile after
# sessions that leak nothing, that OOM, that are reaped, and 8 ending at once.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

GRACE=1s
HOST=$(cat /proc/sys/kernel/hostname)
BOOT=$(cat /proc/sys/kernel/random/boot_id)
# pid_max is at most 4194304: this pid is never alive.
DEAD_OWNER="$HOST/$BOOT/4999999/12345"

# The sample of METRIC (with its labels, exactly) in the textfile FILE.
sample() { # FILE METRIC
	awk -v m="$2" '$1 == m { print $2 }' "$1"
}

assert_sample() { # FILE METRIC WANT
	assert_eq "$2 in $1" "$3" "$(sample "$1" "$2")"
}

promtool_ok() { # FILE
	command -v promtool >/dev/null || fail "promtool not found (scripts/setup.sh installs package prometheus)"
	promtool check metrics <"$1" >"$WORK/promtool" 2>&1 ||
		fail "promtool check metrics $1: $(tr '\n' '|' <"$WORK/promtool")"
}

# The ls row (JSON) of SESSION.
row() { # SESSION
	jq -c --arg s "$1" 'select(.session == $s)' "$WORK/ls.json"
}

field() { # SESSION JQ-EXPR
	row "$1" | jq -r "$2"
}

# Three live sessions: with a pool and a container, without a pool and with a
# volume, hook mode (its shell sleeps); each writes its session id to a file.
start_live_sessions() {
	# "$CI_WRAP" itself in the background (not the cw function, whose
	# subshell a kill would stop instead of ci-wrap).
	"$CI_WRAP" -q --grace "$GRACE" --memory 128m -- sh -c '
		docker run -d "$0" sleep 600 >/dev/null || exit 9
		echo "$CI_WRAP_SESSION" >"$WORK/a"; exec sleep 120' "$IMG" 2>"$WORK/a.err" &
	"$CI_WRAP" -q --grace "$GRACE" --no-cgroup -- sh -c '
		docker volume create >/dev/null || exit 9
		echo "$CI_WRAP_SESSION" >"$WORK/b"; exec sleep 120' 2>"$WORK/b.err" &
	# (start's status is checked on its own: `eval "$(start)" || ...` would
	# see eval's, which is 0 for an empty output.)
	bash -c 'env=$("$CI_WRAP" start --grace 1s) || exit 99
		eval "$env"; [ -n "$CI_WRAP_SESSION" ] || exit 98
		echo "$$" >"$WORK/c.pid"; echo "$CI_WRAP_SESSION" >"$WORK/c"; exec sleep 120' \
		2>"$WORK/c.err" &
	wait_until 30 eval 'test -s "$WORK/a" && test -s "$WORK/b" && test -s "$WORK/c"' ||
		fail "the sessions did not start: $(cat "$WORK"/[abc].err | tr '\n' '|')"
}

# A registry entry whose owner is dead (written last: any ci-wrap that starts
# on this host may reap it), and a session known only by a volume's labels.
make_dead_sessions() { # PREFIX
	local l=("${TL[@]}" --label "ci-wrap.session=$1-lbl" --label "ci-wrap.job=$JOB_ID-fake"
		--label "ci-wrap.owner=$DEAD_OWNER")
	d volume create "${l[@]}" "$1-lbl-v" >/dev/null || fail "docker volume create failed"
	on_cleanup "rm -f /run/ci-wrap/$1-dead.json"
	jq -nc --arg id "$1-dead" --arg job "$JOB_ID-fake" --arg owner "$DEAD_OWNER" \
		'{id: $id, job: $job, owner: $owner, dir: "", cgroup: "", pid: 4999999, command: "make test"}' \
		>"/run/ci-wrap/$1-dead.json"
}

check_ls_json() { # PREFIX
	local a b c
	a=$(cat "$WORK/a") b=$(cat "$WORK/b") c=$(cat "$WORK/c")
	[[ -n $(row "$a") && -n $(row "$b") && -n $(row "$c") ]] || fail "ls --json misses a live session: $(cat "$WORK/ls.json")"
	assert_eq "pool session: state" live "$(field "$a" .state)"
	assert_eq "pool session: manager" cgroupfs "$(field "$a" .manager)"
	assert_eq "pool session: cgroup" "/ci-wrap/$a" "$(field "$a" .cgroup)"
	assert_eq "pool session: memory limit" 134217728 "$(field "$a" .memory_limit_bytes)"
	assert_eq "pool session: containers" 1 "$(field "$a" .containers)"
	assert_match "pool session: command" '^sh -c ' "$(field "$a" .command)"
	assert_eq "pool session: owner alive" true "$(field "$a" .alive)"
	[[ $(field "$a" '.memory_bytes > 0 and .pids > 0 and .cpu_s >= 0') == true ]] ||
		fail "pool session: no usage: $(row "$a")"
	assert_eq "no-pool session: manager" none "$(field "$b" .manager)"
	assert_eq "no-pool session: memory" null "$(field "$b" .memory_bytes)"
	assert_eq "no-pool session: volumes" 1 "$(field "$b" .volumes)"
	assert_eq "hook session: guard pid" "$(cat "$WORK/c.pid")" "$(field "$c" .guard_pid)"
	assert_eq "hook session: state" live "$(field "$c" .state)"
	if [[ -e /run/ci-wrap/$1-dead.json ]]; then
		assert_eq "dead session: state" dead "$(field "$1-dead" .state)"
		assert_eq "dead session: command" "make test" "$(field "$1-dead" .command)"
	else
		log "the dead registry entry was reaped by a ci-wrap that started meanwhile"
	fi
	if d volume inspect "$1-lbl-v" >/dev/null 2>&1; then
		assert_eq "label-only session: registered" false "$(field "$1-lbl" .registered)"
		assert_eq "label-only session: state" dead "$(field "$1-lbl" .state)"
		assert_eq "label-only session: volumes" 1 "$(field "$1-lbl" .volumes)"
	fi
}

check_ls_table() {
	local a wide
	a=$(cat "$WORK/a")
	script -qec "$CI_WRAP ls" /dev/null | tr -d '\r' >"$WORK/table" || fail "ci-wrap ls on a terminal failed"
	head -n 1 "$WORK/table" | grep -q '^SESSION .*OWNER.*STATE.*MEM.*PEAK.*LIMIT.*CPU.*PIDS' ||
		fail "no table header: $(head -n 1 "$WORK/table")"
	wide=$(awk 'length($0) > 100' "$WORK/table")
	[[ -z $wide ]] || fail "lines wider than 100 columns: $wide"
	grep -q "${a: -20} .* live .* 128M " "$WORK/table" || fail "no live row with a 128M limit for $a: $(cat "$WORK/table")"
	grep -q "job $JOB_ID; pool cgroupfs /ci-wrap/" "$WORK/table" || fail "no pool detail line: $(cat "$WORK/table")"
	grep -q 'hook mode, shell pid ' "$WORK/table" || fail "no hook-mode detail line: $(cat "$WORK/table")"
}

t_ls() {
	local u=ciwt-$CIWT_RUN-$RANDOM
	[[ -d /run/ci-wrap ]] || mkdir -p /run/ci-wrap
	start_live_sessions
	make_dead_sessions "$u"
	cw ls --json >"$WORK/ls.json" 2>"$WORK/ls.err" || fail "ci-wrap ls --json failed: $(cat "$WORK/ls.err")"
	[[ $(cw ls | head -c 1) == "{" ]] || fail "ci-wrap ls into a pipe does not print JSON lines"
	check_ls_json "$u"
	check_ls_table
	# End the sessions: the launchers on SIGTERM, the hook session with its shell.
	# shellcheck disable=SC2046 # one pid per word
	kill -TERM $(jobs -p) 2>/dev/null
	wait
}

t_metrics_clean() {
	local m=$WORK/m f
	mkdir "$m"
	cw -q --grace "$GRACE" --metrics-dir "$m" -- sh -c '
		docker volume create >/dev/null && docker run -d "$0" sleep 600 >/dev/null' "$IMG" ||
		fail "first session failed"
	# The second also sends two requests the proxy refuses: a plugin install
	# (a route refused by default) and a create whose body is not JSON.
	CI_WRAP_METRICS_DIR=$m cw -q --grace "$GRACE" -- sh -c '
		docker network create "n$$" >/dev/null
		docker plugin install --grant-all-permissions ciwt/none >/dev/null 2>&1
		curl -s --unix-socket "${DOCKER_HOST#unix://}" -H "Content-Type: application/json" \
			-d "{bad" http://d/volumes/create >/dev/null
		exit 3'
	assert_eq "exit status of the second session" 3 "$?"
	# From the configuration file, like every option; a missing directory is
	# a bad option value.
	echo "metrics-dir = $m" >"$WORK/c.conf"
	CI_WRAP_CONFIG=$WORK/c.conf cw -q -- true || fail "third session (metrics-dir from the file) failed"
	CI_WRAP_CONFIG=$WORK/c.conf cw -q --metrics-dir "$m/nope" -- true 2>"$WORK/bad.err"
	assert_eq "exit status with --metrics-dir naming no directory" 125 "$?"
	assert_match "the error line" "^ci-wrap: invalid --metrics-dir '$m/nope'" "$(head -n 1 "$WORK/bad.err")"
	f=$m/ci-wrap.prom
	[[ -s $f ]] || fail "no $f"
	promtool_ok "$f"
	assert_sample "$f" 'ci_wrap_sessions_ended_total{class="ok"}' 2
	assert_sample "$f" 'ci_wrap_sessions_ended_total{class="failed"}' 1
	for k in container volume network; do
		assert_sample "$f" "ci_wrap_objects_created_total{kind=\"$k\"}" 1
		assert_sample "$f" "ci_wrap_objects_removed_total{kind=\"$k\"}" 1
		assert_sample "$f" "ci_wrap_objects_leaked_total{kind=\"$k\"}" 0
	done
	assert_sample "$f" 'ci_wrap_teardown_duration_seconds_count' 3
	assert_sample "$f" 'ci_wrap_session_memory_peak_bytes_count' 3
	assert_sample "$f" 'ci_wrap_oom_kills_total' 0
	assert_sample "$f" 'ci_wrap_requests_denied_total{reason="policy"}' 1
	assert_sample "$f" 'ci_wrap_requests_denied_total{reason="malformed"}' 1
	assert_sample "$f" 'ci_wrap_requests_denied_total{reason="too_large"}' 0
	(($(sample "$f" ci_wrap_sessions_started_total) >= 3)) || fail "ci_wrap_sessions_started_total < 3"
	grep -q '^# HELP ci_wrap_sessions_ended_total ' "$f" || fail "no HELP line"
	[[ -z $(find "$m" -name '*.tmp') ]] || fail "temporary files left in $m"
}

t_metrics_oom() {
	local m=$WORK/m f oom
	[[ -d /sys/fs/cgroup/memory ]] || [[ -e /sys/fs/cgroup/cgroup.controllers ]] || skip "no memory cgroup"
	mkdir "$m"
	cw -q --grace "$GRACE" --memory 64m --metrics-dir "$m" --report "$WORK/r.json" -- sh -c '
		docker run --rm "$0" dd if=/dev/zero of=/dev/null bs=300M count=1 >/dev/null 2>&1
		exit 0' "$IMG" || fail "the session failed"
	f=$m/ci-wrap.prom
	promtool_ok "$f"
	oom=$(jq -r .cgroup.oom_kills "$WORK/r.json")
	((oom >= 1)) || fail "no OOM kill in the report: $(jq -c .cgroup "$WORK/r.json")"
	assert_sample "$f" ci_wrap_oom_kills_total "$oom"
	assert_sample "$f" 'ci_wrap_objects_created_total{kind="container"}' 1
	assert_sample "$f" 'ci_wrap_session_memory_peak_bytes_bucket{le="16777216"}' 0
	assert_sample "$f" 'ci_wrap_session_memory_peak_bytes_bucket{le="67108864"}' 1
}

t_metrics_reap() {
	local m=$WORK/m f u=ciwt-$CIWT_RUN-$RANDOM l n
	mkdir "$m"
	l=("${TL[@]}" --label "ci-wrap.session=$u-dead" --label "ci-wrap.job=$JOB_ID-fake"
		--label "ci-wrap.owner=$DEAD_OWNER")
	if ! d volume create "${l[@]}" "$u-v1" >/dev/null || ! d volume create "${l[@]}" "$u-v2" >/dev/null ||
		! d network create "${l[@]}" "$u-n" >/dev/null; then
		fail "creating the dead session's objects failed"
	fi
	cw reap --metrics-dir "$m" >"$WORK/reap.out" 2>&1 || fail "ci-wrap reap failed: $(cat "$WORK/reap.out")"
	f=$m/ci-wrap.prom
	n=$(grep -c '^reaping session ' "$WORK/reap.out")
	if ((n == 0)); then
		# Another ci-wrap's start-up sweep got there first.
		d volume inspect "$u-v1" >/dev/null 2>&1 && fail "reap left the dead session: $(cat "$WORK/reap.out")"
		skip "the dead session was swept by another ci-wrap before reap ran"
	fi
	promtool_ok "$f"
	assert_sample "$f" ci_wrap_reaped_sessions_total "$n"
	grep -q "^reaping session $u-dead " "$WORK/reap.out" || skip "the dead session was swept by another ci-wrap"
	(($(sample "$f" 'ci_wrap_reaped_objects_total{kind="volume"}') >= 2)) ||
		fail "reaped volumes < 2: $(grep reaped_objects "$f" | tr '\n' '|')"
	(($(sample "$f" 'ci_wrap_reaped_objects_total{kind="network"}') >= 1)) || fail "reaped networks < 1"
	assert_sample "$f" 'ci_wrap_sessions_ended_total{class="ok"}' 0
}

t_metrics_eight_at_once() {
	local m=$WORK/m f pids=() i rc
	mkdir "$m"
	for i in 1 2 3 4 5 6 7 8; do
		"$CI_WRAP" -q --grace "$GRACE" --metrics-dir "$m" -- sh -c 'docker volume create >/dev/null
			exec sleep 2' &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
		rc=$?
		assert_eq "exit status of a session" 0 "$rc"
	done
	f=$m/ci-wrap.prom
	promtool_ok "$f"
	assert_sample "$f" 'ci_wrap_sessions_ended_total{class="ok"}' 8
	assert_sample "$f" 'ci_wrap_objects_created_total{kind="volume"}' 8
	assert_sample "$f" 'ci_wrap_objects_removed_total{kind="volume"}' 8
	assert_sample "$f" 'ci_wrap_teardown_duration_seconds_count' 8
	assert_sample "$f" 'ci_wrap_teardown_duration_seconds_bucket{le="+Inf"}' 8
	assert_eq "sessions in the state file" 8 "$(jq '.ended.ok' "$m/ci-wrap.state")"
}

tcase ls 90 t_ls
tcase metrics-clean 60 t_metrics_clean
tcase metrics-oom 60 t_metrics_oom
tcase metrics-reap 60 t_metrics_reap
tcase metrics-eight-at-once 90 t_metrics_eight_at_once
