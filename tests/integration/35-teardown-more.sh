#!/usr/bin/env bash
# More teardown (issue 4): paused, crash-looping and networked containers; many
# containers that ignore SIGTERM within one grace period; named volumes a
# container creates implicitly; objects from before the session that the job
# uses; background loops racing the command's exit; the report's counts.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

GRACE=2s

# Objects of any kind carrying SESSION, one "type id" per line.
session_objects() { # SESSION
	local f="label=ci-wrap.session=$1"
	d ps -aq --filter "$f" | sed 's/^/container /'
	d network ls -q --filter "$f" | sed 's/^/network /'
	d volume ls -q --filter "$f" | sed 's/^/volume /'
	d images -q --filter "$f" | sort -u | sed 's/^/image /'
}

nothing_of_session_left() { # SESSION WHEN
	local left
	left=$(session_objects "$1")
	[[ -z $left ]] || fail "objects of session $1 left $2: $(tr '\n' ' ' <<<"$left")"
}


# All labels of OBJECT as sorted compact JSON.
labels_json() { # OBJECT
	d inspect "$1" 2>/dev/null | jq -cS '.[0] | (.Config.Labels // .Labels // {})'
}

session_failed() { # RC
	fail "session failed (status $1): $(tail -n 3 "$WORK/err" | tr '\n' '|')"
}

# --- 1. paused, crash-looping, on a user-defined network ----------------------

inner_states() {
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	local net=ciwt-states-$CIWT_RUN p r n
	docker network create "${TL[@]}" "$net" >/dev/null || fail "docker network create failed"
	p=$(docker run -d "${TL[@]}" "$IMG" sleep 600) || fail "docker run -d failed"
	docker pause "$p" >/dev/null || fail "docker pause failed"
	r=$(docker run -d "${TL[@]}" --restart always "$IMG" sh -c 'exit 1') ||
		fail "docker run -d --restart always failed"
	n=$(docker run -d "${TL[@]}" --network "$net" "$IMG" sleep 600) ||
		fail "docker run -d --network failed"
	printf '%s\n' "$p" "$r" "$n" >"$WORK/ids"
	assert_eq "state of the paused container" paused "$(d inspect -f '{{.State.Status}}' "$p")"
	wait_until 20 eval "(( \$(d inspect -f '{{.RestartCount}}' $r) >= 2 ))" ||
		fail "the --restart always container did not crash-loop"
	log "crash-looping container: $(d inspect -f '{{.State.Status}} restarts={{.RestartCount}}' "$r")"
	# shellcheck disable=SC2016 # a Go template
	assert_eq "network of the networked container" "$net" \
		"$(d inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$n")"
	check_session_labels "$p" "$JOB_ID" "the paused container"
	check_session_labels "$r" "$JOB_ID" "the crash-looping container"
	check_session_labels "$n" "$JOB_ID" "the networked container"
	check_session_labels "$net" "$JOB_ID" "the network"
}

t_states() {
	local rc id
	cw_inner -q --grace "$GRACE" -- inner_states 2>"$WORK/err"
	rc=$?
	((rc == 0)) || session_failed $rc
	while read -r id; do
		d container inspect "$id" >/dev/null 2>&1 && fail "container $id ($(d inspect -f '{{.State.Status}}' "$id")) left after ci-wrap exited"
	done <"$WORK/ids"
	d network inspect "ciwt-states-$CIWT_RUN" >/dev/null 2>&1 && fail "network left after ci-wrap exited"
	nothing_of_session_left "$(cat "$WORK/session")" "after ci-wrap exited"
}

# --- 2. 20 containers ignoring SIGTERM, one grace period ----------------------

now_ms() { echo $(($(date +%s%N) / 1000000)); }

inner_many_stubborn() {
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	now_ms >"$WORK/job-start"
	local i
	for i in $(seq 1 20); do
		docker run -d "${TL[@]}" "$IMG" sh -c 'trap "" TERM; while :; do sleep 1; done' \
			>"$WORK/id.$i" 2>"$WORK/id.$i.err" &
	done
	wait
	cat "$WORK"/id.[0-9]* >"$WORK/ids"
	local n
	n=$(grep -c . "$WORK/ids")
	assert_eq "containers started in parallel" 20 "$n"
	n=$(d ps -q --filter "label=ci-wrap.session=$CI_WRAP_SESSION" --filter status=running | wc -l)
	assert_eq "running containers with this session's label" 20 "$n"
	now_ms >"$WORK/job-end"
}

t_many_stubborn() {
	local rc t0 t1 id
	t0=$(now_ms)
	cw_inner -q --grace 1s -- inner_many_stubborn 2>"$WORK/err"
	rc=$?
	t1=$(now_ms)
	((rc == 0)) || session_failed $rc
	local job=$(($(cat "$WORK/job-end") - $(cat "$WORK/job-start")))
	local overhead=$((t1 - t0 - job))
	log "ci-wrap wall ${t1}-${t0}=$((t1 - t0)) ms, job $job ms, teardown+startup $overhead ms"
	echo "# teardown of 20 SIGTERM-ignoring containers with --grace 1s: $overhead ms (wall $((t1 - t0)) ms, job $job ms)" >&2
	while read -r id; do
		d container inspect "$id" >/dev/null 2>&1 && fail "container $id left after ci-wrap exited"
	done <"$WORK/ids"
	nothing_of_session_left "$(cat "$WORK/session")" "after ci-wrap exited"
	((overhead < 12000)) || fail "teardown of 20 containers with --grace 1s took $overhead ms (>= 12 s): not in parallel?"
}

# --- 3. named volumes made implicitly by a container --------------------------

inner_implicit_volumes() {
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	local bind=ciwt-implicit-$CIWT_RUN mnt=ciwt-mnt-$CIWT_RUN pre=ciwt-prevol-$CIWT_RUN
	docker run -d "${TL[@]}" -v "$bind:/data" "$IMG" sleep 600 >/dev/null ||
		fail "docker run -v $bind:/data failed"
	docker run -d "${TL[@]}" --mount "type=volume,src=$mnt,dst=/m" "$IMG" sleep 600 >/dev/null ||
		fail "docker run --mount type=volume failed"
	# A one-shot container writing to the volume from before the session, and
	# a detached one keeping it mounted until teardown.
	docker run --rm "${TL[@]}" -v "$pre:/p" "$IMG" sh -c 'echo from-job >/p/job' ||
		fail "docker run --rm -v $pre:/p failed"
	docker run -d "${TL[@]}" -v "$pre:/p" "$IMG" sleep 600 >/dev/null ||
		fail "docker run -d -v $pre:/p failed"
	check_session_labels "$bind" "$JOB_ID" "the volume made implicitly by -v (Binds)"
	check_session_labels "$mnt" "$JOB_ID" "the volume made implicitly by --mount type=volume"
	assert_eq "labels of the volume from before the session, during it" \
		"$(cat "$WORK/pre-labels")" "$(labels_json "$pre")"
}

t_implicit_volumes() {
	local pre=ciwt-prevol-$CIWT_RUN rc
	d volume create "${TL[@]}" --label "ciwt-own=$CIWT_RUN" "$pre" >/dev/null || fail "docker volume create failed"
	labels_json "$pre" >"$WORK/pre-labels"
	log "labels of $pre before: $(cat "$WORK/pre-labels")"
	cw_inner -q --grace "$GRACE" -- inner_implicit_volumes 2>"$WORK/err"
	rc=$?
	((rc == 0)) || session_failed $rc
	d volume inspect "ciwt-implicit-$CIWT_RUN" >/dev/null 2>&1 && fail "volume made by -v left after ci-wrap exited"
	d volume inspect "ciwt-mnt-$CIWT_RUN" >/dev/null 2>&1 && fail "volume made by --mount left after ci-wrap exited"
	d volume inspect "$pre" >/dev/null 2>&1 || fail "the volume from before the session was removed"
	assert_eq "labels of the volume from before the session, after it" \
		"$(cat "$WORK/pre-labels")" "$(labels_json "$pre")"
	assert_eq "what the job wrote to the volume from before the session" from-job \
		"$(d run --rm "${TL[@]}" -v "$pre:/p" "$IMG" cat /p/job 2>&1)"
	nothing_of_session_left "$(cat "$WORK/session")" "after ci-wrap exited"
}

# --- 4. objects from before the session that the job uses ---------------------

inner_use_preexisting() {
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	local running stopped net vol img
	read -r running stopped net vol img <"$WORK/pre"
	assert_eq "docker exec into the running container" hello "$(docker exec "$running" echo hello)"
	docker exec "$running" sh -c 'echo exec >/tmp/mark' || fail "docker exec (write) failed"
	# Starting it would run it outside the pool: isolation refuses.
	local out
	out=$(docker start "$stopped" 2>&1) && fail "docker start of a container from before the session succeeded"
	assert_match "docker start of a container from before the session" \
		"was not made by this session \\(--isolation off allows it\\)" "$out"
	docker run -d "${TL[@]}" --network "$net" -v "$vol:/v" "$img" sleep 600 >/dev/null ||
		fail "docker run -d on the network, volume and image from before the session failed"
	docker run --rm "${TL[@]}" --network "$net" -v "$vol:/v" "$img" sh -c 'echo job >/v/f' ||
		fail "docker run --rm on the network, volume and image from before the session failed"
	local c
	c=$(docker create "${TL[@]}" "$img" sleep 600) || fail "docker create failed"
	docker network connect "$net" "$c" || fail "docker network connect failed"
	docker start "$c" >/dev/null || fail "docker start of the session's container failed"
	local n
	n=$(d ps -q --filter "label=ci-wrap.session=$CI_WRAP_SESSION" | wc -l)
	assert_eq "running containers of the session" 2 "$n"
}

t_use_preexisting() {
	local running stopped net=ciwt-prenet-$CIWT_RUN vol=ciwt-prevol4-$CIWT_RUN
	local img=ciwt-preimg-$CIWT_RUN:latest base rc o
	running=$(d run -d "${TL[@]}" "$IMG" sleep 600) || fail "docker run -d failed"
	stopped=$(d create "${TL[@]}" "$IMG" sleep 600) || fail "docker create failed"
	d network create "${TL[@]}" "$net" >/dev/null || fail "docker network create failed"
	d volume create "${TL[@]}" "$vol" >/dev/null || fail "docker volume create failed"
	# An image of our own, labelled so that the sweep removes it.
	base=$(d create "${TL[@]}" "$IMG" true) || fail "docker create failed"
	d commit --change "LABEL ci-wrap-test=1" --change "LABEL ci-wrap-test.run=$CIWT_RUN" \
		"$base" "$img" >/dev/null || fail "docker commit failed"
	on_cleanup "d rmi -f '$img' >/dev/null 2>&1"
	echo "$running $stopped $net $vol $img" >"$WORK/pre"
	for o in "$running" "$stopped" "$net" "$vol" "$img"; do
		labels_json "$o" >"$WORK/labels.${o//[:\/]/_}"
	done
	cw_inner -q --grace "$GRACE" -- inner_use_preexisting 2>"$WORK/err"
	rc=$?
	((rc == 0)) || session_failed $rc
	assert_eq "state of the running container from before the session" running \
		"$(d inspect -f '{{.State.Status}}' "$running" 2>&1)"
	assert_eq "file docker exec wrote in it" exec "$(d exec "$running" cat /tmp/mark 2>&1)"
	assert_eq "state of the stopped container from before the session" created \
		"$(d inspect -f '{{.State.Status}}' "$stopped" 2>&1)"
	d network inspect "$net" >/dev/null 2>&1 || fail "the network from before the session was removed"
	d volume inspect "$vol" >/dev/null 2>&1 || fail "the volume from before the session was removed"
	d image inspect "$img" >/dev/null 2>&1 || fail "the image from before the session was removed"
	for o in "$running" "$stopped" "$net" "$vol" "$img"; do
		assert_eq "labels of $o after the session" "$(cat "$WORK/labels.${o//[:\/]/_}")" "$(labels_json "$o")"
	done
	assert_eq "what the job wrote to the volume" job "$(d run --rm "${TL[@]}" -v "$vol:/v" "$IMG" cat /v/f 2>&1)"
	nothing_of_session_left "$(cat "$WORK/session")" "after ci-wrap exited"
}

# --- 5. background loops racing the exit --------------------------------------

# Each loop: bash -c SCRIPT MARKER IMG RUN; MARKER names the process for pgrep.
# shellcheck disable=SC2016 # expanded by the loops' shells
LOOP_LABELS='--label ci-wrap-test=1 --label ci-wrap-test.run=$R --label ciwt-loopobj=$R'
# shellcheck disable=SC2016
LOOP_CONTAINERS='I=$1 R=$2; while :; do docker run -d '$LOOP_LABELS' "$I" sleep 600 >/dev/null 2>&1; done'
# shellcheck disable=SC2016
LOOP_NETWORKS='I=$1 R=$2; i=0; while :; do i=$((i+1)); docker network create '$LOOP_LABELS' "ciwt-lnet-$R-$$-$i" >/dev/null 2>&1; done'
# shellcheck disable=SC2016
LOOP_VOLUMES='I=$1 R=$2; while :; do docker volume create '$LOOP_LABELS' >/dev/null 2>&1; docker create '$LOOP_LABELS' "$I" true >/dev/null 2>&1; done'

loop_pids() { pgrep -f "ciwt-loop-$CIWT_RUN-" 2>/dev/null; }

kill_loops() {
	local p
	for p in $(loop_pids); do kill -9 "$p" 2>/dev/null; done
	return 0
}

loop_objects() { # containers|networks|volumes
	local f="label=ciwt-loopobj=$CIWT_RUN"
	case $1 in
	containers) d ps -aq --filter "$f" ;;
	networks) d network ls -q --filter "$f" ;;
	volumes) d volume ls -q --filter "$f" ;;
	esac
}

has_loop_objects() { [[ -n $(loop_objects "$1") ]]; }

inner_loops() {
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	local m=ciwt-loop-$CIWT_RUN
	bash -c "$LOOP_CONTAINERS" "$m-plain" "$IMG" "$CIWT_RUN" </dev/null &
	nohup bash -c "$LOOP_NETWORKS" "$m-nohup" "$IMG" "$CIWT_RUN" </dev/null >/dev/null 2>&1 &
	setsid bash -c "$LOOP_VOLUMES" "$m-setsid" "$IMG" "$CIWT_RUN" </dev/null >/dev/null 2>&1 &
	# One more of each kind, so that requests are always in flight.
	bash -c "$LOOP_NETWORKS" "$m-plain2" "$IMG" "$CIWT_RUN" </dev/null &
	setsid bash -c "$LOOP_CONTAINERS" "$m-setsid2" "$IMG" "$CIWT_RUN" </dev/null >/dev/null 2>&1 &
	nohup bash -c "$LOOP_VOLUMES" "$m-nohup2" "$IMG" "$CIWT_RUN" </dev/null >/dev/null 2>&1 &
	local t
	for t in containers networks volumes; do
		wait_until 30 has_loop_objects "$t" || fail "the $t loop created nothing in 30 s"
	done
	local c
	c=$(loop_objects containers | head -n 1)
	check_session_labels "$c" "$JOB_ID" "a container made by a background loop"
	c=$(loop_objects networks | head -n 1)
	check_session_labels "$c" "$JOB_ID" "a network made by a background loop"
	c=$(loop_objects volumes | head -n 1)
	check_session_labels "$c" "$JOB_ID" "a volume made by a background loop"
	log "loops running: $(loop_pids | wc -l) processes; exiting with them still creating"
	exit 0
}

t_loops() {
	on_cleanup kill_loops
	local rc t0=$SECONDS
	cw_inner -q --grace 1s --report "$WORK/report.json" -- inner_loops 2>"$WORK/err"
	rc=$?
	log "ci-wrap took $((SECONDS - t0)) s"
	((rc == 0)) || { kill_loops; session_failed $rc; }
	log "report: $(jq -c .docker "$WORK/report.json" 2>&1)"
	assert_eq "report docker.leaked" '[]' "$(jq -c .docker.leaked "$WORK/report.json" 2>&1)"
	sleep 3
	local pids
	pids=$(loop_pids)
	if [[ -n $pids ]]; then
		local ps_out
		ps_out=$(ps -o pid=,args= -p "$(tr '\n' ',' <<<"$pids" | sed 's/,$//')" 2>&1 | cut -c 1-80 | tr '\n' '|')
		kill_loops
		fail "loop processes survived ci-wrap: $ps_out"
	fi
	local s t left
	s=$(cat "$WORK/session")
	nothing_of_session_left "$s" "3 s after ci-wrap exited"
	for t in containers networks volumes; do
		left=$(loop_objects "$t")
		[[ -z $left ]] || fail "$t made by the loops left (without the session's label?): $(tr '\n' ' ' <<<"$left")"
	done
	return 0
}

# --- 6. the report ------------------------------------------------------------

inner_report() {
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	local b
	docker network create "${TL[@]}" "ciwt-rnet1-$CIWT_RUN" >/dev/null || fail "network create failed"
	docker network create "${TL[@]}" "ciwt-rnet2-$CIWT_RUN" >/dev/null || fail "network create failed"
	docker volume create "${TL[@]}" "ciwt-rvol1-$CIWT_RUN" >/dev/null || fail "volume create failed"
	docker volume create "${TL[@]}" >/dev/null || fail "volume create failed"
	docker create "${TL[@]}" "$IMG" true >/dev/null || fail "docker create failed"
	b=$(docker run -d "${TL[@]}" "$IMG" sleep 600) || fail "docker run -d failed"
	docker run "${TL[@]}" "$IMG" true || fail "docker run failed"
	docker commit --change "LABEL ci-wrap-test=1" --change "LABEL ci-wrap-test.run=$CIWT_RUN" \
		"$b" "ciwt-rimg-$CIWT_RUN:latest" >/dev/null || fail "docker commit failed"
	assert_eq "objects of the session during it" "3 2 2 1" \
		"$(session_objects "$CI_WRAP_SESSION" | awk '{n[$1]++} END {printf "%d %d %d %d", n["container"], n["network"], n["volume"], n["image"]}')"
	exit 3
}

t_report() {
	on_cleanup "d rmi -f 'ciwt-rimg-$CIWT_RUN:latest' >/dev/null 2>&1"
	local r=$WORK/report.json rc
	cw_inner --grace 1s --report "$r" -- inner_report 2>"$WORK/err"
	rc=$?
	log "stderr: $(tr '\n' '|' <"$WORK/err")"
	((rc == 3)) || fail "exit status of ci-wrap: expected 3 (the command's), got $rc: $(grep -v '^ci-wrap: session' "$WORK/err" | tail -n 3 | tr '\n' '|')"
	[[ -s $r ]] || fail "no report written"
	jq -e . "$r" >/dev/null || fail "report is not JSON: $(head -c 200 "$r")"
	log "report: $(jq -c . "$r")"
	assert_eq "report session" "$(cat "$WORK/session")" "$(jq -r .session "$r")"
	assert_eq "report job" "$JOB_ID" "$(jq -r .job "$r")"
	assert_eq "report exit_code" 3 "$(jq -r .exit_code "$r")"
	assert_eq "report command" "[\"bash\",\"$_CIWT_FILE\"]" "$(jq -c .command "$r")"
	local four='{containers, networks, volumes, images}'
	assert_eq "report docker.created" '{"containers":3,"networks":2,"volumes":2,"images":1}' \
		"$(jq -c ".docker.created | $four" "$r")"
	assert_eq "report docker.removed" '{"containers":3,"networks":2,"volumes":2,"images":1}' \
		"$(jq -c ".docker.removed | $four" "$r")"
	assert_eq "report docker.leaked" '[]' "$(jq -c .docker.leaked "$r")"
	assert_eq "report docker.denied" 0 "$(jq -r .docker.denied "$r")"
	jq -e '.docker.requests >= 8' "$r" >/dev/null || fail "report docker.requests < 8: $(jq -c .docker "$r")"
	jq -e '(.duration_s | type) == "number" and .duration_s > 0' "$r" >/dev/null ||
		fail "report duration_s: $(jq -c .duration_s "$r")"
	assert_match "summary line" "removed 3 containers, 2 networks, 2 volumes, 1 image" "$(cat "$WORK/err")"
	nothing_of_session_left "$(cat "$WORK/session")" "after ci-wrap exited"
	d image inspect "ciwt-rimg-$CIWT_RUN:latest" >/dev/null 2>&1 && fail "committed image left after ci-wrap exited"
	return 0
}

tcase states 90 t_states
tcase many-stubborn 90 t_many_stubborn
tcase implicit-volumes 90 t_implicit_volumes
tcase use-preexisting 90 t_use_preexisting
tcase loops-racing-exit 90 t_loops
tcase report 90 t_report
