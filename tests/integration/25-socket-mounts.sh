#!/usr/bin/env bash
# The daemon's socket bind-mounted into a job container, by every spelling:
# the client inside talks to the session (labelled objects, torn down at the
# end), also as a non-root user; a directory holding the socket gets the
# session's socket over it. The docker CLI (a static binary) is mounted in.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DOCKER_BIN=$(command -v docker)

# Runs as ci-wrap's command: a container with MOUNT-ARGS whose docker client,
# at SOCKET inside, creates a container, a network and a volume named after
# the case. Checks their labels while the session lives.
inner_socket_client() { # SOCKET MOUNT-ARGS...
	local sock=$1 n=ciwt-$CIWT_RUN-$RANDOM
	shift
	echo "$n" >"$WORK/name"
	docker run --rm "$@" -v "$DOCKER_BIN:/docker:ro" "$IMG" sh -c "
		/docker -H unix://$sock run -d --name $n-c ${TL[*]} $IMG sleep 600 >/dev/null &&
		/docker -H unix://$sock network create ${TL[*]} $n-n >/dev/null &&
		/docker -H unix://$sock volume create ${TL[*]} $n-v >/dev/null" 2>"$WORK/inner-err" ||
		fail "the client in the container failed: $(tr '\n' '|' <"$WORK/inner-err")"
	check_session_labels "$n-c" "$JOB_ID" "the inner client's container"
	check_session_labels "$n-n" "$JOB_ID" "the inner client's network"
	check_session_labels "$n-v" "$JOB_ID" "the inner client's volume"
	assert_eq "the inner container's cgroup parent" "$CI_WRAP_CGROUP" \
		"$(d inspect -f '{{.HostConfig.CgroupParent}}' "$n-c")"
}

# After the session: none of the inner client's objects is left.
inner_objects_gone() {
	local n
	n=$(cat "$WORK/name")
	d inspect "$n-c" >/dev/null 2>&1 && fail "the inner client's container survived the session"
	d network inspect "$n-n" >/dev/null 2>&1 && fail "the inner client's network survived the session"
	d volume inspect "$n-v" >/dev/null 2>&1 && fail "the inner client's volume survived the session"
	return 0
}

run_case() { # SOCKET MOUNT-ARGS...
	cw_inner -q --memory 512m -- inner_socket_client "$@" 2>"$WORK/err" ||
		fail "ci-wrap exited $?: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	inner_objects_gone
}

t_binds() { run_case /var/run/docker.sock -v /var/run/docker.sock:/var/run/docker.sock; }
t_binds_run_path() { run_case /var/run/docker.sock -v /run/docker.sock:/var/run/docker.sock:ro; }
t_mount_non_root() {
	run_case /var/run/docker.sock --user 1000:1000 \
		--mount type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock
}
t_symlink() {
	ln -s /var/run/docker.sock "$WORK/link.sock"
	run_case /s/docker.sock -v "$WORK/link.sock:/s/docker.sock"
}
t_directory() { run_case /hostrun/docker.sock -v /run:/hostrun; }
t_directory_mount() {
	run_case /hostrun/docker.sock --mount type=bind,src=/var/run,dst=/hostrun
}

tcase binds 60 t_binds
tcase binds-run-path 60 t_binds_run_path
tcase mount-non-root 60 t_mount_non_root
tcase symlink 60 t_symlink
tcase directory 60 t_directory
tcase directory-mount 60 t_directory_mount
