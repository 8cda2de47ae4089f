#!/usr/bin/env bash
# The opt-in policy (issue 14): with --deny RULES every rule's container
# create is refused with a 403 naming the field and the option, by the docker
# CLI and the Python SDK, written to the audit log with its reason; without
# the option the same requests go through. --allow-bind DIR refuses host
# paths outside DIR (by component, symlinks resolved, volumes that bind
# included) and keeps the daemon's socket, swapped for the session's,
# allowed. --isolation on|off reaches the proxy. Everything a case makes
# carries TL (and, made in a session, the session's labels).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

ALL_RULES=privileged,host-network,host-pid,host-ipc,devices,cap-add,host-userns

session_failed() {
	fail "session failed: $(grep -v '^# ' "$WORK/err" | tail -n 3 | tr '\n' '|')"
}

# refused WHAT MESSAGE DOCKER-ARGS...: the docker CLI fails with the proxy's
# refusal, whose message holds MESSAGE.
refused() {
	local what=$1 want=$2 out
	shift 2
	out=$(docker "$@" 2>&1) && fail "$what: not refused: $(head -c 300 <<<"$out")"
	[[ $out == *"Error response from daemon: "*"$want"* ]] ||
		fail "$what: expected a refusal with '$want', got: $(head -c 300 <<<"$out" | tr '\n' ' ')"
	log "$what: $(grep -m 1 'Error response' <<<"$out")"
}

# No container of this session exists: a refused create made nothing.
no_session_containers() {
	local ids
	ids=$(docker ps -aq --filter "label=ci-wrap.session=$CI_WRAP_SESSION")
	[[ -z $ids ]] || fail "refused creates left containers: $ids"
}

# audit_refusals FILE SUFFIX: audit lines refused with 403 whose reason ends
# with SUFFIX.
audit_refusals() {
	jq -s --arg s "$2" '[.[] | select(.action == "refused" and .status == 403 and
		((.reason // "") | endswith($s)))] | length' "$1"
}

# --- --deny: every rule refused with its message ---------------------------------

inner_deny_all() {
	local m="ci-wrap: refused: HostConfig"
	refused "--privileged" "$m.Privileged (--deny privileged)" \
		run --rm "${TL[@]}" --privileged "$IMG" true
	refused "create --privileged" "$m.Privileged (--deny privileged)" \
		create "${TL[@]}" --privileged "$IMG" true
	refused "--network host" "$m.NetworkMode host (--deny host-network)" \
		run --rm "${TL[@]}" --network host "$IMG" true
	refused "--pid host" "$m.PidMode host (--deny host-pid)" \
		run --rm "${TL[@]}" --pid host "$IMG" true
	refused "--ipc host" "$m.IpcMode host (--deny host-ipc)" \
		run --rm "${TL[@]}" --ipc host "$IMG" true
	refused "--device" "$m.Devices (--deny devices)" \
		run --rm "${TL[@]}" --device /dev/null "$IMG" true
	refused "--device-cgroup-rule" "$m.DeviceCgroupRules (--deny devices)" \
		run --rm "${TL[@]}" --device-cgroup-rule 'c 1:3 mr' "$IMG" true
	refused "--gpus" "$m.DeviceRequests (--deny devices)" \
		run --rm "${TL[@]}" --gpus all "$IMG" true
	refused "--cap-add" "$m.CapAdd (--deny cap-add)" \
		run --rm "${TL[@]}" --cap-add NET_ADMIN "$IMG" true
	refused "--userns host" "$m.UsernsMode host (--deny host-userns)" \
		run --rm "${TL[@]}" --userns host "$IMG" true
	printf 'FROM %s\nRUN true\n' "$IMG" >"$WORK/Dockerfile"
	DOCKER_BUILDKIT=0 refused "build --network host" \
		"ci-wrap: refused: a build's networkmode=host (--deny host-network)" \
		build -q --network host -t "ciwt-policy-$CIWT_RUN:host" "$WORK"
	no_session_containers
	# What asks for nothing of the host still runs.
	docker run --rm "${TL[@]}" --cap-drop ALL "$IMG" true || fail "a plain docker run failed"
}

t_deny_all() {
	local rule n denied
	on_cleanup "d rmi -f ciwt-policy-$CIWT_RUN:host >/dev/null 2>&1"
	cw_inner -q --grace 1s --deny privileged,host-network,host-pid --deny host-ipc,devices \
		--deny cap-add,host-userns --audit-log "$WORK/audit.log" --report "$WORK/report.json" \
		-- inner_deny_all 2>"$WORK/err" || session_failed
	for rule in ${ALL_RULES//,/ }; do
		n=$(audit_refusals "$WORK/audit.log" "(--deny $rule)")
		((n >= 1)) || fail "no audit line refused with its reason for --deny $rule"
	done
	assert_eq "audit lines refused by --deny" 11 "$(audit_refusals "$WORK/audit.log" ")")"
	denied=$(jq -r .docker.denied "$WORK/report.json")
	((denied >= 11)) || fail "report docker.denied is '$denied', expected at least 11"
	d image inspect "ciwt-policy-$CIWT_RUN:host" >/dev/null 2>&1 && fail "the refused build made an image"
	return 0
}

# --- --deny: without the option (or with other rules) the same goes through ---------

# ARGS for docker run; a failure that is not ci-wrap's (this host's runtime
# may not start a privileged container) counts as let through.
let_through() {
	local what=$1 out
	shift
	out=$(docker run --rm "${TL[@]}" "$@" "$IMG" true 2>&1) && return 0
	[[ $out != *ci-wrap:* ]] || fail "$what refused: $(head -c 300 <<<"$out")"
	log "$what: not refused, failed in the daemon: $(head -c 200 <<<"$out" | tr '\n' ' ')"
}

inner_allowed() { # [RULES-GIVEN]
	local id
	[[ ${1:-} == privileged ]] ||
		let_through --privileged --privileged
	let_through "--network host" --network host
	let_through "--pid host" --pid host
	let_through "--ipc host" --ipc host
	let_through --device --device /dev/null
	let_through --device-cgroup-rule --device-cgroup-rule 'c 1:3 mr'
	let_through --cap-add --cap-add NET_ADMIN
	let_through "--userns host" --userns host
	id=$(docker create "${TL[@]}" --privileged --network host --pid host --ipc host \
		--device /dev/null --cap-add NET_ADMIN --userns host "$IMG" true 2>"$WORK/create-err")
	if [[ ${1:-} == privileged ]]; then
		[[ -z $id ]] || fail "--deny privileged: a privileged create went through"
		grep -q "ci-wrap: refused: HostConfig.Privileged (--deny privileged)" "$WORK/create-err" ||
			fail "--deny privileged: not ci-wrap's refusal: $(head -c 300 "$WORK/create-err")"
		return 0
	fi
	[[ -n $id ]] || fail "a create asking for everything was refused: $(head -c 300 "$WORK/create-err")"
	# (The docker CLI sends NET_ADMIN as CAP_NET_ADMIN since 23.0.)
	assert_match "HostConfig of the create" '^true host host host \[(CAP_)?NET_ADMIN\] host$' \
		"$(docker inspect -f '{{.HostConfig.Privileged}} {{.HostConfig.NetworkMode}} {{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.CapAdd}} {{.HostConfig.UsernsMode}}' "$id")"
	printf 'FROM %s\nRUN true\n' "$IMG" >"$WORK/Dockerfile"
	DOCKER_BUILDKIT=0 docker build -q --network host "${TL[@]}" -t "ciwt-policy-$CIWT_RUN:ok" \
		"$WORK" >/dev/null 2>"$WORK/build-err" ||
		fail "build --network host failed: $(tail -n 3 "$WORK/build-err" | tr '\n' '|')"
}

t_allowed_without() {
	on_cleanup "d rmi -f ciwt-policy-$CIWT_RUN:ok >/dev/null 2>&1"
	cw_inner -q --grace 1s --audit-log "$WORK/audit.log" -- inner_allowed 2>"$WORK/err" ||
		session_failed
	assert_eq "audit lines refused" 0 "$(audit_refusals "$WORK/audit.log" "")"
}

# One rule refuses its field only.
t_one_rule() {
	cw_inner -q --grace 1s --deny privileged -- inner_allowed privileged 2>"$WORK/err" ||
		session_failed
}

# --- the rules from the environment and the file add up ----------------------------

inner_env_and_file() {
	local m="ci-wrap: refused: HostConfig"
	refused "file: --pid host" "$m.PidMode host (--deny host-pid)" \
		run --rm "${TL[@]}" --pid host "$IMG" true
	refused "env: --cap-add" "$m.CapAdd (--deny cap-add)" \
		run --rm "${TL[@]}" --cap-add NET_ADMIN "$IMG" true
	refused "env: --ipc host" "$m.IpcMode host (--deny host-ipc)" \
		run --rm "${TL[@]}" --ipc host "$IMG" true
	refused "command line: --userns host" "$m.UsernsMode host (--deny host-userns)" \
		run --rm "${TL[@]}" --userns host "$IMG" true
	refused "env: -v /etc" "HostConfig.Binds source /etc is outside every --allow-bind directory" \
		run --rm "${TL[@]}" -v /etc:/x "$IMG" true
	docker run --rm "${TL[@]}" --network host -v "$WORK/b:/x" "$IMG" true ||
		fail "--network host or a bind below the second CI_WRAP_ALLOW_BIND directory refused"
}

t_env_and_file() {
	mkdir -p "$WORK/a" "$WORK/b"
	printf 'deny = host-pid\n' >"$WORK/ci-wrap.conf"
	CI_WRAP_CONFIG=$WORK/ci-wrap.conf CI_WRAP_DENY=cap-add,host-ipc \
		CI_WRAP_ALLOW_BIND="$WORK/a,$WORK/b" cw_inner -q --grace 1s --deny host-userns \
		-- inner_env_and_file 2>"$WORK/err" || session_failed
}

t_bad_values() {
	local err
	for args in "--deny privilege" "--deny host" "--allow-bind srv/ci" "--isolation maybe"; do
		# shellcheck disable=SC2086 # the words of args
		err=$(cw $args -- true 2>&1)
		assert_eq "exit status of ci-wrap $args" 125 "$?"
		[[ $err == "ci-wrap: invalid ${args%% *} "* ]] || fail "ci-wrap $args: '$err'"
	done
	assert_rc 125 env CI_WRAP_DENY=all "$CI_WRAP" -- true 2>/dev/null
	assert_rc 125 env CI_WRAP_ISOLATION=sometimes "$CI_WRAP" -- true 2>/dev/null
	assert_rc 125 "$CI_WRAP" stop --deny privileged 2>/dev/null
	# --isolation takes on and off (and the file's boolean words).
	assert_rc 0 cw -q --isolation off -- true
	assert_rc 0 cw -q --isolation on -- true
	assert_rc 3 env CI_WRAP_ISOLATION=off "$CI_WRAP" -q -- sh -c 'exit 3'
}

# Hook mode: the options reach the detached session process.
t_hook_mode() {
	local rc
	mkdir -p "$WORK/allowed"
	cat >"$WORK/job.sh" <<EOF
eval "\$("$CI_WRAP" start --grace 1s --deny privileged --allow-bind "$WORK/allowed" --isolation off)" || exit 99
docker run --rm ${TL[*]} --privileged $IMG true 2>"$WORK/privileged" && exit 97
docker run --rm ${TL[*]} -v /etc:/x $IMG true 2>"$WORK/bind" && exit 96
docker run --rm ${TL[*]} -v "$WORK/allowed:/x" $IMG true || exit 95
"$CI_WRAP" stop 2>"$WORK/stop" || exit 98
EOF
	bash "$WORK/job.sh" 2>"$WORK/err"
	rc=$?
	assert_eq "exit status of the hook-mode job ($(tr '\n' '|' <"$WORK/err"))" 0 "$rc"
	grep -q "ci-wrap: refused: HostConfig.Privileged (--deny privileged)" "$WORK/privileged" ||
		fail "hook mode: --privileged not refused by --deny: $(head -c 300 "$WORK/privileged")"
	grep -q "HostConfig.Binds source /etc is outside every --allow-bind directory" "$WORK/bind" ||
		fail "hook mode: -v /etc not refused by --allow-bind: $(head -c 300 "$WORK/bind")"
}

# --isolation reaches the proxy: a container made outside ci-wrap (by this
# test, labelled TL) cannot be removed by a job unless isolation is off.
inner_remove() { # NAME WANT(refused|removed)
	local out
	out=$(docker rm -f "$1" 2>&1)
	case $2 in
	refused) [[ $out == *"was not made by this session (--isolation off allows it)"* ]] ||
		fail "isolation on: docker rm of an outside container: '$out'" ;;
	removed) [[ $out == "$1" ]] || fail "isolation off: docker rm of an outside container: '$out'" ;;
	esac
}

t_isolation_option() {
	local n=ciwt-policy-outside-$CIWT_RUN
	d create "${TL[@]}" --name "$n" "$IMG" true >/dev/null || fail "cannot create $n"
	cw_inner -q --grace 1s -- inner_remove "$n" refused 2>"$WORK/err" || session_failed
	cw_inner -q --grace 1s --isolation on -- inner_remove "$n" refused 2>"$WORK/err" || session_failed
	d inspect "$n" >/dev/null 2>&1 || fail "$n is gone with isolation on"
	cw_inner -q --grace 1s --isolation off -- inner_remove "$n" removed 2>"$WORK/err" || session_failed
	d create "${TL[@]}" --name "$n" "$IMG" true >/dev/null || fail "cannot create $n again"
	CI_WRAP_ISOLATION=off cw_inner -q --grace 1s -- inner_remove "$n" removed 2>"$WORK/err" ||
		session_failed
}

# --- --allow-bind ------------------------------------------------------------------

inner_allow_bind() {
	local a=$WORK/allowed m="is outside every --allow-bind directory" vol=ciwt-policy-vol-$CIWT_RUN
	docker run --rm "${TL[@]}" -v "$a:/x" "$IMG" true || fail "-v DIR refused"
	docker run --rm "${TL[@]}" -v "$a/sub:/x:ro" "$IMG" test -f /x/file || fail "-v DIR/sub refused"
	docker run --rm "${TL[@]}" -v "$a/new:/x" "$IMG" true || fail "-v DIR/new (not there yet) refused"
	docker run --rm "${TL[@]}" --mount "type=bind,src=$a/sub,dst=/x" "$IMG" test -f /x/file ||
		fail "--mount type=bind below DIR refused"
	docker run --rm "${TL[@]}" -v "ciwt-policy-named-$CIWT_RUN:/x" -v /data "$IMG" true ||
		fail "a named and an anonymous volume refused"
	# The daemon's socket becomes the session's, which stays allowed.
	docker run --rm "${TL[@]}" -v /var/run/docker.sock:/var/run/docker.sock "$IMG" \
		test -S /var/run/docker.sock || fail "the daemon's socket (swapped for the session's) refused"
	refused "-v /etc" "ci-wrap: refused: HostConfig.Binds source /etc $m" \
		run --rm "${TL[@]}" -v /etc:/x "$IMG" true
	refused "-v DIRx" "ci-wrap: refused: HostConfig.Binds source ${a}x $m" \
		run --rm "${TL[@]}" -v "${a}x:/x" "$IMG" true
	refused "-v DIR/link to /etc" \
		"ci-wrap: refused: HostConfig.Binds source $a/link (resolves to /etc) $m" \
		run --rm "${TL[@]}" -v "$a/link:/x:ro" "$IMG" true
	refused "--mount type=bind,src=/etc" "ci-wrap: refused: HostConfig.Mounts source /etc $m" \
		run --rm "${TL[@]}" --mount type=bind,src=/etc,dst=/x "$IMG" true
	refused "a directory holding the daemon's socket" "HostConfig.Binds source /run $m" \
		run --rm "${TL[@]}" -v /run:/hostrun "$IMG" true
	# A local volume that binds a host path is a bind too.
	refused "volume create o=bind /etc" "ci-wrap: refused: volume DriverOpts device /etc $m" \
		volume create "${TL[@]}" --opt type=none --opt o=bind --opt device=/etc "$vol-etc"
	refused "--mount type=volume o=bind /etc" "HostConfig.Mounts volume device /etc $m" \
		run --rm "${TL[@]}" --mount "type=volume,dst=/x,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/etc" "$IMG" true
	docker volume create "${TL[@]}" --opt type=none --opt o=bind --opt "device=$a/sub" "$vol" >/dev/null ||
		fail "a volume binding DIR/sub refused"
	docker run --rm "${TL[@]}" -v "$vol:/x" "$IMG" test -f /x/file || fail "the volume binding DIR/sub failed"
	docker volume inspect "$vol-etc" >/dev/null 2>&1 && fail "the refused volume create made $vol-etc"
	no_session_containers
}

t_allow_bind() {
	local vol=ciwt-policy-vol-$CIWT_RUN
	on_cleanup "d volume rm -f $vol $vol-etc ciwt-policy-named-$CIWT_RUN >/dev/null 2>&1"
	mkdir -p "$WORK/allowed/sub" "$WORK/allowedx"
	touch "$WORK/allowed/sub/file"
	ln -s /etc "$WORK/allowed/link"
	cw_inner -q --grace 1s --allow-bind "$WORK/allowed" --audit-log "$WORK/audit.log" \
		-- inner_allow_bind 2>"$WORK/err" || session_failed
	assert_eq "audit lines refused by --allow-bind" 7 \
		"$(jq -s '[.[] | select(.action == "refused" and .status == 403 and
			((.reason // "") | test("--allow-bind")))] | length' "$WORK/audit.log")"
	d volume inspect "$vol" >/dev/null 2>&1 && fail "the session's volume $vol survived it"
	[[ -f $WORK/allowed/sub/file ]] || fail "removing the bind volume removed what it bound"
}

# Without --allow-bind any host path goes, as before.
inner_any_bind() {
	docker run --rm "${TL[@]}" -v /etc:/x:ro "$IMG" test -f /x/passwd || fail "-v /etc:/x refused"
	docker run --rm "${TL[@]}" --mount type=bind,src=/etc,dst=/x,readonly "$IMG" true ||
		fail "--mount type=bind,src=/etc refused"
}

t_any_bind_without() {
	cw_inner -q --grace 1s -- inner_any_bind 2>"$WORK/err" || session_failed
}

# --- a real client: the Python SDK ------------------------------------------------

SDK_PY='
import sys
import docker

img, allowed, run = sys.argv[1:4]
labels = {"ci-wrap-test": "1", "ci-wrap-test.run": run}
client = docker.from_env(timeout=60)


def refused(what, want, **kw):
    try:
        client.containers.create(img, "true", labels=labels, **kw)
    except docker.errors.APIError as e:
        if e.status_code != 403 or want not in str(e.explanation):
            sys.exit(f"{what}: {e.status_code} {e.explanation}")
        print(f"{what}: {e.explanation}", file=sys.stderr)
        return
    sys.exit(f"{what}: not refused")


refused("privileged", "ci-wrap: refused: HostConfig.Privileged (--deny privileged)",
        privileged=True)
refused("network_mode", "ci-wrap: refused: HostConfig.NetworkMode host (--deny host-network)",
        network_mode="host")
refused("cap_add", "ci-wrap: refused: HostConfig.CapAdd (--deny cap-add)", cap_add=["NET_ADMIN"])
refused("devices", "ci-wrap: refused: HostConfig.Devices (--deny devices)",
        devices=["/dev/null:/dev/null:rwm"])
refused("volumes", "ci-wrap: refused: HostConfig.Binds source /etc is outside every --allow-bind",
        volumes={"/etc": {"bind": "/x", "mode": "ro"}})
refused("mounts", "ci-wrap: refused: HostConfig.Mounts source /etc is outside every --allow-bind",
        mounts=[docker.types.Mount("/x", "/etc", type="bind")])
client.containers.run(img, "true", labels=labels, remove=True,
                      volumes={allowed: {"bind": "/x", "mode": "ro"}})
'

inner_sdk() {
	timeout 60 python3 -c "$SDK_PY" "$IMG" "$WORK/allowed" "$CIWT_RUN" 2>>"$WORK/diag" ||
		fail "the Python SDK client failed: $(tail -n 2 "$WORK/diag" | tr '\n' '|')"
}

t_python_sdk() {
	python3 -c 'import docker' 2>/dev/null || skip "python3-docker not installed (scripts/setup.sh installs it)"
	mkdir -p "$WORK/allowed"
	cw_inner -q --grace 1s --deny "$ALL_RULES" --allow-bind "$WORK/allowed" \
		--audit-log "$WORK/audit.log" -- inner_sdk 2>"$WORK/err" || session_failed
	assert_eq "audit lines refused (Python SDK)" 6 "$(audit_refusals "$WORK/audit.log" "")"
}

tcase deny-all 120 t_deny_all
tcase allowed-without 120 t_allowed_without
tcase one-rule 120 t_one_rule
tcase env-and-file 60 t_env_and_file
tcase bad-values 60 t_bad_values
tcase hook-mode 60 t_hook_mode
tcase isolation-option 90 t_isolation_option
tcase allow-bind 120 t_allow_bind
tcase any-bind-without 60 t_any_bind_without
tcase python-sdk 90 t_python_sdk
