#!/usr/bin/env bash
# The daemon's write surface from a hostile job (issue 15): requests that would
# make an object without the session's labels, or move work out of the pool,
# are refused with a Docker-style error naming what and why (or rewritten so
# they cannot); routes nobody reviewed are refused unless an --allow group
# relays them. After each bad request the proxy still answers GET /_ping,
# nothing unlabelled is left, and nothing that existed before is removed.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

export LC_ALL=C

# api METHOD PATH [CURL ARGS...]: one request on the proxy socket; prints the
# status on the first line and the body after it.
api() {
	local method=$1 path=$2
	shift 2
	curl -s --unix-socket "$(proxy_socket)" -X "$method" -w '\n%{http_code}' "$@" \
		"http://docker$path" >"$WORK/api.out" 2>&1
	printf '%s\n' "$(tail -n 1 "$WORK/api.out")"
	head -n -1 "$WORK/api.out"
}

# expect_refused WHAT WORD METHOD PATH [CURL ARGS...]: a 4xx answer whose JSON
# message starts "ci-wrap:" and contains WORD; the proxy still answers /_ping.
expect_refused() {
	local what=$1 word=$2 out status msg
	shift 2
	out=$(api "$@")
	status=$(head -n 1 <<<"$out")
	msg=$(tail -n +2 <<<"$out" | jq -r '.message // empty' 2>/dev/null)
	log "$what: $status $(tail -n +2 <<<"$out" | head -c 300)"
	[[ $status == 4?? ]] || fail "$what: expected a refusal, got status '$status': $(tail -n +2 <<<"$out" | head -c 200)"
	[[ $msg == ci-wrap:* ]] || fail "$what: the refusal's message does not start with 'ci-wrap:': '$msg'"
	[[ $msg == *"$word"* ]] || fail "$what: the refusal's message does not mention '$word': '$msg'"
	expect_ping "$what"
}

expect_ping() {
	assert_eq "GET /_ping after $1" "200 OK" "$(api GET /_ping | tr '\n' ' ' | sed 's/ $//')"
}

# A container of the session to commit, start, update.
session_container() {
	docker create --label ci-wrap-test=1 --label "ci-wrap-test.run=$CIWT_RUN" "$IMG" true ||
		fail "docker create through the proxy failed"
}

# --- 1. changes= of commit and import: a continuation swallows our LABEL --------

inner_changes() {
	local id repo=ciwt-ws-$CIWT_RUN
	id=$(session_container)
	# Forged owner: the client's LABEL, then a line continuing into ours.
	expect_refused "commit with a continued change" "continuation" POST \
		"/commit?container=$id&repo=$repo&tag=forged&changes=LABEL%20ci-wrap.session%3Dforged&changes=CMD%20echo%20%5C"
	expect_refused "commit with a parser directive" "#" POST \
		"/commit?container=$id&repo=$repo&tag=directive&changes=%23%20escape%3D%60%0ACMD%20x"
	tar -C "$WORK" -cf "$WORK/rootfs.tar" diag 2>/dev/null || tar -cf "$WORK/rootfs.tar" -T /dev/null
	expect_refused "import with a continued change" "continuation" POST \
		"/images/create?fromSrc=-&repo=$repo&tag=import&changes=CMD%20echo%20%5C" \
		-H 'Content-Type: application/x-tar' --data-binary "@$WORK/rootfs.tar"
	# A plain commit still works and carries our labels.
	api POST "/commit?container=$id&repo=$repo&tag=plain&changes=CMD%20echo%20hi" >/dev/null
	check_session_labels "$repo:plain" "$JOB_ID" "the committed image"
	for t in forged directive import; do
		d image inspect "$repo:$t" >/dev/null 2>&1 && fail "image $repo:$t was created"
	done
	return 0
}

t_changes() {
	local repo=ciwt-ws-$CIWT_RUN
	on_cleanup "d rmi -f $repo:forged $repo:directive $repo:import $repo:plain >/dev/null 2>&1"
	cw_inner -q --grace 1s -- inner_changes 2>"$WORK/err" ||
		fail "session failed: $(grep -v '^# ' "$WORK/err" | tail -n 3 | tr '\n' '|')"
	[[ -z $(d images -q "$repo") ]] || fail "images of the session left: $(d images "$repo" --format '{{.Tag}}' | tr '\n' ' ')"
}


# --- 2. a start body below API 1.24 replaces the HostConfig ------------------------

inner_start_body() {
	local id vol=ciwt-ws-vol-$CIWT_RUN parent
	id=$(session_container)
	parent=$(docker inspect -f '{{.HostConfig.CgroupParent}}' "$id")
	expect_refused "start with a HostConfig body" "HostConfig" POST "/v1.23/containers/$id/start" \
		-H 'Content-Type: application/json' --data "{\"Binds\":[\"$vol:/data\"],\"CgroupParent\":\"\"}"
	expect_refused "start with a padded {} body" "HostConfig" POST "/v1.23/containers/$id/start" \
		-H 'Content-Type: application/json' --data '{}        '
	expect_refused "start with a chunked body" "HostConfig" POST "/v1.23/containers/$id/start" \
		-H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data '{"Privileged":true}'
	d volume inspect "$vol" >/dev/null 2>&1 && fail "the start body's bind created volume $vol"
	assert_eq "CgroupParent after the refused starts" "$parent" \
		"$(docker inspect -f '{{.HostConfig.CgroupParent}}' "$id")"
	# What old clients send for "no HostConfig" still starts it.
	assert_eq "start with a {} body" 204 "$(api POST "/v1.23/containers/$id/start" \
		-H 'Content-Type: application/json' --data '{}' | head -n 1)"
	id=$(session_container)
	assert_eq "start with no body" 204 "$(api POST "/containers/$id/start" | head -n 1)"
}

t_start_body() {
	on_cleanup "d volume rm -f ciwt-ws-vol-$CIWT_RUN >/dev/null 2>&1"
	cw_inner -q --grace 1s -- inner_start_body 2>"$WORK/err" ||
		fail "session failed: $(grep -v '^# ' "$WORK/err" | tail -n 3 | tr '\n' '|')"
	d volume inspect "ciwt-ws-vol-$CIWT_RUN" >/dev/null 2>&1 &&
		fail "volume ciwt-ws-vol-$CIWT_RUN left after the session"
	return 0
}

# --- 3. BuildKit: refused unless --allow-buildkit ------------------------------------

inner_buildkit() { # [allowed]
	local out
	if [[ ${1:-} == allowed ]]; then
		out=$(api POST "/build?version=2&t=ciwt-ws-bk-$CIWT_RUN" -H 'Content-Type: application/x-tar' --data-binary @/dev/null)
		[[ $out != *ci-wrap:* ]] || fail "--allow-buildkit: still refused: $out"
		return 0
	fi
	expect_refused "a BuildKit build" "DOCKER_BUILDKIT=0" POST "/v1.41/build?version=2&t=ciwt-ws-bk-$CIWT_RUN" \
		-H 'Content-Type: application/x-tar' --data-binary @/dev/null
	expect_refused "the BuildKit controller" "--allow buildkit" POST /grpc -H 'Upgrade: h2c' -H 'Connection: Upgrade'
	# (The docker CLI here has no buildx, so DOCKER_BUILDKIT=1 fails in the
	# client: the raw request above stands for it.)
	printf 'FROM %s\nRUN true\n' "$IMG" >"$WORK/Dockerfile"
	# The classic builder works, labelled.
	DOCKER_BUILDKIT=0 docker build -q -t "ciwt-ws-bk-$CIWT_RUN:classic" "$WORK" >/dev/null 2>&1 ||
		fail "DOCKER_BUILDKIT=0 docker build failed"
	check_session_labels "ciwt-ws-bk-$CIWT_RUN:classic" "$JOB_ID" "the classic build"
}

t_buildkit() {
	on_cleanup "d rmi -f ciwt-ws-bk-$CIWT_RUN ciwt-ws-bk-$CIWT_RUN:classic >/dev/null 2>&1"
	cw_inner -q --grace 1s -- inner_buildkit 2>"$WORK/err" ||
		fail "session failed: $(grep -v '^# ' "$WORK/err" | tail -n 3 | tr '\n' '|')"
	cw_inner -q --grace 1s --allow-buildkit -- inner_buildkit allowed 2>"$WORK/err" ||
		fail "session with --allow-buildkit failed: $(grep -v '^# ' "$WORK/err" | tail -n 3 | tr '\n' '|')"
}

# --- 8 and the table: refused groups, audit, report, --allow -------------------------

inner_refused_routes() {
	expect_refused "plugin pull" "--allow plugins" POST "/v1.41/plugins/pull?remote=ciwt-none/none:$CIWT_RUN" \
		-H 'Content-Type: application/json' --data '[]'
	expect_refused "plugin create" "--allow plugins" POST "/plugins/create?name=ciwt-$CIWT_RUN" \
		-H 'Content-Type: application/x-tar' --data-binary @/dev/null
	expect_refused "plugin enable" "--allow plugins" POST "/v1.25/plugins/ciwt-none-$CIWT_RUN/enable"
	expect_refused "plugin upgrade" "--allow plugins" POST "/plugins/ciwt-none-$CIWT_RUN/upgrade?remote=x" \
		-H 'Content-Type: application/json' --data '[]'
	expect_refused "plugin set" "--allow plugins" POST "/plugins/ciwt-none-$CIWT_RUN/set" \
		-H 'Content-Type: application/json' --data '["DEBUG=1"]'
	expect_refused "swarm update" "--allow swarm" POST "/swarm/update?version=0" \
		-H 'Content-Type: application/json' --data '{}'
	expect_refused "swarm unlock" "--allow swarm" POST /swarm/unlock \
		-H 'Content-Type: application/json' --data '{"UnlockKey":"x"}'
	expect_refused "service update" "--allow swarm" POST "/services/ciwt-none/update?version=1" \
		-H 'Content-Type: application/json' --data '{}'
	# Prunes are narrowed to the session's label (26-ownership), not refused.
	assert_eq "a volume prune (of nothing)" 200 \
		"$(api POST "/volumes/prune?filters=%7B%22label%22%3A%5B%22ciwt-none-$CIWT_RUN%22%5D%7D" | head -n 1)"
	expect_refused "an unknown write" "--allow unknown" POST "/ciwt/no/such/route"
	expect_refused "an unknown method" "--allow unknown" PATCH "/containers/ciwt-none"
	# Reviewed writes and reads go on.
	assert_eq "GET /plugins" 200 "$(api GET /plugins | head -n 1)"
	assert_eq "a kill of nothing, relayed" 404 "$(api POST "/containers/ciwt-none-$CIWT_RUN/kill" | head -n 1)"
}

inner_allowed_routes() {
	local out
	for path in "/plugins/ciwt-none-$CIWT_RUN/enable" "/services/ciwt-none/update?version=1"; do
		out=$(api POST "$path" -H 'Content-Type: application/json' --data '{}')
		[[ $out != *ci-wrap:* ]] || fail "POST $path still refused with --allow: $out"
		[[ $(head -n 1 <<<"$out") == [45]?? ]] || fail "POST $path: unexpected answer $out"
	done
	expect_refused "an unknown write, not allowed" "--allow unknown" POST "/ciwt/no/such/route"
}

t_refused_routes() {
	local denied n
	cw_inner -q --grace 1s --report "$WORK/report.json" --audit-log "$WORK/audit.log" \
		-- inner_refused_routes 2>"$WORK/err" ||
		fail "session failed: $(grep -v '^# ' "$WORK/err" | tail -n 3 | tr '\n' '|')"
	denied=$(jq -r .docker.denied "$WORK/report.json")
	((denied >= 10)) || fail "report docker.denied is '$denied', expected at least 10"
	n=$(jq -s '[.[] | select(.action == "refused" and (.reason | test("--allow plugins")))] | length' "$WORK/audit.log")
	assert_eq "audit lines refused for plugins, with the reason" 5 "$n"
	jq -e -s 'map(select(.target == "/ciwt/no/such/route"))[0] | .status == 403 and (.reason | startswith("ci-wrap: refused POST /ciwt/no/such/route"))' \
		"$WORK/audit.log" >/dev/null || fail "audit line of the unknown route: $(grep no/such "$WORK/audit.log")"
	cw_inner -q --grace 1s --allow plugins --allow swarm -- inner_allowed_routes 2>"$WORK/err" ||
		fail "session with --allow failed: $(grep -v '^# ' "$WORK/err" | tail -n 3 | tr '\n' '|')"
	CI_WRAP_ALLOW=plugins,swarm cw_inner -q --grace 1s -- inner_allowed_routes 2>"$WORK/err" ||
		fail "session with CI_WRAP_ALLOW failed: $(grep -v '^# ' "$WORK/err" | tail -n 3 | tr '\n' '|')"
	assert_rc 125 cw --allow plugin -- true 2>/dev/null
}

# --- 4. a Mounts entry with two spellings of VolumeOptions, the last null ---------

inner_mount_spellings() {
	local vol=ciwt-ws-mnt-$CIWT_RUN body out id
	body=$(printf '{"Image":"%s","Cmd":["true"],"Labels":{"ci-wrap-test":"1","ci-wrap-test.run":"%s"},"HostConfig":{"Mounts":[{"Type":"volume","Source":"%s","Target":"/data","VolumeOptions":{"Labels":{"ci-wrap-test.run":"%s"}},"volumeoptions":null}]}}' \
		"$IMG" "$CIWT_RUN" "$vol" "$CIWT_RUN")
	out=$(api POST /containers/create -H 'Content-Type: application/json' --data "$body")
	assert_eq "create with two spellings of VolumeOptions" 201 "$(head -n 1 <<<"$out")"
	id=$(tail -n +2 <<<"$out" | jq -r .Id)
	assert_eq "start" 204 "$(api POST "/containers/$id/start" | head -n 1)"
	check_session_labels "$vol" "$JOB_ID" "the mount's volume"
	expect_ping "the create"
	# A second spelling of Mounts decodes into the first one's element (Go
	# reuses it): Type volume from the first, Source and a null
	# VolumeOptions from the second.
	create_start "$(printf '{"Image":"%s","Cmd":["true"],"Labels":{"ci-wrap-test.run":"%s"},"HostConfig":{"Mounts":[{"Type":"volume","Source":"%s-x","Target":"/a"}],"mounts":[{"Source":"%s-merged","VolumeOptions":null}]}}' \
		"$IMG" "$CIWT_RUN" "$vol" "$vol")"
	check_session_labels "$vol-merged" "$JOB_ID" "the merged mount's volume"
	# A shorter array leaves elements past its len that a longer one later
	# decodes into: the volume mount comes back with another Target.
	create_start "$(printf '{"Image":"%s","Cmd":["true"],"Labels":{"ci-wrap-test.run":"%s"},"HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/a"},{"Type":"volume","Source":"%s-stale","Target":"/b","VolumeOptions":{"Labels":{"x":"1"}}},{"Type":"tmpfs","Target":"/c"}],"mounts":[{"VolumeOptions":null}],"MOUNTS":[{},{"Target":"/z","VolumeOptions":null}]}}' \
		"$IMG" "$CIWT_RUN" "$vol")"
	check_session_labels "$vol-stale" "$JOB_ID" "the revived mount's volume"
	assert_eq "where the daemon mounted it" /z "$(docker inspect -f '{{range .Mounts}}{{if eq .Name "'"$vol-stale"'"}}{{.Destination}}{{end}}{{end}}' "$CREATED")"
}

# create_start BODY: a container create and start through the proxy; the id
# in CREATED.
create_start() {
	local out
	out=$(api POST /containers/create -H 'Content-Type: application/json' --data "$1")
	assert_eq "create" 201 "$(head -n 1 <<<"$out")"
	CREATED=$(tail -n +2 <<<"$out" | jq -r .Id)
	assert_eq "start" 204 "$(api POST "/containers/$CREATED/start" | head -n 1)"
}

t_mount_spellings() {
	on_cleanup "d volume rm -f ciwt-ws-mnt-$CIWT_RUN ciwt-ws-mnt-$CIWT_RUN-merged ciwt-ws-mnt-$CIWT_RUN-stale >/dev/null 2>&1"
	cw_inner -q --grace 1s -- inner_mount_spellings 2>"$WORK/err" ||
		fail "session failed: $(grep -v '^# ' "$WORK/err" | tail -n 3 | tr '\n' '|')"
	for v in ciwt-ws-mnt-$CIWT_RUN{,-merged,-stale}; do
		d volume inspect "$v" >/dev/null 2>&1 && fail "volume $v left after the session"
	done
	return 0
}

# --- 9. a create with very many Binds ----------------------------------------------

# binds_body FILE N DISTINCT PREFIX: a create whose Binds are N entries over
# DISTINCT volume names PREFIX-<i>.
binds_body() {
	python3 - "$@" "$IMG" "$CIWT_RUN" <<'PY'
import json, sys
path, n, distinct, prefix, img, run = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
binds = ["%s-%d:/d%d" % (prefix, i % distinct, i) for i in range(n)]
json.dump({"Image": img, "Cmd": ["true"], "Labels": {"ci-wrap-test": "1", "ci-wrap-test.run": run},
           "HostConfig": {"Binds": binds}}, open(path, "w"))
PY
}

inner_binds() {
	local prefix=ciwt-ws-b-$CIWT_RUN pid max limit
	binds_body "$WORK/cap.json" 300 300 "$prefix-cap"
	expect_refused "a create naming 300 volumes" "256" POST /containers/create \
		-H 'Content-Type: application/json' --data-binary "@$WORK/cap.json"
	[[ -z $(d volume ls -q --filter "name=$prefix-cap") ]] || fail "volumes of the refused create exist"
	# 200,000 binds over 50 names: created, while another connection's
	# /_ping keeps answering at once.
	binds_body "$WORK/big.json" 200000 50 "$prefix-big"
	log "body: $(stat -c %s "$WORK/big.json") bytes"
	curl -s --unix-socket "$(proxy_socket)" -o "$WORK/big.out" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' --data-binary "@$WORK/big.json" \
		http://docker/containers/create >"$WORK/big.status" &
	pid=$!
	max=$(python3 - "$(proxy_socket)" "$pid" <<'PY'
import os, socket, sys, time
path, pid = sys.argv[1], int(sys.argv[2])
worst = 0.0
def alive():
    try:
        os.kill(pid, 0)
        return os.path.exists("/proc/%d" % pid) and open("/proc/%d/stat" % pid).read().split()[2] != "Z"
    except OSError:
        return False
while alive():
    t = time.monotonic()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
    buf = b""
    while b"\r\n\r\nOK" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    s.close()
    worst = max(worst, time.monotonic() - t)
    time.sleep(0.02)
print("%.3f" % worst)
PY
)
	wait "$pid"
	log "slowest /_ping during the create: ${max}s; create: $(cat "$WORK/big.status") $(head -c 200 "$WORK/big.out")"
	assert_eq "create with 200,000 binds over 50 names" 201 "$(cat "$WORK/big.status")"
	# The parse of the 5 MiB body still runs on the loop (0.4 s measured;
	# 1.6 s to 8 s before the cap); ASan builds run it several times slower.
	limit=1.0
	[[ -n ${ASAN_OPTIONS:-} ]] && limit=3.0
	python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$max" "$limit" ||
		fail "a /_ping waited ${max}s (limit ${limit}s) while the proxy read a create with 200,000 binds"
	check_session_labels "$prefix-big-49" "$JOB_ID" "an implicit volume"
	expect_ping "the big create"
}

t_binds() {
	local prefix=ciwt-ws-b-$CIWT_RUN
	on_cleanup "d volume ls -q --filter name=$prefix | xargs -r docker volume rm -f >/dev/null 2>&1"
	cw_inner -q --grace 1s -- inner_binds 2>"$WORK/err" ||
		fail "session failed: $(grep -v '^# ' "$WORK/err" | tail -n 3 | tr '\n' '|')"
	[[ -z $(d volume ls -q --filter "name=$prefix") ]] || fail "volumes left after the session"
}

# --- the table's decision on update: relayed, and still bounded by the pool ----

inner_update() {
	local id rc
	id=$(docker run -d --label ci-wrap-test=1 --label "ci-wrap-test.run=$CIWT_RUN" "$IMG" sleep 60) ||
		fail "docker run through the proxy failed"
	docker update --memory 1g --memory-swap 2g "$id" >/dev/null || fail "docker update was refused"
	assert_eq "the pool's memory.limit_in_bytes after the update" 67108864 \
		"$(cat "/sys/fs/cgroup/memory$CI_WRAP_CGROUP/memory.limit_in_bytes")"
	assert_eq "memory.use_hierarchy of the pool" 1 \
		"$(cat "/sys/fs/cgroup/memory$CI_WRAP_CGROUP/memory.use_hierarchy")"
	# What the container may use is still the pool's 64 MiB: 300 MB is killed.
	docker exec "$id" dd if=/dev/zero of=/dev/null bs=300M count=1 >/dev/null 2>&1
	rc=$?
	[[ $rc == 137 ]] || fail "allocating 300 MB after docker update --memory 1g under --memory 64m: status $rc, expected 137"
}

t_update() {
	[[ -d /sys/fs/cgroup/memory ]] || skip "written for cgroup v1 (no /sys/fs/cgroup/memory)"
	cw_inner -q --grace 1s --memory 64m -- inner_update 2>"$WORK/err" ||
		fail "session failed: $(grep -v '^# ' "$WORK/err" | tail -n 3 | tr '\n' '|')"
}

tcase changes 90 t_changes
tcase start-body 90 t_start_body
tcase mount-spellings 60 t_mount_spellings
tcase binds 120 t_binds
tcase buildkit 120 t_buildkit
tcase refused-routes 120 t_refused_routes
tcase update 60 t_update
