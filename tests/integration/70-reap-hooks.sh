#!/usr/bin/env bash
# `ci-wrap reap` and the quiet sweep of dead sessions at start; hook mode
# (`ci-wrap start` / `ci-wrap stop`) as GitLab's shell executor uses it.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

GRACE=1s

pool_dirs() { # SESSION
	compgen -G "/sys/fs/cgroup/*/ci-wrap/$1" 2>/dev/null
	[[ -d /sys/fs/cgroup/ci-wrap/$1 ]] && echo "/sys/fs/cgroup/ci-wrap/$1"
	return 0
}

session_containers() { d ps -aq --filter "label=ci-wrap.session=$1"; }

HOST=$(cat /proc/sys/kernel/hostname)
BOOT=$(cat /proc/sys/kernel/random/boot_id)
# pid_max is at most 4194304: this pid is never alive.
DEAD_OWNER="$HOST/$BOOT/4999999/12345"
OLD_BOOT_OWNER="$HOST/00000000-1111-2222-3333-444444444444/1/1"

# Labels of a session that ci-wrap did not make: TL (removed at the case's end
# whatever happens), the session, the job, the owner.
fake_labels() { # SESSION OWNER
	printf '%s\n' "${TL[@]}" --label "ci-wrap.session=$1" --label "ci-wrap.job=$JOB_ID-fake" \
		--label "ci-wrap.owner=$2"
}

# A dead session's container, network and volume; an old boot's volume; another
# host's container. Names go to $WORK/objs as "TYPE NAME".
make_fake_sessions() {
	local u=ciwt-$CIWT_RUN-$RANDOM l
	echo "$u" >"$WORK/u"
	mapfile -t l < <(fake_labels "$u-dead" "$DEAD_OWNER")
	d run -d --name "$u-dead-c" "${l[@]}" "$IMG" sleep 600 >/dev/null || fail "docker run failed"
	d network create "${l[@]}" "$u-dead-n" >/dev/null || fail "docker network create failed"
	d volume create "${l[@]}" "$u-dead-v" >/dev/null || fail "docker volume create failed"
	mapfile -t l < <(fake_labels "$u-boot" "$OLD_BOOT_OWNER")
	d volume create "${l[@]}" "$u-boot-v" >/dev/null || fail "docker volume create failed"
	mapfile -t l < <(fake_labels "$u-other" "not-$HOST-$u/$BOOT/4999999/12345")
	d run -d --name "$u-other-c" "${l[@]}" "$IMG" sleep 600 >/dev/null || fail "docker run failed"
	printf '%s\n' "container $u-dead-c" "network $u-dead-n" "volume $u-dead-v" "volume $u-boot-v" >"$WORK/dead"
}

exists() { # TYPE NAME
	d "$1" inspect "$2" >/dev/null 2>&1
}

dead_ones_gone() {
	local type name
	while read -r type name; do
		exists "$type" "$name" && return 1
	done <"$WORK/dead"
	return 0
}

dead_ones_left() {
	local type name
	while read -r type name; do
		exists "$type" "$name" && printf '%s ' "$type $name"
	done <"$WORK/dead"
}

# Any ci-wrap starting on this host sweeps dead sessions in the background, so
# a dead session may vanish before the dry run looks. The session it must list
# for sure is one whose owner lives (pid 1) but is older than --older-than:
# no sweep touches a live owner, and only the dry run may mention it.
t_reap_dry_run() {
	local u out rc type name l old_owner
	make_fake_sessions
	u=$(cat "$WORK/u")
	old_owner="$HOST/$BOOT/1/$(sed 's/.*) //' /proc/1/stat | cut -d' ' -f20)"
	mapfile -t l < <(fake_labels "$u-old" "$old_owner")
	d volume create "${l[@]}" "$u-old-v" >/dev/null || fail "docker volume create failed"
	out=$(cw reap --dry-run --older-than 1s 2>&1)
	rc=$?
	log "reap --dry-run: $(tr '\n' '|' <<<"$out")"
	assert_eq "exit status of ci-wrap reap --dry-run" 0 "$rc"
	[[ $out == *"would reap session $u-old "* ]] ||
		fail "reap --dry-run --older-than does not list the old session $u-old: $(head -c 600 <<<"$out" | tr '\n' '|')"
	[[ $out == *"$u-other"* ]] && fail "reap --dry-run would reap the session of another host"
	exists volume "$u-old-v" || fail "reap --dry-run removed volume $u-old-v"
	# A dead session is listed, unless a concurrent sweep already took it.
	while read -r type name; do
		if exists "$type" "$name" && [[ $out != *"would remove $type"* ]]; then
			fail "reap --dry-run does not list the dead $type $name, which still exists"
		fi
	done <"$WORK/dead"
	d volume rm "$u-old-v" >/dev/null
}

inner_live() {
	docker run -d --name "ciwt-$CIWT_RUN-live" "$IMG" sleep 600 >/dev/null || fail "docker run -d failed"
	echo "$PPID" >"$WORK/live-launcher" # ci-wrap runs this bash as its child
	echo "$CI_WRAP_SESSION" >"$WORK/live-session"
	exec sleep 600
}

t_reap() {
	local u out rc pid live
	make_fake_sessions
	u=$(cat "$WORK/u")
	cw_inner -q --grace "$GRACE" -- inner_live 2>"$WORK/err" &
	pid=$!
	wait_until 30 test -s "$WORK/live-session" || fail "the live session did not start: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	live=$(cat "$WORK/live-session")
	out=$(cw reap 2>&1)
	rc=$?
	log "reap: $(tr '\n' '|' <<<"$out")"
	assert_eq "exit status of ci-wrap reap" 0 "$rc"
	# (Another ci-wrap starting on this host may sweep them too: check the state.)
	wait_until 3 dead_ones_gone || fail "reap left objects of dead sessions: $(dead_ones_left)"
	assert_eq "state of another host's session container after reap" running \
		"$(d inspect -f '{{.State.Status}}' "$u-other-c" 2>&1)"
	assert_eq "state of a live session's container after reap" running \
		"$(d inspect -f '{{.State.Status}}' "ciwt-$CIWT_RUN-live" 2>&1)"
	[[ -n $(pool_dirs "$live") ]] || fail "reap removed the pool of a live session"
	[[ $out == *"$live"* ]] && fail "reap mentions the live session $live: $(tr '\n' '|' <<<"$out")"
	kill -TERM "$(cat "$WORK/live-launcher")"
	wait_until 15 eval "! kill -0 $pid 2>/dev/null" || fail "the live session did not end on SIGTERM"
	[[ -z $(session_containers "$live") ]] || fail "the live session's container survived its end"
}

t_sweep_on_start() {
	make_fake_sessions
	local u rc
	u=$(cat "$WORK/u")
	# The start scans labels at the first start after a boot, then at most
	# once a minute: make it due, as a reboot would.
	rm -f /run/ci-wrap/.label-scan
	cw -q --grace "$GRACE" -- true >"$WORK/out" 2>"$WORK/err"
	rc=$?
	assert_eq "exit status of ci-wrap -- true" 0 "$rc"
	wait_until 8 dead_ones_gone || fail "8 s after a ci-wrap started, dead sessions' objects remain: $(dead_ones_left)"
	exists container "$u-other-c" || fail "the sweep removed another host's container"
	[[ -s $WORK/out ]] && fail "ci-wrap -- true printed on stdout: $(head -c 200 "$WORK/out")"
	[[ -s $WORK/err ]] && fail "ci-wrap -q -- true was not quiet about the sweep: $(head -c 300 "$WORK/err" | tr '\n' '|')"
	return 0
}

# The session process ci-wrap (LAUNCHER) forked and re-executed.
session_process_of() { # LAUNCHER
	local p sp
	sp=$(ps -o pid= --ppid "$1" | while read -r p; do
		[[ $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) == *" __session "* ]] && echo "$p"
	done)
	[[ -n $sp ]] || fail "no session process under the launcher $1"
	echo "$sp"
}

# Runs as ci-wrap's command: loads an image, says who is who, then blocks.
inner_load_and_wait() {
	docker load -q -i "$WORK/load.tar" >"$WORK/load.out" || fail "docker load failed"
	echo "$PPID $CI_WRAP_SESSION" >"$WORK/crash.tmp" # ci-wrap runs this bash as its child
	mv "$WORK/crash.tmp" "$WORK/crash"
	exec sleep 600
}

# A loaded image carries no label: after a crash (launcher and session
# process killed, no teardown at all) reap finds it through the registry.
t_reap_loaded_image() {
	local img=ciwt-load:$CIWT_RUN id launcher session sp pid out
	mkdir -p "$WORK/rootfs/bin"
	cp /bin/busybox "$WORK/rootfs/bin/busybox"
	echo "$CIWT_RUN" >"$WORK/rootfs/marker"
	# Labelled for the test, so a failed case still removes it.
	tar -C "$WORK/rootfs" -c . | d import -c "LABEL ci-wrap-test=1" - "$img" >/dev/null ||
		fail "docker import failed"
	d save "$img" >"$WORK/load.tar" || fail "docker save failed"
	id=$(d image inspect -f '{{.Id}}' "$img")
	d rmi "$img" >/dev/null || fail "docker rmi failed"
	cw_inner -q --grace "$GRACE" -- inner_load_and_wait 2>"$WORK/err" &
	pid=$!
	wait_until 30 test -s "$WORK/crash" || fail "the session did not load the image: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	read -r launcher session <"$WORK/crash"
	sp=$(session_process_of "$launcher") || exit 1
	grep -qx "$id" "/run/ci-wrap/$session.images" ||
		fail "the registry does not list the loaded image: $(cat "/run/ci-wrap/$session.images" 2>&1)"
	# A crash: nobody gets to tear down (stopped first, so none reacts).
	kill -STOP "$launcher" "$sp"
	kill -KILL "$sp" "$launcher"
	pkill -KILL -f "^sleep 600$" -P "$launcher" 2>/dev/null
	wait "$pid" 2>/dev/null
	d image inspect "$img" >/dev/null 2>&1 || log "(a concurrent sweep took the image already)"
	out=$(cw reap 2>&1) || fail "ci-wrap reap failed: $(tr '\n' '|' <<<"$out")"
	log "reap: $(tr '\n' '|' <<<"$out")"
	d image inspect "$img" >/dev/null 2>&1 && fail "reap left the image the dead session loaded"
	[[ -e /run/ci-wrap/$session.images || -e /run/ci-wrap/$session.json ]] &&
		fail "reap left the dead session's registry files"
	d image inspect "$IMG" >/dev/null 2>&1 || fail "reap removed the test image"
}

# A GitLab-style job script: pre_build_script's eval, then BODY.
job_script() { # BODY
	cat >"$WORK/job.sh" <<EOF
set -u
eval "\$(\$CI_WRAP start --grace $GRACE)" || exit 99
echo "\$CI_WRAP_SESSION" >"\$WORK/session"
$1
EOF
}

# Run a job shell the way GitLab does: no BUILD_TAG, its own CI_JOB_ID.
run_job() { # JOB-ID
	env -u BUILD_TAG CI_JOB_ID="$1" bash "$WORK/job.sh"
}

t_hook_start_stop() {
	local rc s
	job_script '
[[ $DOCKER_HOST == unix://* ]] || { echo "DOCKER_HOST=$DOCKER_HOST" >&2; exit 11; }
[[ $CI_WRAP_CGROUP == /ci-wrap/$CI_WRAP_SESSION ]] || { echo "CI_WRAP_CGROUP=$CI_WRAP_CGROUP" >&2; exit 12; }
grep -qx "[0-9]*:memory:$CI_WRAP_CGROUP/job" /proc/$$/cgroup || { grep memory /proc/$$/cgroup >&2; exit 13; }
docker run -d "$IMG" sleep 600 >"$WORK/cid" || exit 14
"$CI_WRAP" stop 2>"$WORK/stop1"; echo "$?" >"$WORK/rc1"
"$CI_WRAP" stop 2>"$WORK/stop2"; echo "$?" >"$WORK/rc2"
exit 0'
	IMG=$IMG run_job "$JOB_ID-hook1" 2>"$WORK/err"
	rc=$?
	assert_eq "exit status of the job shell (11-14: checks after start failed: $(tr '\n' '|' <"$WORK/err"))" 0 "$rc"
	s=$(cat "$WORK/session")
	assert_eq "exit status of ci-wrap stop" 0 "$(cat "$WORK/rc1")"
	grep -q "session $s: removed 1 container" "$WORK/stop1" ||
		fail "no summary line from stop: $(tr '\n' '|' <"$WORK/stop1")"
	[[ -z $(session_containers "$s") ]] || fail "the container survived ci-wrap stop"
	[[ -z $(pool_dirs "$s") ]] || fail "the pool survived ci-wrap stop"
	assert_eq "exit status of a second ci-wrap stop" 0 "$(cat "$WORK/rc2")"
	grep -qi "nothing to stop" "$WORK/stop2" || fail "second stop does not say there is nothing to stop: $(tr '\n' '|' <"$WORK/stop2")"
}

t_hook_shell_dies() {
	local rc s
	job_script 'docker run -d "$IMG" sleep 600 >/dev/null || exit 14
exit 3 # a failing script: post_build_script (stop) never runs'
	IMG=$IMG run_job "$JOB_ID-hook2" 2>"$WORK/err"
	rc=$?
	assert_eq "exit status of the job shell" 3 "$rc"
	s=$(cat "$WORK/session")
	wait_until 8 eval '[[ -z $(session_containers "$s") && -z $(pool_dirs "$s") ]]' ||
		fail "8 s after the job shell exited without stop: containers '$(session_containers "$s" | tr '\n' ' ')' pool '$(pool_dirs "$s" | head -n 1)'"
}

t_hook_after_script() {
	local pid rc s job=$JOB_ID-hook3
	job_script 'docker run -d "$IMG" sleep 600 >/dev/null || exit 14
touch "$WORK/ready"
sleep 600'
	IMG=$IMG run_job "$job" 2>"$WORK/err" &
	pid=$!
	wait_until 30 test -e "$WORK/ready" || fail "the job did not start: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	s=$(cat "$WORK/session")
	[[ $(session_containers "$s" | wc -l) == 1 ]] || fail "expected 1 session container"
	# after_script: a new shell, outside the pool, without the exports.
	env -u BUILD_TAG -u CI_WRAP_SESSION -u CI_WRAP_CGROUP CI_JOB_ID="$job" \
		"$CI_WRAP" stop >"$WORK/out1" 2>"$WORK/stop1"
	rc=$?
	assert_eq "exit status of ci-wrap stop by job id" 0 "$rc"
	grep -q "session $s: removed 1 container" "$WORK/stop1" ||
		fail "no summary line from stop by job id: $(tr '\n' '|' <"$WORK/stop1")"
	[[ -z $(session_containers "$s") ]] || fail "the container survived ci-wrap stop by job id"
	[[ -z $(pool_dirs "$s") ]] || fail "the pool survived ci-wrap stop by job id"
	env -u BUILD_TAG -u CI_WRAP_SESSION -u CI_WRAP_CGROUP CI_JOB_ID="$job" \
		"$CI_WRAP" stop >"$WORK/out2" 2>"$WORK/stop2"
	rc=$?
	assert_eq "exit status of a second ci-wrap stop by job id" 0 "$rc"
	grep -qi "nothing to stop" "$WORK/stop2" || fail "second stop does not say there is nothing to stop: $(tr '\n' '|' <"$WORK/stop2")"
	wait_until 5 eval "! kill -0 $pid 2>/dev/null" || fail "the job shell (in the pool) still runs after stop"
	return 0
}

# `ci-wrap stop` through a wrapper (timeout, env, a subshell, sh -c): the job
# shell the session guards and every process between it and stop survive the
# kill of what is left in the pool, and the job goes on to its end.
t_hook_stop_wrapped() {
	local w rc s i=0
	for w in 'timeout 60 "$CI_WRAP" stop' 'env "$CI_WRAP" stop' '( "$CI_WRAP" stop )' \
		'sh -c "\"\$CI_WRAP\" stop"'; do
		i=$((i + 1))
		rm -f "$WORK/alive" "$WORK/session"
		job_script "docker run -d \"\$IMG\" sleep 600 >/dev/null || exit 14
$w 2>\"\$WORK/stop\" || exit 15
echo alive >\"\$WORK/alive\"
exit 0"
		IMG=$IMG run_job "$JOB_ID-wrap$i" 2>"$WORK/err"
		rc=$?
		assert_eq "exit status of the job shell after $w (stderr: $(tr '\n' '|' <"$WORK/err"))" 0 "$rc"
		[[ -s $WORK/alive ]] || fail "the job shell did not go on after $w"
		s=$(cat "$WORK/session")
		grep -q "session $s: removed 1 container" "$WORK/stop" ||
			fail "no summary from $w: $(tr '\n' '|' <"$WORK/stop")"
		[[ -z $(session_containers "$s") && -z $(pool_dirs "$s") ]] ||
			fail "the session's container or pool survived $w"
	done
}

# Runs as ci-wrap's command: a container, then says who is who and blocks.
inner_run_and_wait() {
	docker run -d "$IMG" sleep 600 >/dev/null || fail "docker run failed"
	echo "$PPID $CI_WRAP_SESSION" >"$WORK/crash.tmp"
	mv "$WORK/crash.tmp" "$WORK/crash"
	exec sleep 600
}

# `ci-wrap stop --session ID` of a session whose processes all died cleans it
# as reap would, instead of "nothing to stop".
t_stop_dead_session() {
	local launcher session sp pid out
	rm -f "$WORK/crash"
	cw_inner -q --grace "$GRACE" -- inner_run_and_wait 2>"$WORK/err" &
	pid=$!
	wait_until 30 test -s "$WORK/crash" || fail "the session did not start: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	read -r launcher session <"$WORK/crash"
	sp=$(session_process_of "$launcher") || exit 1
	kill -STOP "$launcher" "$sp"
	kill -KILL "$sp" "$launcher"
	pkill -KILL -f "^sleep 600$" -P "$launcher" 2>/dev/null
	wait "$pid" 2>/dev/null
	out=$(cw stop --session "$session" 2>&1) || fail "ci-wrap stop --session failed: $(tr '\n' '|' <<<"$out")"
	log "stop: $(tr '\n' '|' <<<"$out")"
	grep -qi "nothing to stop" <<<"$out" && fail "stop said nothing to stop for a dead session"
	[[ -z $(session_containers "$session") ]] || fail "the dead session's container survived stop --session"
	[[ -z $(pool_dirs "$session") ]] || fail "the dead session's pool survived stop --session"
	[[ -e /run/ci-wrap/$session.json ]] && fail "stop --session left the registry entry"
	return 0
}

tcase reap-dry-run 30 t_reap_dry_run
tcase reap 40 t_reap
tcase sweep-on-start 30 t_sweep_on_start
tcase reap-loaded-image 60 t_reap_loaded_image
tcase hook-start-stop 30 t_hook_start_stop
tcase hook-shell-dies 30 t_hook_shell_dies
tcase hook-after-script 30 t_hook_after_script
tcase hook-stop-wrapped 90 t_hook_stop_wrapped
tcase stop-dead-session 40 t_stop_dead_session
