#!/usr/bin/env bash
# Ownership (issue 14, part 2). Three classes of object for a session:
# - its own: full access;
# - another session's (ci-wrap.session set, not ours): answered as the daemon
#   answers for a missing object (404 and its message), left out of lists,
#   events and prunes;
# - made outside ci-wrap (no ci-wrap.session label): usable (inspect, logs,
#   exec, attach, --network, -v, FROM, tag), never destroyed or altered: 403
#   "ci-wrap: refused: KIND NAME was not made by this session (--isolation off
#   allows it)".
# `--isolation off` (CI_WRAP_ISOLATION=off) relays everything as before.
#
# Two concurrent sessions: B, held open in the background (inner_b) with
# objects of every kind, and A, the job under test. Objects "made outside
# ci-wrap" are made here directly on the daemon. Everything carries TL, so the
# sweep removes it if a session's teardown does not.
#
# The daemon is shared with other jobs: prunes in A run only after A showed
# that ownership is on, and the unfiltered
# `docker system prune -af --volumes` only after prunes filtered by a label of
# this run's objects left B's and the outside objects alone. A running
# container of $IMG is up during every prune, so the shared test image is
# never unused.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

GRACE=1s
CLIENTS=$(cd "$CIWT_DIR/../clients" && pwd)
NODE_DIR=${CIWT_NODE_DIR:-/var/cache/ci-wrap-test/node}
RUN_LC=${CIWT_RUN,,}
PB=ciwt-$RUN_LC-b   # session B's objects
PO=ciwt-$RUN_LC-out # objects made outside ci-wrap
PA=ciwt-$RUN_LC-a   # session A's objects
# A label that B's objects, the outside objects and some of A's share: a
# filter or a prune that selects it can tell them apart only by ownership.
# (The key is this run's: a key-only filter must not match an earlier run's.)
SHARED_K=ciwt.shared.$RUN_LC
SHARED_KV=$SHARED_K=1
SHARED=(--label "$SHARED_KV")

refused_msg() { # KIND NAME
	printf 'ci-wrap: refused: %s %s was not made by this session (--isolation off allows it)' "$1" "$2"
}

save_vars() { # FILE NAME=VALUE...: a file to source, in this case or in a session
	local file=$1 kv
	shift
	for kv in "$@"; do
		printf '%s=%q\n' "${kv%%=*}" "${kv#*=}"
	done >>"$file"
}

# --- checks that go on after a failure --------------------------------------
# One run should name every operation the proxy gets wrong, not only the
# first: these record a failure, end_checks fails the case with all of them.

check_fail() {
	printf '%s\n' "$*" >>"$WORK/failed"
	log "FAILED: $*"
}

end_checks() { # WHERE
	[[ -s $WORK/failed ]] || return 0
	local n
	n=$(wc -l <"$WORK/failed")
	fail "$n check(s) failed $1, first: $(head -n 1 "$WORK/failed")
$(tail -n +2 "$WORK/failed")"
}

oneline() { head -c 300 | tr '\n' '|'; }

# A docker CLI command on another session's object: the daemon's answer for a
# missing object. (`docker rm -f` and `rmi -f` exit 0 when the object is
# missing, so the message is what is checked; the object's state after.)
expect_missing() { # MESSAGE COMMAND...
	local want=$1 out
	shift
	out=$(timeout 5 "$@" 2>&1)
	[[ $out == *"$want"* ]] || check_fail "'$*' on session B's object: expected '$want', got '$(oneline <<<"$out")'"
}

# A docker CLI command on an object made outside ci-wrap: refused, with the
# message (KIND "re": NAME is an extended regular expression for it).
expect_refused() { # KIND NAME COMMAND...
	local kind=$1 name=$2 out rc ok=0
	shift 2
	out=$(timeout 5 "$@" 2>&1)
	rc=$?
	if [[ $kind == re ]]; then
		[[ $out =~ $name ]] && ok=1
	else
		[[ $out == *"$(refused_msg "$kind" "$name")"* ]] && ok=1
		name=$(refused_msg "$kind" "$name")
	fi
	if ((rc == 0)); then
		check_fail "'$*' on an object made outside ci-wrap succeeded: '$(oneline <<<"$out")'"
	elif ((!ok)); then
		check_fail "'$*' on an object made outside ci-wrap: expected '$name', got '$(oneline <<<"$out")'"
	fi
}

expect_ok() { # WHAT COMMAND...: a command that must work; its output in $WORK/ok-out
	timeout 30 "${@:2}" >"$WORK/ok-out" 2>&1 ||
		check_fail "$1 ('${*:2}') failed: $(oneline <"$WORK/ok-out")"
}

# A request to the session's socket, as a client would send it: the status
# on stdout, the body in $WORK/api-body.
api() { # METHOD PATH [JSON-BODY]
	local args=(-s --max-time 5 -o "$WORK/api-body" -w '%{http_code}' --unix-socket "${SOCK:-$(proxy_socket)}" -X "$1")
	(($# > 2)) && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	: >"$WORK/api-body"
	curl "${args[@]}" "http://docker$2"
}

# The message of an error answer: JSON {"message"}, or the plain text some
# endpoints (attach) answer with.
api_message() {
	jq -er '.message' "$WORK/api-body" 2>/dev/null || cat "$WORK/api-body"
}

# STATUS 404: the message must contain MESSAGE (the daemon wraps some, e.g.
# "Cannot kill container: X: No such container: X"); 403: be MESSAGE.
expect_api() { # STATUS MESSAGE METHOD PATH [JSON-BODY]
	local want=$1 msg=$2 code got
	shift 2
	code=$(api "$@")
	got=$(api_message)
	if [[ $code != "$want" ]]; then
		check_fail "$1 $2: expected HTTP $want, got $code '$(oneline <<<"$got")'"
	elif [[ $want == 403 && $got != "$msg" ]]; then
		check_fail "$1 $2: expected message '$msg', got '$(oneline <<<"$got")'"
	elif [[ $got != *"$msg"* ]]; then
		check_fail "$1 $2: expected a message with '$msg', got '$(oneline <<<"$got")'"
	fi
}

# --- the objects of the three classes ---------------------------------------

make_ctx() {
	mkdir -p "$WORK/ctx"
	printf 'FROM %s\n' "$IMG" >"$WORK/ctx/Dockerfile"
}

# Runs as session B's command: a running and a stopped container, an exec
# instance, a network, a volume and (unless $WORK/b-light exists) a built
# image, all labelled SHARED; their ids in $WORK/b.env. Then holds the
# session open until $WORK/b-stop exists.
inner_b() {
	local sock exec_id img='' net ctr stopped
	sock=$(proxy_socket)
	net=$(docker network create "${TL[@]}" "${SHARED[@]}" "$PB-net") || fail "B: docker network create failed"
	docker volume create "${TL[@]}" "${SHARED[@]}" "$PB-vol" >/dev/null || fail "B: docker volume create failed"
	ctr=$(docker run -d --name "$PB-ctr" "${TL[@]}" "${SHARED[@]}" "$IMG" sh -c 'echo b-log-line; exec sleep 600') ||
		fail "B: docker run -d failed"
	{ stopped=$(docker create --name "$PB-stopped" "${TL[@]}" "${SHARED[@]}" "$IMG" true) && docker start -a "$stopped"; } ||
		fail "B: docker create + start of a container that exits failed"
	exec_id=$(curl -sf --unix-socket "$sock" -X POST -H 'Content-Type: application/json' -d '{"Cmd":["true"]}' \
		"http://docker/v1.41/containers/$PB-ctr/exec" | jq -r .Id) || fail "B: exec create failed"
	if [[ ! -e $WORK/b-light ]]; then
		img=$(DOCKER_BUILDKIT=0 docker build -q "${TL[@]}" "${SHARED[@]}" -t "$PB-img:1" "$WORK/ctx" 2>"$WORK/b-build.err") ||
			fail "B: docker build failed: $(oneline <"$WORK/b-build.err")"
	fi
	save_vars "$WORK/b.env" "B_SESSION=$CI_WRAP_SESSION" "B_CTR_ID=$ctr" "B_STOPPED_ID=$stopped" \
		"B_EXEC_ID=$exec_id" "B_NET_ID=$net" "B_IMG_ID=$img"
	touch "$WORK/b-ready"
	wait_until 170 test -e "$WORK/b-stop" || true
}

start_b() { # [light]: no image
	make_ctx
	[[ ${1:-} == light ]] && touch "$WORK/b-light"
	# ci-wrap itself is the background job (not a subshell around it), so
	# that the case's cleanup, which signals its jobs, tears B down.
	_CIWT_INNER=inner_b "$CI_WRAP" -q --grace "$GRACE" -- bash "$_CIWT_FILE" 2>"$WORK/b-err" &
	B_PID=$!
	on_cleanup "wait_until 20 eval '! kill -0 $B_PID 2>/dev/null'"
	# shellcheck disable=SC2016 # expanded by eval, at each try
	wait_until 60 eval '[[ -e $WORK/b-ready ]] || ! kill -0 "$B_PID" 2>/dev/null'
	[[ -e $WORK/b-ready ]] || fail "session B did not get its objects up: $(tail -n 3 "$WORK/b-err" | oneline)"
	# shellcheck source=/dev/null
	. "$WORK/b.env"
}

# B ends normally (its teardown after A's attempts removes what it made).
stop_b() {
	touch "$WORK/b-stop"
	wait "$B_PID"
	local rc=$?
	((rc == 0)) || fail "session B exited $rc: $(tail -n 3 "$WORK/b-err" | oneline)"
}

# Directly on the daemon: a running container (on network $PO-busy), a stopped
# one, an idle network, an idle volume, the test image tagged with a new name
# (as a pulled base image) and (unless "light") an image of its own with no
# container, one a prune -a would remove. Ids in $WORK/o.env.
make_outside() { # [light]
	local net run stopped
	make_ctx
	net=$(d network create "${TL[@]}" "${SHARED[@]}" "$PO-net") || fail "docker network create failed"
	d network create "${TL[@]}" "$PO-busy" >/dev/null || fail "docker network create failed"
	d volume create "${TL[@]}" "${SHARED[@]}" "$PO-vol" >/dev/null || fail "docker volume create failed"
	run=$(d run -d --name "$PO-run" --network "$PO-busy" "${TL[@]}" "${SHARED[@]}" "$IMG" \
		sh -c 'echo out-log-line; exec sleep 600') || fail "docker run -d failed"
	{ stopped=$(d create --name "$PO-stopped" "${TL[@]}" "${SHARED[@]}" "$IMG" true) && d start -a "$stopped"; } ||
		fail "docker create + start of a container that exits failed"
	d tag "$IMG" "$PO-img:1" || fail "docker tag failed"
	on_cleanup "d rmi $PO-img:1 >/dev/null 2>&1"
	O_BUILT_ID=
	if [[ ${1:-} != light ]]; then
		O_BUILT_ID=$(DOCKER_BUILDKIT=0 d build -q "${TL[@]}" "${SHARED[@]}" -t "$PO-built:1" "$WORK/ctx" 2>"$WORK/o-build.err") ||
			fail "docker build failed: $(oneline <"$WORK/o-build.err")"
	fi
	save_vars "$WORK/o.env" "O_RUN_ID=$run" "O_STOPPED_ID=$stopped" "O_NET_ID=$net" "O_BUILT_ID=$O_BUILT_ID"
	# shellcheck source=/dev/null
	. "$WORK/o.env"
}

# In session A: its own running and stopped container, network, volume and
# built image, named $PA-SUFFIX-*, with LABEL-ARGS; ids in $WORK/a.env as
# A_<SUFFIX>_{CTR,STOPPED,NET,IMG}.
a_make() { # SUFFIX [LABEL-ARGS...]
	local s=${1^^} p=$PA-$1 img net ctr stopped
	shift
	net=$(docker network create "${TL[@]}" "$@" "$p-net") || fail "A: docker network create failed"
	docker volume create "${TL[@]}" "$@" "$p-vol" >/dev/null || fail "A: docker volume create failed"
	ctr=$(docker run -d --name "$p-ctr" "${TL[@]}" "$@" "$IMG" sleep 600) || fail "A: docker run -d failed"
	{ stopped=$(docker create --name "$p-stopped" "${TL[@]}" "$@" "$IMG" true) && docker start -a "$stopped"; } ||
		fail "A: docker create + start of a container that exits failed"
	img=$(DOCKER_BUILDKIT=0 docker build -q "${TL[@]}" "$@" -t "$p-img:1" "$WORK/ctx" 2>"$WORK/a-build.err") ||
		fail "A: docker build failed: $(oneline <"$WORK/a-build.err")"
	save_vars "$WORK/a.env" "A_${s}_CTR=$ctr" "A_${s}_STOPPED=$stopped" "A_${s}_NET=$net" "A_${s}_IMG=$img"
	# shellcheck source=/dev/null
	. "$WORK/a.env"
}

run_a() { # [CI-WRAP OPTIONS] -- FUNCTION [ARGS]: session A, which must exit 0
	cw_inner -q --grace "$GRACE" "$@" 2>"$WORK/a-err" ||
		fail "session A failed (status $?): $(tail -n 3 "$WORK/a-err" | oneline)"
}

# --- another session's container and exec instance ---------------------------

inner_a_container() {
	# shellcheck source=/dev/null
	. "$WORK/b.env"
	local n=$PB-ctr v=/v1.41 short=${B_CTR_ID:0:12}
	local miss="No such container: $PB-ctr"
	docker network create "${TL[@]}" "$PA-net" >/dev/null || fail "A: docker network create failed"
	# By name, id and id prefix; the generic inspect tries every kind.
	expect_missing "$miss" docker container inspect "$n"
	expect_missing "No such container: $B_CTR_ID" docker container inspect "$B_CTR_ID"
	expect_missing "No such container: $short" docker container inspect "$short"
	expect_missing "No such object: $n" docker inspect "$n"
	expect_missing "$miss" docker logs "$n"
	expect_missing "$miss" docker top "$n"
	expect_missing "$miss" docker exec "$n" true
	expect_missing "$miss" docker attach --no-stdin "$n"
	expect_missing "$miss" docker rename "$n" "$PA-renamed"
	expect_missing "$miss" docker update --cpu-shares 512 "$n"
	expect_missing "$miss" docker network connect "$PA-net" "$n"
	expect_missing "$miss" docker pause "$n"
	expect_missing "No such container: $PB-stopped" docker start "$PB-stopped"
	expect_missing "$miss" docker restart -t 1 "$n"
	expect_missing "$miss" docker stop -t 1 "$n"
	expect_missing "$miss" docker kill "$n"
	expect_missing "$miss" docker rm "$n"
	expect_missing "No such container: $short" docker rm -f "$short"
	# The same through the API: status and message, with and without the
	# version prefix.
	expect_api 404 "$miss" GET "$v/containers/$n/json"
	expect_api 404 "$miss" GET "/containers/$n/json"
	expect_api 404 "No such container: $short" GET "$v/containers/$short/json"
	expect_api 404 "$miss" GET "$v/containers/$n/logs?stdout=1"
	expect_api 404 "$miss" GET "$v/containers/$n/archive?path=/etc/hostname"
	expect_api 404 "$miss" POST "$v/containers/$n/exec" '{"Cmd":["true"]}'
	expect_api 404 "$miss" POST "$v/containers/$n/attach?logs=1&stream=0&stdout=1"
	expect_api 404 "$miss" POST "$v/containers/$n/rename?name=$PA-renamed"
	expect_api 404 "$miss" POST "$v/containers/$n/update" '{"CpuShares":512}'
	expect_api 404 "$miss" POST "$v/containers/$n/pause"
	expect_api 404 "$miss" POST "$v/containers/$n/kill?signal=WINCH"
	expect_api 404 "$miss" POST "$v/containers/$n/stop?t=1"
	expect_api 404 "$miss" DELETE "$v/containers/$n?force=1"
	expect_api 404 "No such container: $B_CTR_ID" DELETE "$v/containers/$B_CTR_ID?force=1"
	expect_api 404 "No such container: $PB-stopped" POST "$v/containers/$PB-stopped/start"
	expect_api 404 "$miss" POST "$v/networks/$PA-net/connect" "{\"Container\":\"$n\"}"
	# B's exec instance.
	expect_api 404 "No such exec instance: $B_EXEC_ID" GET "$v/exec/$B_EXEC_ID/json"
	expect_api 404 "No such exec instance: $B_EXEC_ID" POST "$v/exec/$B_EXEC_ID/start" '{"Detach":true}'
	expect_api 404 "No such exec instance: $B_EXEC_ID" POST "$v/exec/$B_EXEC_ID/resize?h=10&w=10"
	end_checks "in session A"
}

t_other_container() {
	start_b light
	run_a -- inner_a_container
	# On the daemon: B's objects as B left them.
	# shellcheck disable=SC2016 # a Go template
	assert_eq "B's container (status, name, cpu shares, networks) after A" "running /$PB-ctr 0 bridge" \
		"$(d inspect -f '{{.State.Status}} {{.Name}} {{.HostConfig.CpuShares}} {{range $k, $_ := .NetworkSettings.Networks}}{{$k}}{{end}}' "$B_CTR_ID" 2>&1)"
	assert_eq "B's stopped container after A" exited "$(d inspect -f '{{.State.Status}}' "$B_STOPPED_ID" 2>&1)"
	assert_eq "B's exec instance after A (exec inspect on the daemon)" "200 false" \
		"$(curl -s -o "$WORK/exec.json" -w '%{http_code}' --unix-socket "${CIWT_DOCKER_HOST#unix://}" \
			"http://docker/v1.41/exec/$B_EXEC_ID/json") $(jq -r .Running "$WORK/exec.json" 2>/dev/null)"
	stop_b
	d container inspect "$B_CTR_ID" >/dev/null 2>&1 && fail "session B's teardown left its container"
	return 0
}

# --- another session's network, volume and image -----------------------------

inner_a_net_vol_img() {
	# shellcheck source=/dev/null
	. "$WORK/b.env"
	local v=/v1.41 nmiss="network $PB-net not found" vmiss="get $PB-vol: no such volume"
	local imiss="No such image: $PB-img:1" ishort=${B_IMG_ID#sha256:}
	ishort=${ishort:0:12}
	docker run -d --name "$PA-ctr" "${TL[@]}" "$IMG" sleep 600 >/dev/null || fail "A: docker run -d failed"
	expect_missing "$nmiss" docker network inspect "$PB-net"
	expect_missing "network ${B_NET_ID:0:12} not found" docker network inspect "${B_NET_ID:0:12}"
	expect_missing "$nmiss" docker network connect "$PB-net" "$PA-ctr"
	expect_missing "$nmiss" docker network disconnect "$PB-net" "$PA-ctr"
	expect_missing "$nmiss" docker network rm "$PB-net"
	expect_missing "network $B_NET_ID not found" docker network rm "$B_NET_ID"
	expect_missing "$vmiss" docker volume inspect "$PB-vol"
	expect_missing "$vmiss" docker volume rm "$PB-vol"
	expect_missing "$imiss" docker image inspect "$PB-img:1"
	expect_missing "$imiss" docker history "$PB-img:1"
	expect_missing "$imiss" docker tag "$PB-img:1" "$PA-tag:1"
	expect_missing "$imiss" docker rmi "$PB-img:1"
	expect_missing "No such image: $ishort" docker rmi -f "$ishort"
	expect_api 404 "$nmiss" GET "$v/networks/$PB-net"
	expect_api 404 "$nmiss" POST "$v/networks/$PB-net/connect" "{\"Container\":\"$PA-ctr\"}"
	expect_api 404 "$nmiss" DELETE "$v/networks/$PB-net"
	expect_api 404 "$vmiss" GET "$v/volumes/$PB-vol"
	expect_api 404 "$vmiss" DELETE "/volumes/$PB-vol?force=1"
	expect_api 404 "$imiss" GET "$v/images/$PB-img:1/json"
	expect_api 404 "$imiss" GET "$v/images/$PB-img:1/history"
	expect_api 404 "$imiss" POST "$v/images/$PB-img:1/tag?repo=$PA-tag&tag=2"
	expect_api 404 "$imiss" DELETE "$v/images/$PB-img:1?force=1"
	expect_api 404 "No such image: $B_IMG_ID" DELETE "$v/images/$B_IMG_ID?force=1"
	a_build_from_b "$imiss"
	end_checks "in session A"
}

# A build FROM B's image, however the Dockerfile names it: answered as for a
# missing image before the daemon builds a step.
a_build_from_b() { # MESSAGE
	local ctx=$WORK/from-b b=(env DOCKER_BUILDKIT=0 docker build -q "${TL[@]}")
	mkdir -p "$ctx"
	printf 'FROM %s\nRUN touch /a-ran\n' "$PB-img:1" >"$ctx/Dockerfile"
	printf '# escape=`\nARG BASE=%s\nFROM --platform=linux/amd64 $BASE AS base\nFROM base\n' "$PB-img:1" >"$ctx/Dockerfile.arg"
	printf 'ARG BASE\nFROM ${BASE:-%s}\n' "$IMG" >"$ctx/Dockerfile.buildarg"
	expect_missing "$1" "${b[@]}" "$ctx"
	expect_missing "$1" "${b[@]}" --compress "$ctx"
	expect_missing "$1" "${b[@]}" -f "$ctx/Dockerfile.arg" "$ctx"
	expect_missing "$1" "${b[@]}" --build-arg "BASE=$PB-img:1" -f "$ctx/Dockerfile.buildarg" "$ctx"
	expect_missing "$1" "${b[@]}" - <"$ctx/Dockerfile"
	expect_missing "No such image: ${B_IMG_ID#sha256:}" "${b[@]}" - <<<"FROM ${B_IMG_ID#sha256:}"
	# The same Dockerfile with B's image left out builds.
	expect_ok "docker build FROM the test image with a build arg" "${b[@]}" -f "$ctx/Dockerfile.buildarg" "$ctx"
}

t_other_net_vol_img() {
	on_cleanup "d rmi $PA-tag:1 $PA-tag:2 >/dev/null 2>&1"
	start_b
	run_a -- inner_a_net_vol_img
	d network inspect "$B_NET_ID" >/dev/null 2>&1 || fail "B's network is gone after A"
	d volume inspect "$PB-vol" >/dev/null 2>&1 || fail "B's volume is gone after A"
	assert_eq "B's image's tag after A" "$PB-img:1" \
		"$(d image inspect -f '{{join .RepoTags ","}}' "$B_IMG_ID" 2>&1)"
	stop_b
	d image inspect "$B_IMG_ID" >/dev/null 2>&1 && fail "session B's teardown left its image"
	return 0
}

# --- lists and events ---------------------------------------------------------

has_line() { grep -qxF -- "$2" <<<"$1"; } # LINES LINE

# LIST (the output of a list command) must hold every WANT and no NOT.
check_list() { # WHAT LIST WANT... -- NOT...
	local what=$1 list=$2 x
	shift 2
	while (($#)) && [[ $1 != -- ]]; do
		has_line "$list" "$1" || check_fail "$what does not show ${1:0:40} (one it must show)"
		shift
	done
	shift
	for x in "$@"; do
		has_line "$list" "$x" && check_fail "$what shows ${x:0:40}, of session B"
	done
	return 0
}

inner_a_lists() {
	# shellcheck source=/dev/null
	. "$WORK/b.env"
	# shellcheck source=/dev/null
	. "$WORK/o.env"
	a_make own
	local t0 t1
	t0=$(cat "$WORK/t0")
	check_list "docker ps -a" "$(docker ps -aq --no-trunc)" "$A_OWN_CTR" "$A_OWN_STOPPED" "$O_RUN_ID" "$O_STOPPED_ID" -- \
		"$B_CTR_ID" "$B_STOPPED_ID"
	check_list "docker ps" "$(docker ps -q --no-trunc)" "$A_OWN_CTR" "$O_RUN_ID" -- "$B_CTR_ID"
	# An HTTP/1.0 client gets the list without chunks, ended by the close.
	check_list "GET /containers/json over HTTP/1.0" \
		"$(curl -s -0 --max-time 5 --unix-socket "$(proxy_socket)" 'http://docker/v1.41/containers/json?all=1' | jq -r '.[].Id')" \
		"$A_OWN_CTR" "$O_RUN_ID" -- "$B_CTR_ID"
	check_list "docker ps -a (names)" "$(docker ps -a --format '{{.Names}}')" "$PA-own-ctr" "$PO-run" -- \
		"$PB-ctr" "$PB-stopped"
	check_list "docker network ls" "$(docker network ls -q --no-trunc)" "$A_OWN_NET" "$O_NET_ID" -- "$B_NET_ID"
	check_list "docker network ls (names)" "$(docker network ls --format '{{.Name}}')" "$PA-own-net" "$PO-net" -- "$PB-net"
	check_list "docker volume ls" "$(docker volume ls -q)" "$PA-own-vol" "$PO-vol" -- "$PB-vol"
	check_list "docker images" "$(docker images -q --no-trunc)" "$A_OWN_IMG" "$O_BUILT_ID" -- "$B_IMG_ID"
	check_list "docker images -a" "$(docker images -aq --no-trunc)" "$A_OWN_IMG" "$O_BUILT_ID" -- "$B_IMG_ID"
	check_list "docker images (names)" "$(docker images --format '{{.Repository}}:{{.Tag}}')" \
		"$PA-own-img:1" "$PO-img:1" "$PO-built:1" "$IMG" -- "$PB-img:1"
	# Events since before B and the outside objects were made.
	sleep 1
	t1=$(date +%s.%N)
	docker events --since "$t0" --until "$t1" --format '{{json .}}' >"$WORK/events" 2>"$WORK/events.err" ||
		fail "docker events --since --until failed: $(oneline <"$WORK/events.err")"
	log "A saw $(wc -l <"$WORK/events") events"
	# (jq 1.6's -e looks at the last input only: one answer for all of them.)
	# shellcheck disable=SC2016 # jq's $id
	local created='[inputs | select(.Type == "container" and .Action == "create" and .Actor.ID == $id)] | length > 0'
	jq -ne --arg id "$A_OWN_CTR" "$created" <"$WORK/events" >/dev/null ||
		check_fail "docker events does not show the create of A's own container"
	jq -ne --arg id "$O_RUN_ID" "$created" <"$WORK/events" >/dev/null ||
		check_fail "docker events does not show the create of the container made outside ci-wrap"
	local x ev
	for x in "$B_CTR_ID" "$B_STOPPED_ID" "$B_NET_ID" "$PB-vol" "$B_IMG_ID" "$PB-ctr" "$PB-stopped" "$PB-net" "$PB-img:1"; do
		ev=$(jq -c --arg x "$x" 'select(.Actor.ID == $x or .Actor.Attributes.name == $x) | [.Type, .Action]' "$WORK/events" | head -n 3)
		[[ -z $ev ]] || check_fail "docker events shows session B's ${x:0:40}: $(oneline <<<"$ev")"
	done
	# Nor any event that names one of B's objects elsewhere (a container's
	# connect to the shared bridge network names it in Attributes.container).
	for x in "${B_CTR_ID}" "${B_STOPPED_ID}" "${B_NET_ID}" "${B_IMG_ID#sha256:}" "$PB-"; do
		ev=$(grep -F -- "$x" "$WORK/events" | jq -c '[.Type, .Action, .Actor.ID[0:12]]' | head -n 3)
		[[ -z $ev ]] || check_fail "docker events mentions session B's ${x:0:40}: $(oneline <<<"$ev")"
	done
	end_checks "in session A"
}

t_lists_events() {
	date +%s.%N >"$WORK/t0"
	make_outside
	start_b
	run_a -- inner_a_lists
	stop_b
}

# Filters in both encodings clients send: a map of booleans (docker CLI,
# dockerode) and an array (docker-py), through the session's socket.
# (Few processes per request: on a busy agent each costs.)
api_list_ids() { # KIND FILTERS-JSON: the ids (volume names) listed, sorted, on one line
	local path q=$2 jqf
	q=${q//'{'/%7B} q=${q//'}'/%7D} q=${q//'['/%5B} q=${q//']'/%5D}
	q=${q//'"'/%22} q=${q//:/%3A} q=${q//,/%2C} q=${q//=/%3D}
	case $1 in
	containers) path="/v1.41/containers/json?all=1&filters=$q" jqf='.[].Id' ;;
	networks) path="/v1.41/networks?filters=$q" jqf='.[].Id' ;;
	volumes) path="/v1.41/volumes?filters=$q" jqf='.Volumes // [] | .[].Name' ;;
	images) path="/v1.41/images/json?filters=$q" jqf='.[].Id' ;;
	esac
	local code
	code=$(api GET "$path")
	if [[ $code != 200 ]]; then
		echo "HTTP $code: $(api_message | oneline)"
		return
	fi
	jq -r "[$jqf] | sort | join(\" \")" "$WORK/api-body"
}

sorted_line() { printf '%s\n' "$@" | sed '/^$/d' | sort | paste -sd ' '; }

check_filter() { # KIND FILTERS-JSON WANT (sorted_line)
	local got
	got=$(api_list_ids "$1" "$2")
	[[ $got == "$3" ]] || check_fail "GET $1 with filters=$2: expected [$3], got [$got]"
}

inner_a_filters() {
	# shellcheck source=/dev/null
	. "$WORK/b.env"
	# shellcheck source=/dev/null
	. "$WORK/o.env"
	a_make own "${SHARED[@]}"
	SOCK=$(proxy_socket)
	local kind enc own all
	for kind in containers networks volumes images; do
		case $kind in
		containers) own=$(sorted_line "$A_OWN_CTR" "$A_OWN_STOPPED") all=$(sorted_line "$A_OWN_CTR" "$A_OWN_STOPPED" "$O_RUN_ID" "$O_STOPPED_ID") ;;
		networks) own=$A_OWN_NET all=$(sorted_line "$A_OWN_NET" "$O_NET_ID") ;;
		volumes) own=$PA-own-vol all=$(sorted_line "$PA-own-vol" "$PO-vol") ;;
		images) own=$A_OWN_IMG all=$(sorted_line "$A_OWN_IMG" "$O_BUILT_ID") ;;
		esac
		for enc in "{\"label\":{\"$SHARED_KV\":true}}" "{\"label\":[\"$SHARED_KV\"]}" \
			"{\"label\":{\"$SHARED_K\":true}}"; do
			check_filter "$kind" "$enc" "$all"
		done
		# Two labels: ANDed, as the daemon does.
		check_filter "$kind" "{\"label\":{\"$SHARED_KV\":true,\"ci-wrap.session\":true}}" "$own"
		check_filter "$kind" "{\"label\":[\"$SHARED_KV\",\"ci-wrap.session=$CI_WRAP_SESSION\"]}" "$own"
		# A job cannot find its neighbour's objects by asking for its label.
		check_filter "$kind" "{\"label\":{\"ci-wrap.session=$B_SESSION\":true}}" ""
		check_filter "$kind" "{\"label\":[\"ci-wrap.session=$B_SESSION\"]}" ""
	done
	check_filter containers "{\"label\":[\"$SHARED_KV-none\"]}" ""
	check_filter containers "{\"name\":{\"$PB-ctr\":true}}" ""
	check_filter containers "{\"name\":[\"$PB-\"]}" ""
	check_filter containers "{\"id\":[\"$B_CTR_ID\"]}" ""
	check_filter networks "{\"name\":{\"$PB-net\":true}}" ""
	check_filter volumes "{\"name\":[\"$PB-vol\"]}" ""
	check_filter images "{\"reference\":{\"$PB-img\":true}}" ""
	check_filter images "{\"reference\":[\"$PO-built\"]}" "$O_BUILT_ID"
	end_checks "in session A"
}

t_list_filters() {
	make_outside
	start_b
	run_a -- inner_a_filters
	stop_b
}

# --- objects made outside ci-wrap: used ---------------------------------------

inner_a_use_outside() {
	# shellcheck source=/dev/null
	. "$WORK/o.env"
	local got
	docker run -d --name "$PA-ctr" "${TL[@]}" "$IMG" sleep 600 >/dev/null || fail "A: docker run -d failed"
	got=$(docker container inspect -f '{{.Id}}' "$PO-run" 2>&1)
	[[ $got == "$O_RUN_ID" ]] || check_fail "docker container inspect of the outside container: '$(oneline <<<"$got")'"
	got=$(docker container inspect -f '{{.Id}}' "${O_RUN_ID:0:12}" 2>&1)
	[[ $got == "$O_RUN_ID" ]] || check_fail "docker container inspect by id prefix of the outside container: '$(oneline <<<"$got")'"
	expect_ok "docker inspect of the stopped outside container" docker inspect "$PO-stopped"
	expect_ok "docker network inspect of the outside network" docker network inspect "$PO-net"
	expect_ok "docker volume inspect of the outside volume" docker volume inspect "$PO-vol"
	expect_ok "docker image inspect of the outside image" docker image inspect "$PO-img:1"
	expect_ok "docker logs of the outside container" docker logs "$PO-run"
	grep -qx out-log-line "$WORK/ok-out" || check_fail "docker logs of the outside container: '$(oneline <"$WORK/ok-out")'"
	expect_ok "docker exec into the outside container" docker exec "$PO-run" echo exec-ok
	grep -qx exec-ok "$WORK/ok-out" || check_fail "docker exec into the outside container: '$(oneline <"$WORK/ok-out")'"
	local code
	code=$(api POST "/v1.41/containers/$PO-run/attach?logs=1&stream=0&stdout=1")
	if [[ $code != 200 ]] || ! grep -aq out-log-line "$WORK/api-body"; then
		check_fail "attach to the outside container: HTTP $code '$(oneline <"$WORK/api-body")'"
	fi
	expect_ok "docker run --network <outside network> -v <outside volume>:/x" \
		docker run --rm "${TL[@]}" --network "$PO-net" -v "$PO-vol:/x" "$IMG" sh -c 'echo used >/x/f && cat /x/f'
	grep -qx used "$WORK/ok-out" || check_fail "the container on the outside network and volume: '$(oneline <"$WORK/ok-out")'"
	expect_ok "docker run of the outside image" docker run --rm "${TL[@]}" "$PO-img:1" true
	# The session's own container joins a network made outside: a use, as --network.
	expect_ok "docker network connect <outside network> <own container>" docker network connect "$PO-net" "$PA-ctr"
	mkdir -p "$WORK/from"
	printf 'FROM %s\n' "$PO-img:1" >"$WORK/from/Dockerfile"
	expect_ok "docker build FROM the outside image" env DOCKER_BUILDKIT=0 docker build -q "${TL[@]}" -t "$PA-from:1" "$WORK/from"
	expect_ok "docker tag of the outside image" docker tag "$PO-img:1" "$PA-tag:1"
	check_list "docker ps -a (names)" "$(docker ps -a --format '{{.Names}}')" "$PO-run" "$PO-stopped" --
	check_list "docker network ls (names)" "$(docker network ls --format '{{.Name}}')" "$PO-net" "$PO-busy" --
	check_list "docker volume ls" "$(docker volume ls -q)" "$PO-vol" --
	check_list "docker images (names)" "$(docker images --format '{{.Repository}}:{{.Tag}}')" "$PO-img:1" "$PO-built:1" --
	end_checks "in session A"
}

# After a session: every outside object as made (and not paused, renamed,
# updated or disconnected).
check_outside_intact() { # WHEN
	# shellcheck disable=SC2016 # a Go template
	assert_eq "the outside running container $1 (status, name, cpu shares, networks)" "running /$PO-run 0 $PO-busy" \
		"$(d inspect -f '{{.State.Status}} {{.Name}} {{.HostConfig.CpuShares}} {{range $k, $_ := .NetworkSettings.Networks}}{{$k}}{{end}}' "$O_RUN_ID" 2>&1)"
	assert_eq "the outside stopped container $1" "exited /$PO-stopped" \
		"$(d inspect -f '{{.State.Status}} {{.Name}}' "$O_STOPPED_ID" 2>&1)"
	d network inspect "$O_NET_ID" >/dev/null 2>&1 || fail "the outside network is gone $1"
	d network inspect "$PO-busy" >/dev/null 2>&1 || fail "the outside network $PO-busy is gone $1"
	d volume inspect "$PO-vol" >/dev/null 2>&1 || fail "the outside volume is gone $1"
	d image inspect "$PO-img:1" >/dev/null 2>&1 || fail "the outside image (tag $PO-img:1) is gone $1"
	d image inspect "$O_BUILT_ID" >/dev/null 2>&1 || fail "the outside image $PO-built:1 is gone $1"
	d image inspect "$IMG" >/dev/null 2>&1 || fail "the test image $IMG is gone $1"
}

t_outside_use() {
	on_cleanup "d rmi $PA-tag:1 >/dev/null 2>&1"
	make_outside
	run_a -- inner_a_use_outside
	check_outside_intact "after a session that used it"
	# The session's tag of an image it did not make is a name it owns: only
	# that tag goes at teardown.
	d image inspect "$PA-tag:1" >/dev/null 2>&1 && fail "the session's tag $PA-tag:1 of the outside image is left after teardown"
	return 0
}

# --- objects made outside ci-wrap: not destroyed or altered -------------------

inner_a_refused_outside() {
	# shellcheck source=/dev/null
	. "$WORK/o.env"
	local v=/v1.41 bshort=${O_BUILT_ID#sha256:}
	bshort=${bshort:0:12}
	expect_refused container "$PO-run" docker update --cpu-shares 512 "$PO-run"
	expect_refused container "$PO-run" docker pause "$PO-run"
	expect_refused container "$PO-run" docker unpause "$PO-run"
	expect_refused container "$PO-stopped" docker start "$PO-stopped"
	expect_refused container "$PO-stopped" docker rm "$PO-stopped"
	expect_refused re "ci-wrap: refused: (network $PO-busy|container $PO-run) was not made by this session \(--isolation off allows it\)" \
		docker network disconnect "$PO-busy" "$PO-run"
	expect_refused network "$PO-net" docker network rm "$PO-net"
	expect_refused volume "$PO-vol" docker volume rm "$PO-vol"
	expect_refused volume "$PO-vol" docker volume rm -f "$PO-vol"
	expect_refused image "$PO-img:1" docker rmi "$PO-img:1"
	expect_refused image "$PO-built:1" docker image rm -f "$PO-built:1"
	expect_refused image "$bshort" docker rmi -f "$bshort"
	expect_refused container "$PO-run" docker restart -t 1 "$PO-run"
	expect_refused container "$PO-run" docker rename "$PO-run" "$PA-renamed"
	expect_refused container "$PO-run" docker stop -t 1 "$PO-run"
	expect_refused container "$PO-run" docker kill "$PO-run"
	expect_refused container "$PO-run" docker rm -f "$PO-run"
	expect_refused container "${O_RUN_ID:0:12}" docker rm -f "${O_RUN_ID:0:12}"
	# Through the API: exactly the message, with and without version prefix.
	expect_api 403 "$(refused_msg container "$PO-run")" POST "$v/containers/$PO-run/update" '{"CpuShares":512}'
	expect_api 403 "$(refused_msg container "$PO-run")" POST "$v/containers/$PO-run/pause"
	expect_api 403 "$(refused_msg container "$PO-run")" POST "$v/containers/$PO-run/kill?signal=WINCH"
	expect_api 403 "$(refused_msg container "$PO-run")" POST "/containers/$PO-run/stop?t=1"
	expect_api 403 "$(refused_msg container "$PO-stopped")" POST "$v/containers/$PO-stopped/start"
	expect_api 403 "$(refused_msg container "$PO-run")" POST "$v/containers/$PO-run/rename?name=$PA-renamed"
	expect_api 403 "$(refused_msg container "$PO-run")" DELETE "$v/containers/$PO-run?force=1"
	expect_api 403 "$(refused_msg container "$O_RUN_ID")" DELETE "$v/containers/$O_RUN_ID?force=1"
	expect_api 403 "$(refused_msg network "$PO-net")" DELETE "$v/networks/$PO-net"
	expect_api 403 "$(refused_msg volume "$PO-vol")" DELETE "$v/volumes/$PO-vol"
	expect_api 403 "$(refused_msg image "$PO-img:1")" DELETE "$v/images/$PO-img:1"
	expect_api 403 "$(refused_msg image "$PO-built:1")" DELETE "/images/$PO-built:1?force=1"
	end_checks "in session A"
}

t_outside_refused() {
	make_outside
	run_a -- inner_a_refused_outside
	check_outside_intact "after a session that tried to destroy it"
}

# --- prunes --------------------------------------------------------------------

# On the daemon: the objects of B and those made outside a prune must leave.
prune_survivors_missing() {
	local x
	for x in "container $B_STOPPED_ID" "container $B_CTR_ID" "network $B_NET_ID" "volume $PB-vol" "image $B_IMG_ID" \
		"container $O_STOPPED_ID" "container $O_RUN_ID" "network $O_NET_ID" "network $PO-busy" "volume $PO-vol" \
		"image $PO-img:1" "image $O_BUILT_ID" "image $IMG"; do
		d "${x%% *}" inspect "${x#* }" >/dev/null 2>&1 || printf '%s ' "${x:0:30}"
	done
}

a_gone() { # SUFFIX WHAT: A's prunable objects of a_make SUFFIX must be gone
	local s=${1^^} p=$PA-$1 ctr net img
	ctr=A_${s}_STOPPED net=A_${s}_NET img=A_${s}_IMG
	d container inspect "${!ctr}" >/dev/null 2>&1 && check_fail "$2 left the session's own stopped container"
	d network inspect "${!net}" >/dev/null 2>&1 && check_fail "$2 left the session's own network"
	# (From API 1.42 a volume prune takes named volumes only with all=true.)
	if [[ $(printf '%s\n' 1.42 "$(d version -f '{{.Server.APIVersion}}')" | sort -V | head -n 1) != 1.42 ]]; then
		d volume inspect "$p-vol" >/dev/null 2>&1 && check_fail "$2 left the session's own volume"
	fi
	d image inspect "${!img}" >/dev/null 2>&1 && check_fail "$2 left the session's own image"
	return 0
}

inner_a_prune() {
	# shellcheck source=/dev/null
	. "$WORK/b.env"
	# shellcheck source=/dev/null
	. "$WORK/o.env"
	local out missing f=(--filter "label=$SHARED_KV")
	# Ownership must be on before anything is pruned on a shared daemon.
	out=$(docker container inspect "$PB-ctr" 2>&1) &&
		fail "ownership is off (session B's container is visible): not pruning the shared daemon"
	out=$(docker rm "$PO-stopped" 2>&1) &&
		fail "ownership is off (a container made outside ci-wrap was removed): not pruning the shared daemon"
	[[ $out == *"$(refused_msg container "$PO-stopped")"* ]] ||
		fail "ownership looks off (docker rm of an outside container: '$(oneline <<<"$out")'): not pruning the shared daemon"
	a_make p1 "${SHARED[@]}"
	a_make p2
	# Each prune, filtered to this run's label (held by B's, the outside and
	# A's p1 objects): only A's go.
	expect_ok "docker container prune --filter" docker container prune -f "${f[@]}"
	expect_ok "docker network prune --filter" docker network prune -f "${f[@]}"
	expect_ok "docker volume prune --filter" docker volume prune -f "${f[@]}"
	expect_ok "docker image prune -a --filter" docker image prune -af "${f[@]}"
	missing=$(prune_survivors_missing)
	[[ -z $missing ]] || fail "label-filtered prunes in A removed: $missing(not running the unfiltered system prune)"
	a_gone p1 "the label-filtered prunes"
	timeout 60 docker system prune -af --volumes >"$WORK/system-prune.out" 2>&1
	log "docker system prune -af --volumes: status $?: $(oneline <"$WORK/system-prune.out")"
	missing=$(prune_survivors_missing)
	[[ -z $missing ]] || fail "docker system prune -af --volumes in A removed: $missing"
	a_gone p2 "docker system prune -af --volumes"
	end_checks "in session A"
}

t_prune() {
	make_outside
	start_b
	run_a -- inner_a_prune
	local missing
	missing=$(prune_survivors_missing)
	[[ -z $missing ]] && return 0
	fail "after A's prunes, gone: $missing"
}

# --- --isolation off ------------------------------------------------------------

inner_rm_f() { # CONTAINER...: docker rm -f must work
	local out
	out=$(docker container inspect -f '{{.Id}}' "$1" 2>&1) || fail "docker container inspect $1 failed: $(oneline <<<"$out")"
	out=$(docker rm -f "$@" 2>&1) || fail "docker rm -f $* failed: $(oneline <<<"$out")"
	[[ $out == *"No such"* ]] && fail "docker rm -f $*: $(oneline <<<"$out")"
	return 0
}

t_isolation_off() {
	make_outside light
	start_b light
	run_a --isolation off -- inner_rm_f "$PB-ctr"
	d container inspect "$B_CTR_ID" >/dev/null 2>&1 && fail "with --isolation off, docker rm -f left session B's container"
	CI_WRAP_ISOLATION=off run_a -- inner_rm_f "$PO-run"
	d container inspect "$O_RUN_ID" >/dev/null 2>&1 && fail "with CI_WRAP_ISOLATION=off, docker rm -f left the outside container"
	stop_b
}

# --- other clients --------------------------------------------------------------

inner_a_client() { # COMMAND...: a client script given the objects as JSON
	# shellcheck source=/dev/null
	. "$WORK/b.env"
	# shellcheck source=/dev/null
	. "$WORK/o.env"
	local own args
	own=$(docker run -d "${TL[@]}" "${SHARED[@]}" "$IMG" sleep 600) || fail "A: docker run -d failed"
	args=$(jq -n --arg own "$own" --arg b_ctr_name "$PB-ctr" --arg b_ctr_id "$B_CTR_ID" \
		--arg b_net_id "$B_NET_ID" --arg b_vol "$PB-vol" --arg b_img_id "$B_IMG_ID" \
		--arg out_ctr_name "$PO-run" --arg out_ctr_id "$O_RUN_ID" --arg label "$SHARED_KV" \
		--arg out_refused "$(refused_msg container "$PO-run")" '$ARGS.named')
	"$@" "$args" >"$WORK/client-out" 2>&1 || fail "$(head -n 20 "$WORK/client-out" | tr '\n' '|')"
}

t_python_sdk() {
	python3 -c 'import docker' 2>/dev/null || skip "python3-docker not installed (scripts/setup.sh installs it)"
	make_outside
	start_b
	run_a -- inner_a_client timeout 60 python3 "$CLIENTS/ownership-sdk.py"
	stop_b
	d container inspect "$O_RUN_ID" >/dev/null 2>&1 || fail "the outside container is gone after the Python SDK's session"
}

t_dockerode() {
	command -v node >/dev/null || skip "node not installed (scripts/setup.sh installs nodejs and npm)"
	NODE_PATH=$NODE_DIR/node_modules node -e 'require("dockerode")' >/dev/null 2>&1 ||
		skip "dockerode not installed in $NODE_DIR (scripts/setup.sh installs it with npm)"
	make_outside
	start_b
	NODE_PATH=$NODE_DIR/node_modules run_a -- inner_a_client timeout 60 node "$CLIENTS/ownership-dockerode.js"
	stop_b
	d container inspect "$O_RUN_ID" >/dev/null 2>&1 || fail "the outside container is gone after dockerode's session"
}

tcase other-container 120 t_other_container
tcase other-net-vol-img 120 t_other_net_vol_img
tcase lists-events 120 t_lists_events
tcase list-filters 150 t_list_filters
tcase outside-use 90 t_outside_use
tcase outside-refused 120 t_outside_refused
tcase prune 150 t_prune
tcase isolation-off 90 t_isolation_off
tcase python-sdk 90 t_python_sdk
tcase dockerode 90 t_dockerode
