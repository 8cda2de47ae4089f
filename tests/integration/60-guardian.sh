#!/usr/bin/env bash
# The guardian: the session process that tears everything down when ci-wrap
# itself is signalled or killed, also when a CI system kills the whole job
# (process group, Jenkins' ProcessTreeKiller by environment cookie).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

GRACE=1s

pool_dirs() { # SESSION
	compgen -G "/sys/fs/cgroup/*/ci-wrap/$1" 2>/dev/null
	[[ -d /sys/fs/cgroup/ci-wrap/$1 ]] && echo "/sys/fs/cgroup/ci-wrap/$1"
	return 0
}

session_containers() { d ps -aq --filter "label=ci-wrap.session=$1"; }

# Runs as ci-wrap's command: a detached container up, then blocks.
inner_detached() {
	docker run -d "$IMG" sleep 600 >/dev/null || fail "docker run -d failed"
	{
		echo "session=$CI_WRAP_SESSION"
		echo "launcher=$PPID" # ci-wrap runs this bash as its child
		echo "cmd=$$"
		echo "pgid=$(ps -o pgid= -p $$ | tr -d ' ')"
		echo "sockdir=$(dirname "${DOCKER_HOST#unix://}")"
	} >"$WORK/info.tmp"
	mv "$WORK/info.tmp" "$WORK/info"
	exec sleep 600
}

info() { sed -n "s/^$1=//p" "$WORK/info"; }

# The session process: the launcher's child running "ci-wrap __session ...".
session_pid() { # LAUNCHER
	local p
	for p in $(ps -o pid= --ppid "$1"); do
		[[ $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) == *" __session "* ]] && echo "$p" && return 0
	done
	return 1
}

wait_ready() { # PID-OF-BACKGROUND-JOB
	wait_until 30 test -e "$WORK/info" ||
		fail "the command did not get its container up: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	[[ $(session_containers "$(info session)" | wc -l) == 1 ]] || fail "expected 1 session container before the kill"
	[[ -n $(pool_dirs "$(info session)") ]] || fail "no pool directory while the session runs"
}

# Everything of the session gone within SECONDS: command, container, pool, socket dir.
assert_all_gone() { # SECONDS WHAT
	local s cmd dir t0=$SECONDS
	s=$(info session)
	cmd=$(info cmd)
	dir=$(info sockdir)
	gone() {
		! kill -0 "$cmd" 2>/dev/null && [[ -z $(session_containers "$s") && -z $(pool_dirs "$s") && ! -e $dir ]]
	}
	if ! wait_until "$1" gone; then
		local why=()
		kill -0 "$cmd" 2>/dev/null && why+=("the command (pid $cmd) still runs")
		[[ -n $(session_containers "$s") ]] && why+=("the container still exists")
		[[ -n $(pool_dirs "$s") ]] && why+=("pool $(pool_dirs "$s" | head -n 1) still exists")
		[[ -e $dir ]] && why+=("socket directory $dir still exists")
		fail "$1 s after $2: $(
			IFS=,
			echo "${why[*]}"
		)"
	fi
	log "all gone $((SECONDS - t0)) s after $2"
}

t_sigterm() {
	local pid rc
	cw_inner -q --grace "$GRACE" --memory 256m -- inner_detached 2>"$WORK/err" &
	pid=$!
	wait_ready
	kill -TERM "$(info launcher)"
	wait_until 20 eval "! kill -0 $pid 2>/dev/null" || fail "ci-wrap still runs 20 s after SIGTERM"
	wait "$pid"
	rc=$?
	assert_eq "exit status of ci-wrap after SIGTERM" 143 "$rc"
	assert_all_gone 3 "ci-wrap exited on SIGTERM"
}

t_session_process() {
	local pid sp env sid
	cw_inner -q --grace "$GRACE" -- inner_detached 2>"$WORK/err" &
	pid=$!
	wait_ready
	sp=$(session_pid "$(info launcher)") || fail "no 'ci-wrap __session' child of ci-wrap (pid $(info launcher))"
	env=$(tr '\0' '\n' <"/proc/$sp/environ" | cut -d= -f1 | sort | tr '\n' ' ')
	assert_eq "variables in the environment of the session process $sp" "PATH " "$env"
	sid=$(ps -o sid= -p "$sp" | tr -d ' ')
	assert_eq "session id of the session process (setsid)" "$sp" "$sid"
	kill -TERM "$(info launcher)"
	wait "$pid"
	assert_all_gone 5 "SIGTERM"
}

t_sigkill_launcher() {
	local pid
	cw_inner -q --grace "$GRACE" --memory 256m -- inner_detached 2>"$WORK/err" &
	pid=$!
	wait_ready
	kill -KILL "$(info launcher)"
	assert_all_gone 8 "SIGKILL to the ci-wrap launcher only"
	wait "$pid"
	return 0
}

t_sigkill_group() {
	local pid pgid launcher
	_CIWT_INNER=inner_detached setsid "$CI_WRAP" -q --grace "$GRACE" --memory 256m -- \
		bash "$_CIWT_FILE" 2>"$WORK/err" &
	pid=$!
	wait_ready
	pgid=$(info pgid)
	launcher=$(info launcher)
	assert_eq "process group of the command (ci-wrap under setsid leads its own)" "$launcher" "$pgid"
	kill -KILL -- "-$pgid"
	assert_all_gone 8 "SIGKILL to the process group of ci-wrap"
	wait "$pid"
	return 0
}

# Pids (not this shell's) whose environment carries exactly VAR=VALUE.
cookie_pids() { # VAR=VALUE
	local f p
	for f in /proc/[0-9]*/environ; do
		p=${f#/proc/}
		p=${p%/environ}
		[[ $p == "$$" || $p == "$BASHPID" ]] && continue
		grep -qzxF "$1" "$f" 2>/dev/null && echo "$p"
	done
	return 0
}

t_jenkins_tree_killer() {
	local pid cookie node pids sp
	cookie="JENKINS_SERVER_COOKIE=durable-$(sha256sum <<<"$CIWT_RUN-$RANDOM-$$" | cut -c 1-32)"
	node="JENKINS_NODE_COOKIE=$(cat /proc/sys/kernel/random/uuid)"
	# Only ci-wrap's environment carries the cookie, never this shell's.
	env "$cookie" "$node" _CIWT_INNER=inner_detached setsid "$CI_WRAP" -q --grace "$GRACE" \
		--memory 256m -- bash "$_CIWT_FILE" 2>"$WORK/err" &
	pid=$!
	wait_ready
	[[ -z ${JENKINS_SERVER_COOKIE:-} ]] || fail "the test shell carries a Jenkins cookie"
	sp=$(session_pid "$(info launcher)") || fail "no 'ci-wrap __session' child of ci-wrap"
	grep -qzF "JENKINS_" "/proc/$sp/environ" &&
		fail "the session process $sp carries a Jenkins variable: $(tr '\0' ' ' <"/proc/$sp/environ")"
	pids=$(cookie_pids "$cookie")
	[[ -n $pids ]] || fail "no process carries the cookie: the test cannot work"
	grep -qx "$(info cmd)" <<<"$pids" || fail "the command (pid $(info cmd)) does not carry the cookie"
	log "cookie carriers: $(tr '\n' ' ' <<<"$pids")"
	# ProcessTreeKiller: SIGTERM to every carrier, SoftKillWaitSeconds, SIGKILL.
	# shellcheck disable=SC2086 # one pid per word
	kill -TERM $pids 2>/dev/null
	wait_until 5 eval '[[ -z $(cookie_pids "$cookie") ]]'
	pids=$(cookie_pids "$cookie")
	log "SIGKILL to: $(tr '\n' ' ' <<<"$pids")"
	# shellcheck disable=SC2086
	[[ -n $pids ]] && kill -KILL $pids 2>/dev/null
	assert_all_gone 8 "Jenkins-style kill of every process with the cookie"
	wait "$pid"
	return 0
}

tcase sigterm 30 t_sigterm
tcase session-process 30 t_session_process
tcase sigkill-launcher 30 t_sigkill_launcher
tcase sigkill-group 30 t_sigkill_group
tcase jenkins-tree-killer 40 t_jenkins_tree_killer
