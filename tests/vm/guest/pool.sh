#!/bin/bash
# shellcheck disable=SC2016 # shell code in single quotes runs in the session
# The pool on a real cgroup v2 host, for the docker driver in $VM_DRIVER
# (SPEC.md, "The pool"): where the command and the containers run, the limits,
# OOM inside the budget, the pids limit, strays, and nothing left (container,
# systemd unit, cgroup) after exit, SIGTERM, SIGKILL of ci-wrap, hook mode and
# reap after a crash. Run by guest/entry.sh; see guest/lib.sh.
# shellcheck source=tests/vm/guest/lib.sh
. "$(dirname "$0")/lib.sh"

GRACE=1s
CG=/sys/fs/cgroup
# Under systemd the pool is a transient slice below ci_wrap.slice, which an
# operator may cap as a whole and which may outlive the sessions.
SLICE_RE='^/ci_wrap\.slice/ci_wrap-[^/]+\.slice$'

# Why POOL ($CI_WRAP_CGROUP or the report's cgroup.path) is not the pool the
# contract asks for with this driver; nothing when it is.
pool_form() { # SESSION POOL
	case $VM_DRIVER in
	systemd)
		[[ $2 =~ $SLICE_RE ]] ||
			echo "pool is '$2', expected a transient slice /ci_wrap.slice/ci_wrap-<id>.slice (docker's systemd driver)"
		;;
	cgroupfs)
		[[ $2 == "/ci-wrap/$1" ]] || echo "pool is '$2', expected /ci-wrap/$1"
		;;
	esac
}

check_pool_form() { # SESSION POOL
	local why
	why=$(pool_form "$1" "$2")
	[[ -z $why ]] || fail "$why"
}

cgroup_of() { sed -n 's/^0:://p' "/proc/$1/cgroup" 2>/dev/null; }

# The units named ci-wrap* that are loaded now (ci-wrap-vm.service, which runs
# these tests, among them).
ci_units() {
	systemctl list-units --all --plain --no-legend 'ci-wrap*' 'ci_wrap*' 2>/dev/null | awk '{ print $1 }' | sort
}

units_before() { ci_units >"$WORK/units-before"; }

# What SESSION left: its containers, new ci-wrap*/ci_wrap* units (ci_wrap.slice,
# the parent, may stay, and so may the package's ci-wrap-reap timer and
# service, whose run may fall in a case), units and cgroup directories named
# after it, the pool.
leftovers() { # SESSION POOL
	local s=$1 pool=$2 id=${1##*-} left=() x
	x=$(docker ps -aq --filter "label=ci-wrap.session=$s" | tr '\n' ' ')
	[[ -n ${x// /} ]] && left+=("containers: $x")
	x=$(ci_units | comm -13 "$WORK/units-before" - | grep -vx 'ci_wrap.slice' | grep -v '^ci-wrap-reap\.' | tr '\n' ' ')
	[[ -n ${x// /} ]] && left+=("units: $x")
	x=$(systemctl list-units --all --plain --no-legend 2>/dev/null | awk '{ print $1 }' | grep -F "$id" | tr '\n' ' ')
	[[ -n ${x// /} ]] && left+=("units named after it: $x")
	[[ -n $pool && $pool != / && -d $CG$pool ]] && left+=("pool directory $CG$pool")
	x=$(find "$CG" -mindepth 1 -maxdepth 4 -type d -name "*$id*" 2>/dev/null | tr '\n' ' ')
	[[ -n ${x// /} ]] && left+=("cgroups: $x")
	((${#left[@]})) && printf '%s; ' "${left[@]}"
	return 0
}

nothing_left() { [[ -z $(leftovers "$1" "$2") ]]; }

check_nothing_left() { # SESSION POOL WHEN [WAIT-SECONDS]
	wait_until "${4:-0}" nothing_left "$1" "$2" ||
		fail "left $3: $(leftovers "$1" "$2")"
}

# The command's side of most cases: who it is, where it runs.
record_session() {
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	echo "${CI_WRAP_CGROUP:-}" >"$WORK/pool"
	echo "$PPID" >"$WORK/launcher" # ci-wrap runs this bash as its child
	echo "$$" >"$WORK/command"
}

# --- where things run, the limits ---------------------------------------------

inner_limits() {
	record_session
	local pool=${CI_WRAP_CGROUP:-} self cid cpid ccg inside
	check_pool_form "$CI_WRAP_SESSION" "$pool"
	self=$(cgroup_of self)
	note "command in $self"
	if [[ $VM_DRIVER == cgroupfs ]]; then
		assert_eq "cgroup of the command" "$pool/job" "$self"
	else
		[[ $self == "$pool/"?* ]] || fail "cgroup of the command is '$self', expected a leaf below $pool"
	fi
	cid=$(docker run -d "${TL[@]}" "$IMG" sleep 120) || fail "docker run -d through the proxy failed"
	cpid=$(docker inspect -f '{{.State.Pid}}' "$cid")
	ccg=$(cgroup_of "$cpid")
	note "container in $ccg"
	[[ $ccg == "$pool/"?* ]] || fail "cgroup of a session container is '$ccg', expected below $pool/"
	# With a cgroup namespace of its own (docker's default on v2) a container
	# sees itself at the root: only --cgroupns=host shows the real path.
	inside=$(docker run --rm --cgroupns=host "$IMG" cat /proc/self/cgroup) ||
		fail "docker run --rm --cgroupns=host failed"
	inside=${inside#0::}
	[[ $inside == "$pool/"?* ]] || fail "/proc/self/cgroup of a container (--cgroupns=host) is '$inside', expected below $pool/"
	assert_eq "$CG$pool/memory.max (--memory 256m)" 268435456 "$(cat "$CG$pool/memory.max" 2>&1)"
	assert_eq "$CG$pool/pids.max (--pids 300)" 300 "$(cat "$CG$pool/pids.max" 2>&1)"
	assert_eq "$CG$pool/cpu.max (--cpus 1.5)" "150000 100000" "$(cat "$CG$pool/cpu.max" 2>&1)"
	if [[ $VM_DRIVER == systemd ]]; then
		local show
		show=$(systemctl show "${pool##*/}" -p MemoryMax -p TasksMax -p CPUQuotaPerSecUSec | sort | tr '\n' ' ')
		note "systemctl show ${pool##*/}: $show"
		# systemd 252 prints the quota as "1.500000s" (format_timespan, exact).
		[[ $show =~ ^CPUQuotaPerSecUSec=(1\.50*s|1500ms)\ MemoryMax=268435456\ TasksMax=300\ $ ]] ||
			fail "systemctl show ${pool##*/}: expected CPUQuotaPerSecUSec=1.5s MemoryMax=268435456 TasksMax=300, got '$show'"
	fi
}

t_limits() {
	local rc s pool r=$WORK/report.json
	units_before
	cw_inner -q --grace "$GRACE" --memory 256m --pids 300 --cpus 1.5 --report "$r" -- inner_limits 2>"$WORK/err"
	rc=$?
	[[ -s $WORK/session ]] || fail "the command did not run (status $rc): $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	((rc == 0)) || exit "$rc" # the inner check's reason is already written
	s=$(cat "$WORK/session") pool=$(cat "$WORK/pool")
	assert_eq "report cgroup.path" "$pool" "$(jq -r .cgroup.path "$r")"
	assert_eq "report cgroup.memory_limit_bytes" 268435456 "$(jq -r .cgroup.memory_limit_bytes "$r")"
	jq -e '.cgroup.memory_peak_bytes > 0 and .cgroup.cpu_usage_s >= 0' "$r" >/dev/null ||
		fail "report: memory_peak_bytes or cpu_usage_s missing: $(jq -c .cgroup "$r")"
	note "report cgroup: $(jq -c .cgroup "$r")"
	check_nothing_left "$s" "$pool" "after ci-wrap exited"
}

# --- OOM inside the budget ------------------------------------------------------

# A string that doubles until the memory runs out (no big file needed).
HOG='x=a; while :; do x=$x$x; done'

inner_container_oom() {
	record_session
	local rc pool=${CI_WRAP_CGROUP:-}
	check_pool_form "$CI_WRAP_SESSION" "$pool"
	# --memory 1g: a net, should the container land outside the 128 MiB pool.
	docker run --rm "${TL[@]}" --memory 1g "$IMG" sh -c "$HOG" >/dev/null 2>&1
	rc=$?
	assert_eq "exit status of a container allocating past --memory 128m" 137 "$rc"
	note "pool memory.events after it: $(tr '\n' ' ' <"$CG$pool/memory.events" 2>&1)"
	echo alive >"$WORK/alive"
}

t_container_oom() {
	local rc s pool r=$WORK/report.json
	units_before
	cw_inner -q --grace "$GRACE" --memory 128m --report "$r" -- inner_container_oom 2>"$WORK/err"
	rc=$?
	[[ -s $WORK/session ]] || fail "the command did not run (status $rc): $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	((rc == 0)) || exit "$rc"
	[[ -s $WORK/alive ]] || fail "the command did not go on after its container's OOM"
	s=$(cat "$WORK/session") pool=$(cat "$WORK/pool")
	[[ -s $r ]] || fail "no report"
	jq -e '.cgroup.oom_kills >= 1' "$r" >/dev/null ||
		fail "report cgroup.oom_kills not >= 1 after a container's OOM: $(jq -c .cgroup "$r")"
	assert_eq "report cgroup.memory_limit_bytes" 134217728 "$(jq -r .cgroup.memory_limit_bytes "$r")"
	note "report cgroup: $(jq -c .cgroup "$r")"
	check_nothing_left "$s" "$pool" "after ci-wrap exited"
}

t_command_oom() {
	local rc s pool r=$WORK/report.json
	units_before
	# ulimit -v: a net, should the command run outside the pool (it would then
	# fail with status 1 or 2, not 137).
	# (No -q: the summary line is part of what is checked.)
	cw --grace "$GRACE" --memory 128m --report "$r" -- \
		bash -c 'echo "$CI_WRAP_SESSION" >"$WORK/session"; echo "$CI_WRAP_CGROUP" >"$WORK/pool"
			ulimit -v 1500000; '"$HOG" 2>"$WORK/err"
	rc=$?
	[[ -s $WORK/session ]] || fail "the command did not run (status $rc): $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	s=$(cat "$WORK/session") pool=$(cat "$WORK/pool")
	check_pool_form "$s" "$pool"
	assert_eq "exit status of ci-wrap when the command blows --memory 128m" 137 "$rc"
	grep -q "session $s: " "$WORK/err" || fail "no summary line from ci-wrap: $(tr '\n' '|' <"$WORK/err")"
	note "summary: $(grep "session $s: " "$WORK/err")"
	assert_eq "report exit_code" 137 "$(jq -r .exit_code "$r")"
	jq -e '.cgroup.oom_kills >= 1' "$r" >/dev/null ||
		fail "report cgroup.oom_kills not >= 1: $(jq -c .cgroup "$r")"
	check_nothing_left "$s" "$pool" "after the command's OOM"
}

# --- pids, strays ------------------------------------------------------------------

# Builtins only, and no $(...), which forks too: at the limit every fork of
# the command is refused as well (bash retries one for seconds).
read_int() { # VAR FILE [KEY]: VAR = a number from a cgroup file
	local -n _out=$1
	local k v
	_out=0
	if [[ -z ${3:-} ]]; then
		read -r _out <"$2"
		return 0
	fi
	while read -r k v; do
		[[ $k == "$3" ]] && _out=$v
	done <"$2"
	return 0
}

pause() { read -r -t "$1" -u 7 _; } # fd 7: a fifo nobody writes

bomb_events() { # VAR POOL: VAR = refused forks counted in the pool and its leaf
	local -n _sum=$1
	local f n
	_sum=0
	for f in "$CG$2/pids.events" "$CG$2"/*/pids.events; do
		[[ -e $f ]] || continue
		read_int n "$f" max
		_sum=$((_sum + n))
	done
}

inner_fork_bomb() {
	record_session
	local pool=${CI_WRAP_CGROUP:-} cur=0 events=0 i max=0 deadline
	check_pool_form "$CI_WRAP_SESSION" "$pool"
	mkfifo "$WORK/fifo"
	exec 7<>"$WORK/fifo"
	# Each copy starts two more and waits: it stops only at the pids limit.
	printf '#!/bin/sh\nsh "$0" & sh "$0" & wait\n' >"$WORK/bomb.sh"
	sh "$WORK/bomb.sh" &
	# Until a fork is refused (seconds under TCG), then for 3 s more:
	# pids.current must never pass the limit. Linux 6.1 counts a refused fork
	# in pids.events of the forking task's cgroup (the leaf: "fork rejected by
	# pids controller in /ci-wrap/<session>/job"), not of the pool whose limit
	# refused it (hierarchical counts came later): both are added up.
	deadline=$((SECONDS + 40))
	while ((SECONDS < deadline)); do
		read_int cur "$CG$pool/pids.current"
		bomb_events events "$pool"
		((cur >= 64 || events > 0)) && break
		pause 0.2
	done
	for ((i = 0; i < 15; i++)); do
		read_int cur "$CG$pool/pids.current"
		((cur > max)) && max=$cur
		pause 0.2
	done
	bomb_events events "$pool"
	local own
	read_int own "$CG$pool/pids.events" max
	note "pids.current at most $max under --pids 64; refused forks (pids.events max): $own in the pool, $events with its leaf"
	((max <= 64)) || fail "pids.current of the pool reached $max under --pids 64"
	((events > 0)) || fail "no fork refused in 40 s under --pids 64 (pids.current at most $max)"
	exit 0 # the bomb goes on: teardown must end it
}

bomb_procs() { pgrep -f "sh $WORK/bomb.sh" | tr '\n' ' '; }

t_fork_bomb() {
	local rc s pool
	units_before
	on_cleanup 'pkill -KILL -f "sh $WORK/bomb.sh"'
	cw_inner -q --grace "$GRACE" --pids 64 --cpus 1 -- inner_fork_bomb 2>"$WORK/err"
	rc=$?
	[[ -s $WORK/session ]] || fail "the command did not run (status $rc): $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	((rc == 0)) || exit "$rc"
	s=$(cat "$WORK/session") pool=$(cat "$WORK/pool")
	note "kernel log: $(dmesg | grep -m 1 'fork rejected by pids' || echo 'no "fork rejected by pids controller" line')"
	wait_until 5 eval '[[ -z $(bomb_procs) ]]' || fail "fork bomb processes left after ci-wrap exited: $(bomb_procs)"
	check_nothing_left "$s" "$pool" "after the fork bomb" 5
}

t_strays_killed() {
	local tag=$((RANDOM % 9000 + 1000)) rc s pool left
	units_before
	on_cleanup "pkill -KILL -f '^sleep 7${tag}[123]\$'"
	cw -q --grace "$GRACE" -- bash -c '
		echo "$CI_WRAP_SESSION" >"$WORK/session"; echo "$CI_WRAP_CGROUP" >"$WORK/pool"
		setsid sleep 7'"$tag"'1 </dev/null >/dev/null 2>&1 &
		nohup sleep 7'"$tag"'2 </dev/null >/dev/null 2>&1 &
		(trap "" TERM HUP INT; exec sleep 7'"$tag"'3) </dev/null >/dev/null 2>&1 &
		sleep 0.5
		exit 0' 2>"$WORK/err"
	rc=$?
	[[ -s $WORK/session ]] || fail "the command did not run (status $rc): $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	assert_eq "exit status of ci-wrap" 0 "$rc"
	s=$(cat "$WORK/session") pool=$(cat "$WORK/pool")
	check_pool_form "$s" "$pool"
	wait_until 3 eval "[[ -z \$(pgrep -f '^sleep 7${tag}[123]\$') ]]" ||
		fail "background processes left after ci-wrap exited: $(pgrep -af "^sleep 7${tag}[123]\$" | tr '\n' '|')"
	check_nothing_left "$s" "$pool" "after ci-wrap exited"
}

# --- nothing left, however the session ends -------------------------------------------

# The command: a detached container, a background process, then it waits.
inner_detached() {
	record_session
	docker run -d "$IMG" sleep 600 >/dev/null || fail "docker run -d failed"
	setsid sleep 1000 </dev/null >/dev/null 2>&1 &
	touch "$WORK/ready"
	[[ ${1:-} == exit ]] && exit 0
	wait
}

started() { # what the background session wrote, once ready
	wait_until 60 test -e "$WORK/ready" ||
		fail "the command did not start its container: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	s=$(cat "$WORK/session") pool=$(cat "$WORK/pool") launcher=$(cat "$WORK/launcher")
	check_pool_form "$s" "$pool"
	[[ -d $CG$pool ]] || fail "no pool directory $CG$pool while the session runs"
	[[ -n $(docker ps -q --filter "label=ci-wrap.session=$s") ]] || fail "the session's container does not run"
}

t_end_exit() {
	local rc s pool launcher
	units_before
	cw_inner -q --grace "$GRACE" --memory 256m -- inner_detached exit 2>"$WORK/err"
	rc=$?
	[[ -e $WORK/ready ]] || fail "the command did not start its container (status $rc): $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	s=$(cat "$WORK/session") pool=$(cat "$WORK/pool")
	check_pool_form "$s" "$pool"
	assert_eq "exit status of ci-wrap" 0 "$rc"
	check_nothing_left "$s" "$pool" "after ci-wrap exited"
}

t_end_signal() { # SIGNAL WANT-STATUS
	local sig=$1 want=$2 pid rc s pool launcher
	units_before
	cw_inner -q --grace "$GRACE" --memory 256m -- inner_detached 2>"$WORK/err" &
	pid=$!
	started
	[[ $(tr '\0' ' ' <"/proc/$launcher/cmdline") == "$CI_WRAP "* ]] ||
		fail "parent $launcher of the command is not ci-wrap"
	kill "-$sig" "$launcher"
	wait_until 30 eval "! kill -0 $pid 2>/dev/null" || fail "ci-wrap still runs 30 s after SIG$sig"
	wait "$pid"
	rc=$?
	assert_eq "exit status after SIG$sig to ci-wrap" "$want" "$rc"
	# After SIGKILL the session process (the guardian) tears down on its own.
	check_nothing_left "$s" "$pool" "after SIG$sig to ci-wrap" 30
}

t_end_sigterm() { t_end_signal TERM 143; }
t_end_sigkill() { t_end_signal KILL 137; }

t_end_hook() {
	local rc s pool
	units_before
	cat >"$WORK/job.sh" <<'EOF'
set -u
eval "$("$CI_WRAP" start --grace 1s --memory 256m)" || exit 99
echo "$CI_WRAP_SESSION" >"$WORK/session"
echo "${CI_WRAP_CGROUP:-}" >"$WORK/pool"
sed -n 's/^0:://p' /proc/$$/cgroup >"$WORK/shell-cgroup"
docker run -d "$IMG" sleep 600 >/dev/null || exit 14
"$CI_WRAP" stop 2>"$WORK/stop"; echo "$?" >"$WORK/stop-rc"
sed -n 's/^0:://p' /proc/$$/cgroup >"$WORK/shell-cgroup-after"
exit 0
EOF
	env -u BUILD_TAG CI_JOB_ID=vm-hook-$RANDOM CI_WRAP="$CI_WRAP" IMG="$IMG" bash "$WORK/job.sh" 2>"$WORK/err"
	rc=$?
	[[ -s $WORK/session ]] || fail "ci-wrap start failed (status $rc): $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	s=$(cat "$WORK/session") pool=$(cat "$WORK/pool")
	check_pool_form "$s" "$pool"
	assert_eq "exit status of the job shell (14: docker run failed)" 0 "$rc"
	note "job shell in $(cat "$WORK/shell-cgroup"), after stop in $(cat "$WORK/shell-cgroup-after")"
	[[ $(cat "$WORK/shell-cgroup") == "$pool/"?* ]] ||
		fail "the job shell ran in '$(cat "$WORK/shell-cgroup")', expected below $pool"
	assert_eq "exit status of ci-wrap stop" 0 "$(cat "$WORK/stop-rc")"
	grep -q "session $s: removed 1 container" "$WORK/stop" ||
		fail "no summary line from stop: $(tr '\n' '|' <"$WORK/stop")"
	check_nothing_left "$s" "$pool" "after ci-wrap stop"
}

t_end_reap() {
	local pid s pool launcher sp out
	units_before
	cw_inner -q --grace "$GRACE" --memory 256m -- inner_detached 2>"$WORK/err" &
	pid=$!
	started
	sp=$(ps -o pid= --ppid "$launcher" | while read -r p; do
		[[ $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) == *" __session "* ]] && echo "$p"
	done)
	[[ -n $sp ]] || fail "no session process under the launcher $launcher"
	# A crash: every process of the session dies at once, none tears down
	# (stopped first, so none reacts to the others' death).
	kill -STOP "$launcher" "$sp"
	kill -KILL "$sp" "$launcher"
	kill -KILL "$(cat "$WORK/command")" 2>/dev/null
	pkill -KILL -xf 'sleep 1000' 2>/dev/null
	wait "$pid" 2>/dev/null
	[[ -n $(docker ps -aq --filter "label=ci-wrap.session=$s") ]] ||
		note "(the session's container was gone before reap: a sweep took it)"
	out=$(cw reap 2>&1) || fail "ci-wrap reap failed: $(tr '\n' '|' <<<"$out")"
	note "reap: $(tr '\n' '|' <<<"$out" | cut -c 1-200)"
	check_nothing_left "$s" "$pool" "after ci-wrap reap"
}

tcase limits 90 t_limits
tcase container-oom 90 t_container_oom
tcase command-oom 60 t_command_oom
tcase fork-bomb 90 t_fork_bomb
tcase strays-killed 60 t_strays_killed
tcase end-exit 60 t_end_exit
tcase end-sigterm 90 t_end_sigterm
tcase end-sigkill 90 t_end_sigkill
tcase end-hook 90 t_end_hook
tcase end-reap 90 t_end_reap
