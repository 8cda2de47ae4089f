#!/usr/bin/env bash
# Labels on what a session creates, and its removal when the command ends or
# ci-wrap is signalled, without touching anything else.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

GRACE=2s

session_containers() { # SESSION: ids of containers carrying it
	d ps -aq --filter "label=ci-wrap.session=$1"
}


inner_labels() {
	local c r
	c=$(docker create "$IMG" true) || fail "docker create through the proxy failed"
	r=$(docker run -d "$IMG" sleep 600) || fail "docker run -d through the proxy failed"
	check_session_labels "$c" "$JOB_ID-labels" "a created container"
	check_session_labels "$r" "$JOB_ID-labels" "a running container"
	assert_eq "label team (from --label team=x)" x "$(label_of "$c" team)"
	printf '%s\n' "$c" "$r" >"$WORK/ids"
	echo "$CI_WRAP_SESSION" >"$WORK/session"
}

t_labels() {
	cw_inner -q --grace "$GRACE" --label team=x --job-id "$JOB_ID-labels" -- inner_labels 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	local left
	left=$(session_containers "$(cat "$WORK/session")")
	[[ -z $left ]] || fail "containers of the session left after ci-wrap exited: $left"
}

inner_override() {
	local c
	if ! c=$(docker create --label ci-wrap.session=evil --label ci-wrap.job=evil \
		--label ci-wrap.owner=evil --label "ciwt-keep=$CIWT_RUN" --label ci-wrap-test=1 \
		--label "ci-wrap-test.run=$CIWT_RUN" "$IMG" true 2>"$WORK/create-err"); then
		# Refusing the request also keeps the labels ours; nothing may exist then.
		log "create with ci-wrap.* client labels refused: $(cat "$WORK/create-err")"
		[[ -z $(d ps -aq --filter "label=ciwt-keep=$CIWT_RUN") ]] ||
			fail "create was refused but a container exists"
		return 0
	fi
	assert_eq "ci-wrap.session after a client set it to 'evil'" "$CI_WRAP_SESSION" "$(label_of "$c" ci-wrap.session)"
	assert_eq "ci-wrap.job after a client set it to 'evil'" "$JOB_ID" "$(label_of "$c" ci-wrap.job)"
	[[ $(label_of "$c" ci-wrap.owner) != evil ]] || fail "a client overrode ci-wrap.owner"
	assert_eq "the client's own label ciwt-keep" "$CIWT_RUN" "$(label_of "$c" ciwt-keep)"
}

t_client_cannot_override() {
	cw_inner -q --grace "$GRACE" -- inner_override 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
}

inner_job() { # JOB
	local c
	c=$(docker create "$IMG" true) || fail "docker create through the proxy failed"
	assert_eq "ci-wrap.job" "$1" "$(label_of "$c" ci-wrap.job)"
}

t_job_id() {
	cw_inner -q --grace "$GRACE" --job-id "$JOB_ID-explicit" -- inner_job "$JOB_ID-explicit" 2>"$WORK/err" ||
		fail "--job-id: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	# run.sh exports BUILD_TAG=$JOB_ID; without it, GitLab's CI_JOB_ID.
	cw_inner -q --grace "$GRACE" -- inner_job "$JOB_ID" 2>"$WORK/err" ||
		fail "job id from BUILD_TAG: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	env -u BUILD_TAG CI_JOB_ID="$JOB_ID-gitlab" _CIWT_INNER=inner_job \
		"$CI_WRAP" -q --grace "$GRACE" -- bash "$_CIWT_FILE" "$JOB_ID-gitlab" 2>"$WORK/err" ||
		fail "job id from CI_JOB_ID: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
}

inner_many() {
	docker create "$IMG" true >>"$WORK/ids" || fail "docker create failed"
	docker create --name "ciwt-named-$CIWT_RUN" "$IMG" true >>"$WORK/ids" || fail "docker create --name failed"
	local _
	for _ in 1 2 3; do
		docker run -d "$IMG" sleep 600 >>"$WORK/ids" || fail "docker run -d failed"
	done
	docker run -d --restart always "$IMG" sleep 600 >>"$WORK/ids" || fail "docker run -d --restart always failed"
	# PID 1 of a container gets no default SIGTERM action: this one needs SIGKILL.
	docker run -d "$IMG" sh -c 'trap "" TERM; while :; do sleep 1; done' >>"$WORK/ids" ||
		fail "docker run -d (ignores SIGTERM) failed"
	docker run --label "ciwt-stopped=$CIWT_RUN" "$IMG" true || fail "docker run (exits at once) failed"
	d ps -aq --no-trunc --filter "label=ciwt-stopped=$CIWT_RUN" >>"$WORK/ids"
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	local n
	n=$(session_containers "$CI_WRAP_SESSION" | wc -l)
	assert_eq "containers with this session's label during the session" 8 "$n"
}

t_teardown_on_exit() {
	local t0=$SECONDS rc
	cw_inner -q --grace "$GRACE" -- inner_many 2>"$WORK/err"
	rc=$?
	((rc == 0)) || fail "session failed (status $rc): $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	log "ci-wrap took $((SECONDS - t0)) s"
	local left id
	left=$(session_containers "$(cat "$WORK/session")")
	[[ -z $left ]] || fail "containers of the session left after ci-wrap exited: $(tr '\n' ' ' <<<"$left")"
	while read -r id; do
		d container inspect "$id" >/dev/null 2>&1 && fail "container $id created in the session still exists"
	done <"$WORK/ids"
	return 0
}

inner_net_vol() {
	docker network create --label ci-wrap-test=1 --label "ci-wrap-test.run=$CIWT_RUN" \
		"ciwt-net-$CIWT_RUN" >/dev/null || fail "docker network create failed"
	docker volume create --label ci-wrap-test=1 --label "ci-wrap-test.run=$CIWT_RUN" \
		"ciwt-vol-$CIWT_RUN" >/dev/null || fail "docker volume create failed"
	check_session_labels "ciwt-net-$CIWT_RUN" "$JOB_ID" "a network"
	check_session_labels "ciwt-vol-$CIWT_RUN" "$JOB_ID" "a volume"
}

t_networks_volumes() {
	cw_inner -q --grace "$GRACE" -- inner_net_vol 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	d network inspect "ciwt-net-$CIWT_RUN" >/dev/null 2>&1 && fail "network left after ci-wrap exited"
	d volume inspect "ciwt-vol-$CIWT_RUN" >/dev/null 2>&1 && fail "volume left after ci-wrap exited"
	return 0
}

# Runs as ci-wrap's command: detached containers up, then blocks in sleep.
inner_detached() {
	docker run -d "$IMG" sleep 600 >>"$WORK/ids" || fail "docker run -d failed"
	docker run -d "$IMG" sleep 600 >>"$WORK/ids" || fail "docker run -d failed"
	docker run -d "$IMG" sh -c 'trap "" TERM; while :; do sleep 1; done' >>"$WORK/ids" ||
		fail "docker run -d (ignores SIGTERM) failed"
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	touch "$WORK/ready"
	exec sleep 600
}

signal_teardown() { # SIGNAL WANT-STATUS
	local sig=$1 want=$2 pid rc
	# A background job of a script has SIGINT ignored, and ignored signals stay
	# ignored across exec: reset them so the test sees what a terminal would do.
	_CIWT_INNER=inner_detached python3 -c '
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$CI_WRAP" -q --grace "$GRACE" -- bash "$_CIWT_FILE" 2>"$WORK/err" &
	pid=$!
	wait_until 60 test -e "$WORK/ready" || fail "the command did not get its containers up: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	[[ $(session_containers "$(cat "$WORK/session")" | wc -l) == 3 ]] || fail "expected 3 session containers before the signal"
	kill "-$sig" "$pid"
	local t0=$SECONDS
	wait_until 40 eval "! kill -0 $pid 2>/dev/null" || fail "ci-wrap still runs 40 s after SIG$sig"
	wait "$pid"
	rc=$?
	log "ci-wrap exited $((SECONDS - t0)) s after SIG$sig"
	assert_eq "exit status of ci-wrap after SIG$sig" "$want" "$rc"
	local left
	left=$(session_containers "$(cat "$WORK/session")")
	[[ -z $left ]] || fail "containers left after SIG$sig: $(tr '\n' ' ' <<<"$left")"
}

t_sigterm() { signal_teardown TERM 143; }
t_sigint() { signal_teardown INT 130; }
t_sighup() { signal_teardown HUP 129; }

t_others_survive() {
	local stopped running foreign ids
	stopped=$(d create "${TL[@]}" "$IMG" true) || fail "docker create on the daemon failed"
	running=$(d run -d "${TL[@]}" "$IMG" sleep 600) || fail "docker run -d on the daemon failed"
	# Looks like another live session's container: not ours to remove.
	foreign=$(d run -d "${TL[@]}" --label "ci-wrap.session=ciwt-foreign-$CIWT_RUN" \
		--label "ci-wrap.job=ciwt-foreign" "$IMG" sleep 600) || fail "docker run -d on the daemon failed"
	cw -q --grace "$GRACE" -- sh -c "docker run -d $IMG sleep 600 && docker create $IMG true" \
		>/dev/null 2>"$WORK/err" || fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	d container inspect "$stopped" >/dev/null 2>&1 || fail "a stopped container from before the session was removed"
	assert_eq "state of a running container from before the session" running \
		"$(d inspect -f '{{.State.Status}}' "$running" 2>&1)"
	assert_eq "state of another session's container" running \
		"$(d inspect -f '{{.State.Status}}' "$foreign" 2>&1)"
}

inner_swarm() {
	docker service create -d --name "ciwt-service-$CIWT_RUN" "$IMG" sleep 600 >/dev/null 2>&1 ||
		fail "docker service create failed"
	echo s3cr3t | docker secret create "ciwt-secret-$CIWT_RUN" - >/dev/null || fail "docker secret create failed"
	echo cfg | docker config create "ciwt-config-$CIWT_RUN" - >/dev/null || fail "docker config create failed"
	local kind
	for kind in service secret config; do
		assert_eq "ci-wrap.session of the $kind" "$CI_WRAP_SESSION" \
			"$(docker "$kind" inspect -f '{{index .Spec.Labels "ci-wrap.session"}}' "ciwt-$kind-$CIWT_RUN")"
	done
}

# Swarm objects are labelled in their spec and removed; a daemon outside a
# swarm is made a single-node manager for the case, and left again after.
t_swarm() {
	local state kind
	state=$(d info -f '{{.Swarm.LocalNodeState}}')
	if [[ $state == inactive ]]; then
		d swarm init --advertise-addr 127.0.0.1 >/dev/null 2>"$WORK/swarm-err" ||
			skip "this daemon cannot become a swarm manager: $(head -n 1 "$WORK/swarm-err")"
		on_cleanup 'd swarm leave --force >/dev/null 2>&1'
	elif [[ $state != active ]]; then
		skip "the daemon's swarm is $state"
	fi
	cw_inner -q --grace "$GRACE" -- inner_swarm 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	for kind in service secret config; do
		d "$kind" inspect "ciwt-$kind-$CIWT_RUN" >/dev/null 2>&1 &&
			fail "the $kind is left after ci-wrap exited"
	done
	return 0
}

inner_load() {
	docker load -i "$WORK/tagged.tar" >"$WORK/load.out" || fail "docker load (a tagged image) failed"
	docker load -q -i "$WORK/untagged.tar" >>"$WORK/load.out" || fail "docker load (by ID) failed"
	docker load -q -i "$WORK/pre.tar" >>"$WORK/load.out" || fail "docker load (an image that exists) failed"
	docker image inspect "ciwt-load:$CIWT_RUN" "$(cat "$WORK/untagged.id")" >/dev/null ||
		fail "a loaded image is missing during the session"
}

# An image load cannot be labelled: what it reports loading, and did not
# exist before, goes at teardown; an image that existed stays.
t_image_load() {
	local new pre=ciwt-preload:$CIWT_RUN
	mkdir -p "$WORK/rootfs/bin"
	cp /bin/busybox "$WORK/rootfs/bin/busybox"
	echo "$CIWT_RUN" >"$WORK/rootfs/marker"
	# Two images of the test's own (labelled, so the sweep removes them if
	# the case dies), saved and deleted: the job loads them back.
	new=$(tar -C "$WORK/rootfs" -c . | d import \
		-c "LABEL ci-wrap-test=1 ci-wrap-test.run=$CIWT_RUN" - "ciwt-load:$CIWT_RUN") || fail "docker import failed"
	d save "ciwt-load:$CIWT_RUN" >"$WORK/tagged.tar" || fail "docker save failed"
	d save "$new" >"$WORK/untagged.tar" || fail "docker save by ID failed"
	echo "$new" >"$WORK/untagged.id"
	d rmi -f "$new" >/dev/null || fail "docker rmi failed"
	d tag "$IMG" "$pre" && on_cleanup d rmi "$pre" '>/dev/null 2>&1'
	d save "$pre" >"$WORK/pre.tar" || fail "docker save failed"
	cw_inner -q -- inner_load 2>"$WORK/err" || fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	log "load said: $(tr '\n' '|' <"$WORK/load.out")"
	d image inspect "ciwt-load:$CIWT_RUN" >/dev/null 2>&1 && fail "the loaded tagged image is left"
	d image inspect "$new" >/dev/null 2>&1 && fail "the image loaded by ID is left"
	d image inspect "$pre" >/dev/null 2>&1 || fail "an image that existed before the load was removed"
	d image inspect "$IMG" >/dev/null 2>&1 || fail "the test image was removed"
}

# On a terminal, a teardown longer than a second shows what it does and how
# many are left, on one line it rewrites, then clears for the summary.
t_tty_progress() {
	command -v script >/dev/null || skip "script(1) is not installed"
	local stubborn='trap "" TERM; while :; do sleep 1; done'
	script -qec "$(printf '%q ' "$CI_WRAP" --grace 2s -- sh -c \
		"docker run -d $IMG sh -c '$stubborn' >/dev/null && docker run -d $IMG sh -c '$stubborn' >/dev/null")" \
		"$WORK/tty" >/dev/null 2>&1 </dev/null || fail "ci-wrap on a terminal failed: $(tail -c 300 "$WORK/tty")"
	grep -q $'stopping containers: 2 of 2 left\e\\[K' "$WORK/tty" ||
		fail "no progress line on the terminal: $(tail -c 300 "$WORK/tty" | cat -v)"
	grep -q $'\r\e\\[Kci-wrap: session .*: removed 2 containers' "$WORK/tty" ||
		fail "the progress line was not cleared before the summary: $(tail -c 300 "$WORK/tty" | cat -v)"
	# Not on a terminal: no progress at all.
	cw --grace 2s -- sh -c "docker run -d $IMG sh -c '$stubborn' >/dev/null" 2>"$WORK/err" ||
		fail "ci-wrap failed: $(tail -n 3 "$WORK/err")"
	grep -q "left" "$WORK/err" && fail "progress written to a non-terminal: $(cat -v "$WORK/err")"
	return 0
}

tcase labels 90 t_labels
tcase client-cannot-override 60 t_client_cannot_override
tcase job-id 90 t_job_id
tcase teardown-on-exit 90 t_teardown_on_exit
tcase networks-volumes 60 t_networks_volumes
tcase sigterm 90 t_sigterm
tcase sigint 90 t_sigint
tcase sighup 90 t_sighup
tcase others-survive 90 t_others_survive
tcase swarm 90 t_swarm
tcase image-load 90 t_image_load
tcase tty-progress 60 t_tty_progress
