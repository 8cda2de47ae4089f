#!/usr/bin/env bash
# Real Docker clients other than the CLI through the proxy (issue 4):
# docker-compose 1.29 (Python), the Python Docker SDK (python3-docker) and
# dockerode (npm). Each creates containers, a network and a volume; they must
# carry the session's labels during the run and be gone when ci-wrap returns.
# The client scripts are in tests/clients/; dockerode is installed by
# scripts/setup.sh into $CIWT_NODE_DIR (default /var/cache/ci-wrap-test/node).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

GRACE=2s
CLIENTS=$(cd "$CIWT_DIR/../clients" && pwd)
NODE_DIR=${CIWT_NODE_DIR:-/var/cache/ci-wrap-test/node}

# The session's three labels (lib.sh), and the client's own label (TL) kept
# next to them.
check_client_object() { # OBJECT WHAT
	check_session_labels "$1" "$JOB_ID" "$2"
	assert_eq "the client's own label ci-wrap-test.run on $2" "$CIWT_RUN" "$(label_of "$1" ci-wrap-test.run)"
}

# Everything carrying the session label, on the real daemon: "TYPE ID" lines.
session_leftovers() { # SESSION
	local f="label=ci-wrap.session=$1"
	d ps -aq --filter "$f" | sed 's/^/container /'
	d network ls -q --filter "$f" | sed 's/^/network /'
	d volume ls -q --filter "$f" | sed 's/^/volume /'
}

# After ci-wrap returned: none of the objects listed in FILE ("TYPE ID" lines)
# and nothing else of the session exists.
check_all_gone() { # FILE SESSION
	local type id left
	while read -r type id; do
		case $type in
		container) d container inspect "$id" >/dev/null 2>&1 && fail "container ${id:0:12} left after ci-wrap exited" ;;
		network) d network inspect "$id" >/dev/null 2>&1 && fail "network $id left after ci-wrap exited" ;;
		volume) d volume inspect "$id" >/dev/null 2>&1 && fail "volume $id left after ci-wrap exited" ;;
		esac
	done <"$1"
	left=$(session_leftovers "$2")
	[[ -z $left ]] || fail "objects of the session left after ci-wrap exited: $(tr '\n' ' ' <<<"$left")"
	return 0
}

# The objects a client script reported ("TYPE ID" lines, then "done"): each
# carries the labels; the counts are as expected.
check_reported() { # FILE
	local type id nc=0 nn=0 nv=0
	grep -qx "done" "$1" || fail "the client did not finish"
	while read -r type id; do
		[[ $type == "done" ]] && continue
		check_client_object "$id" "the $type ${id:0:12} it created"
		case $type in
		container) nc=$((nc + 1)) ;;
		network) nn=$((nn + 1)) ;;
		volume) nv=$((nv + 1)) ;;
		esac
	done <"$1"
	assert_eq "containers, networks, volumes the client created" "2 1 1" "$nc $nn $nv"
}

# --- docker-compose ---------------------------------------------------------

compose_project() { printf 'ciwt-%s-compose\n' "${CIWT_RUN,,}"; }

write_compose_file() { # DIR
	mkdir -p "$1"
	cat >"$1/docker-compose.yml" <<EOF
version: "3.7"
services:
  app:
    image: $IMG
    command: ["sh", "-c", "echo compose-log-line; exec sleep 600"]
    labels: &labels
      ci-wrap-test: "1"
      ci-wrap-test.run: "$CIWT_RUN"
    networks: [backend]
    volumes: ["data:/data"]
networks:
  backend:
    labels: *labels
volumes:
  data:
    labels: *labels
EOF
}

compose_logs_show() { # PROJECT TEXT
	docker-compose -p "$1" logs --no-color app 2>>"$WORK/compose.log" | grep -q "$2"
}

inner_compose() { # PROJECT
	local p=$1 c out
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	cd "$WORK/compose" || fail "no compose directory"
	docker-compose -p "$p" up -d >>"$WORK/compose.log" 2>&1 ||
		fail "docker-compose up -d failed: $(tail -n 3 "$WORK/compose.log" | tr '\n' '|')"
	# Listed through the proxy; checked on the real daemon.
	c=$(docker ps -q --no-trunc --filter "label=com.docker.compose.project=$p") ||
		fail "docker ps through the proxy failed"
	[[ $c =~ ^[0-9a-f]{64}$ ]] || fail "expected one container of project $p, got '$c'"
	printf '%s\n' "container $c" "network ${p}_backend" "volume ${p}_data" >"$WORK/objects"
	assert_eq "state of the service's container" running "$(d inspect -f '{{.State.Status}}' "$c")"
	check_client_object "$c" "the service's container"
	check_client_object "${p}_backend" "the compose network"
	check_client_object "${p}_data" "the compose volume"
	# shellcheck disable=SC2016 # a Go template
	d inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$c" | grep -qw "${p}_backend" ||
		fail "the service's container is not on ${p}_backend"
	# exec and logs through compose (hijacked and streamed responses).
	out=$(docker-compose -p "$p" exec -T app sh -c 'echo compose-exec >/data/f; cat /data/f' 2>>"$WORK/compose.log") ||
		fail "docker-compose exec -T failed: $(tail -n 3 "$WORK/compose.log" | tr '\n' '|')"
	assert_eq "output of docker-compose exec -T" compose-exec "$out"
	wait_until 10 compose_logs_show "$p" compose-log-line ||
		fail "docker-compose logs did not show the service's output"
	assert_eq "docker-compose ps -q app" "$c" "$(docker-compose -p "$p" ps -q app 2>>"$WORK/compose.log")"
	# No `down`: ci-wrap must remove the project.
}

t_compose() {
	command -v docker-compose >/dev/null || skip "docker-compose not installed (scripts/setup.sh installs it)"
	local p
	p=$(compose_project)
	# Only this run's project: its container, network and volume by name.
	on_cleanup "d rm -f -v \$(d ps -aq --filter label=com.docker.compose.project=$p) >/dev/null 2>&1"
	on_cleanup "d network rm ${p}_backend >/dev/null 2>&1"
	on_cleanup "d volume rm -f ${p}_data >/dev/null 2>&1"
	write_compose_file "$WORK/compose"
	cw_inner -q --grace "$GRACE" -- inner_compose "$p" 2>"$WORK/err"
	local rc=$?
	[[ -s $WORK/compose.log ]] && sed 's/^/compose: /' "$WORK/compose.log" | tail -n 8 | while read -r l; do log "$l"; done
	((rc == 0)) || fail "session failed (status $rc): $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	check_all_gone "$WORK/objects" "$(cat "$WORK/session")"
	local left
	left=$(d ps -aq --filter "label=com.docker.compose.project=$p")
	[[ -z $left ]] || fail "containers of compose project $p left: $left"
}

# --- the Python Docker SDK --------------------------------------------------

inner_client() { # CLIENT-COMMAND...
	echo "$CI_WRAP_SESSION" >"$WORK/session"
	"$@" >"$WORK/objects" 2>"$WORK/client-err" ||
		fail "the client failed: $(tail -n 3 "$WORK/client-err" | tr '\n' '|')"
	check_reported "$WORK/objects"
}

t_python_sdk() {
	python3 -c 'import docker' 2>/dev/null || skip "python3-docker not installed (scripts/setup.sh installs it)"
	cw_inner -q --grace "$GRACE" -- inner_client timeout 60 python3 "$CLIENTS/docker-sdk.py" \
		"$IMG" "ciwt-$CIWT_RUN-py" ci-wrap-test=1 "ci-wrap-test.run=$CIWT_RUN" 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	check_all_gone "$WORK/objects" "$(cat "$WORK/session")"
}

# --- dockerode --------------------------------------------------------------

t_dockerode() {
	command -v node >/dev/null || skip "node not installed (scripts/setup.sh installs nodejs and npm)"
	NODE_PATH=$NODE_DIR/node_modules node -e 'require("dockerode")' >/dev/null 2>&1 ||
		skip "dockerode not installed in $NODE_DIR (scripts/setup.sh installs it with npm; was the npm registry unreachable?)"
	NODE_PATH=$NODE_DIR/node_modules cw_inner -q --grace "$GRACE" -- inner_client timeout 60 node \
		"$CLIENTS/dockerode.js" "$IMG" "ciwt-$CIWT_RUN-js" ci-wrap-test=1 "ci-wrap-test.run=$CIWT_RUN" 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	check_all_gone "$WORK/objects" "$(cat "$WORK/session")"
}

tcase compose 90 t_compose
tcase python-sdk 90 t_python_sdk
tcase dockerode 90 t_dockerode
