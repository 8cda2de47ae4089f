#!/usr/bin/env bash
# The cgroup pool: limits, placement of the command and its containers, OOM
# inside the pool, pids limit, stray processes, removal, the report, --no-cgroup.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

GRACE=1s

# The pool directories of SESSION still present under any hierarchy.
pool_dirs() { # SESSION
	compgen -G "/sys/fs/cgroup/*/ci-wrap/$1" 2>/dev/null
	[[ -d /sys/fs/cgroup/ci-wrap/$1 ]] && echo "/sys/fs/cgroup/ci-wrap/$1"
	return 0
}

no_pool_left() { # SESSION WHEN
	local left
	left=$(pool_dirs "$1")
	[[ -z $left ]] || fail "pool of session $1 left $2: $(tr '\n' ' ' <<<"$left")"
}

session_containers() { d ps -aq --filter "label=ci-wrap.session=$1"; }

need_v1() {
	[[ -d /sys/fs/cgroup/memory ]] || skip "these checks are written for cgroup v1 (no /sys/fs/cgroup/memory)"
}

inner_limits() {
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	assert_eq "CI_WRAP_CGROUP" "/ci-wrap/$CI_WRAP_SESSION" "${CI_WRAP_CGROUP:-}"
	local cg=$CI_WRAP_CGROUP
	assert_eq "memory cgroup of the command" "$cg/job" "$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)"
	assert_eq "pids cgroup of the command" "$cg/job" "$(sed -n 's/^[0-9]*:pids://p' /proc/self/cgroup)"
	assert_eq "memory.limit_in_bytes (--memory 64m)" 67108864 "$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes")"
	assert_eq "cpu.cfs_quota_us (--cpus 0.5)" 50000 "$(cat "/sys/fs/cgroup/cpu$cg/cpu.cfs_quota_us")"
	assert_eq "cpu.cfs_period_us" 100000 "$(cat "/sys/fs/cgroup/cpu$cg/cpu.cfs_period_us")"
	assert_eq "pids.max (--pids 64)" 64 "$(cat "/sys/fs/cgroup/pids$cg/pids.max")"
	local inside
	inside=$(docker run --rm "$IMG" sh -c 'sed -n "s/^[0-9]*:memory://p" /proc/self/cgroup') ||
		fail "docker run through the proxy failed"
	[[ $inside == "$cg/"?* ]] || fail "memory cgroup of a container is '$inside', expected under '$cg/'"
}

t_limits() {
	need_v1
	cw_inner -q --grace "$GRACE" --memory 64m --cpus 0.5 --pids 64 -- inner_limits 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	no_pool_left "$(cat "$WORK/session")" "after ci-wrap exited"
}

inner_container_oom() {
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	local rc
	docker run --rm "$IMG" dd if=/dev/zero of=/dev/null bs=300M count=1 >/dev/null 2>&1
	rc=$?
	assert_eq "exit status of a container allocating 300 MB under --memory 64m" 137 "$rc"
	# The job itself goes on.
	echo alive >"$WORK/alive"
}

t_container_oom() {
	need_v1
	local rc
	cw_inner -q --grace "$GRACE" --memory 64m --report "$WORK/report.json" -- inner_container_oom 2>"$WORK/err"
	rc=$?
	assert_eq "exit status of ci-wrap (the job survived the container's OOM)" 0 "$rc"
	[[ -s $WORK/alive ]] || fail "the command did not continue after the container's OOM"
	local r=$WORK/report.json
	[[ -s $r ]] || fail "no report written"
	assert_eq "report cgroup.memory_limit_bytes" 67108864 "$(jq -r '.cgroup.memory_limit_bytes' "$r")"
	jq -e '.cgroup.memory_peak_bytes > 0' "$r" >/dev/null || fail "report memory_peak_bytes not > 0: $(jq -c .cgroup "$r")"
	jq -e '.cgroup.cpu_usage_s | type == "number" and . >= 0' "$r" >/dev/null ||
		fail "report cpu_usage_s not a number: $(jq -c .cgroup "$r")"
	jq -e '.cgroup.oom_kills >= 1' "$r" >/dev/null || fail "report oom_kills not >= 1 after a container OOM: $(jq -c .cgroup "$r")"
	assert_eq "report session" "$(cat "$WORK/session")" "$(jq -r .session "$r")"
	no_pool_left "$(cat "$WORK/session")" "after ci-wrap exited"
}

t_command_oom() {
	need_v1
	local rc
	# The command itself writes 300 MB under a 64 MiB limit.
	cw -q --grace "$GRACE" --memory 64m --report "$WORK/report.json" -- \
		python3 -c 'b = b"x" * (300 * 1024 * 1024); print(len(b))' >"$WORK/out" 2>"$WORK/err"
	rc=$?
	assert_eq "exit status of ci-wrap when the command is OOM-killed" 137 "$rc"
	[[ -s $WORK/out ]] && fail "the command finished its 300 MB allocation under --memory 64m"
	local s
	s=$(jq -r .session "$WORK/report.json" 2>/dev/null)
	[[ -n $s && $s != null ]] || fail "no report after the command's OOM"
	assert_eq "report exit_code" 137 "$(jq -r .exit_code "$WORK/report.json")"
	jq -e '.cgroup.oom_kills >= 1' "$WORK/report.json" >/dev/null ||
		fail "report oom_kills not >= 1: $(jq -c .cgroup "$WORK/report.json")"
	no_pool_left "$s" "after the command's OOM"
}

# Tries to start 200 sleeping children; prints "started failed".
FORK_PY='
import os, sys, time
started = failed = 0
for i in range(200):
    try:
        pid = os.fork()
    except OSError:
        failed += 1
        continue
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    started += 1
print(started, failed, flush=True)
'

t_pids_limit() {
	need_v1
	local rc out started failed
	out=$(cw -q --grace "$GRACE" --pids 64 -- python3 -c "$FORK_PY" 2>"$WORK/err")
	rc=$?
	assert_eq "exit status of ci-wrap (fork attempts)" 0 "$rc"
	read -r started failed <<<"$out"
	[[ $started =~ ^[0-9]+$ && $failed =~ ^[0-9]+$ ]] || fail "unexpected output of the fork loop: '$out'"
	((started < 64)) || fail "$started children started under --pids 64"
	((failed > 0)) || fail "no fork failed under --pids 64 ($started started)"
}

t_strays_killed() {
	need_v1
	local tag=$((RANDOM % 9000 + 1000)) rc s
	# Three kinds of leftovers, each with a unique sleep time to find them by.
	cw -q --grace "$GRACE" --pids 64 -- bash -c '
		echo "$CI_WRAP_SESSION" >"$WORK/session"
		setsid sleep 7'"$tag"'1 </dev/null >/dev/null 2>&1 &
		nohup sleep 7'"$tag"'2 </dev/null >/dev/null 2>&1 &
		(trap "" TERM HUP INT; exec sleep 7'"$tag"'3) </dev/null >/dev/null 2>&1 &
		sleep 0.3
		exit 0' 2>"$WORK/err"
	rc=$?
	assert_eq "exit status of ci-wrap" 0 "$rc"
	s=$(cat "$WORK/session")
	local left
	wait_until 3 eval "[[ -z \$(pgrep -f '^sleep 7${tag}[123]\$') ]]"
	left=$(pgrep -af "^sleep 7${tag}[123]\$")
	[[ -z $left ]] && no_pool_left "$s" "after ci-wrap exited" && return 0
	# shellcheck disable=SC2046 # one pid per word
	kill -KILL $(pgrep -f "^sleep 7${tag}[123]\$") 2>/dev/null
	fail "background processes of the command left after ci-wrap exited: $(tr '\n' '|' <<<"$left")"
}

inner_detached() {
	docker run -d "$IMG" sleep 600 >/dev/null || fail "docker run -d failed"
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	echo "$PPID" >"$WORK/launcher" # ci-wrap runs this bash as its child
	sleep 1000 &
	touch "$WORK/ready"
	wait
}

t_sigterm_pool() {
	need_v1
	local pid rc s
	cw_inner -q --grace "$GRACE" --memory 256m -- inner_detached 2>"$WORK/err" &
	pid=$!
	wait_until 30 test -e "$WORK/ready" || fail "the command did not start its container: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	s=$(cat "$WORK/session")
	[[ -n $(pool_dirs "$s") ]] || fail "no pool directory for session $s while it runs"
	local cwpid
	cwpid=$(cat "$WORK/launcher")
	[[ $(tr '\0' ' ' <"/proc/$cwpid/cmdline") == "$CI_WRAP "* ]] || fail "parent $cwpid of the command is not ci-wrap"
	kill -TERM "$cwpid"
	# $pid is the shell running cw_inner: it ends with ci-wrap's status.
	wait_until 20 eval "! kill -0 $pid 2>/dev/null" || fail "ci-wrap still runs 20 s after SIGTERM"
	wait "$pid"
	rc=$?
	assert_eq "exit status of ci-wrap after SIGTERM" 143 "$rc"
	[[ -z $(session_containers "$s") ]] || fail "containers left after SIGTERM"
	no_pool_left "$s" "after SIGTERM to ci-wrap"
}

t_no_cgroup() {
	local rc s
	cw --grace "$GRACE" --no-cgroup -- sh -c 'echo "$CI_WRAP_SESSION" >"$WORK/session"
		docker run -d '"$IMG"' sleep 600 >/dev/null || exit 9; exit 5' 2>"$WORK/err"
	rc=$?
	assert_eq "exit status of ci-wrap --no-cgroup (the command exits 5)" 5 "$rc"
	grep -qiE 'without a (cgroup )?pool|no-cgroup' "$WORK/err" ||
		fail "no line saying it runs without a pool: $(tr '\n' '|' <"$WORK/err")"
	s=$(cat "$WORK/session")
	[[ -z $(session_containers "$s") ]] || fail "container left after a --no-cgroup session"
	no_pool_left "$s" "after a --no-cgroup session"
	cw --no-cgroup --memory 1g -- true 2>"$WORK/err2"
	rc=$?
	assert_eq "exit status of ci-wrap --no-cgroup --memory 1g" 125 "$rc"
}

tcase limits 40 t_limits
tcase container-oom 40 t_container_oom
tcase command-oom 30 t_command_oom
tcase pids-limit 30 t_pids_limit
tcase strays-killed 30 t_strays_killed
tcase sigterm-pool 40 t_sigterm_pool
tcase no-cgroup 30 t_no_cgroup
