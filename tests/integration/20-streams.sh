#!/usr/bin/env bash
# Streams through the proxy: hijacked attach/exec, TTYs, follow-mode
# responses, archives both ways and a chunked build context, all byte-exact.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

STREAM_MIB=64
CP_MIB=32
BUILD_CONTEXT_MIB=4

t_run_stdin() {
	head -c "${STREAM_MIB}M" /dev/urandom >"$WORK/in"
	cw -q -- docker run -i --rm "$IMG" cat <"$WORK/in" >"$WORK/out" 2>"$WORK/err"
	local rc=$?
	((rc == 0)) || fail "ci-wrap -- docker run -i --rm IMG cat: status $rc: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	assert_eq "bytes out of docker run -i cat" "$((STREAM_MIB << 20))" "$(stat -c %s "$WORK/out")"
	assert_eq "sha256 of what came back" "$(sha_of "$WORK/in")" "$(sha_of "$WORK/out")"
}

inner_exec_stdin() {
	local c rc
	c=$(docker run -d "$IMG" sleep 600) || fail "docker run -d through the proxy failed"
	docker exec -i "$c" cat <"$WORK/in" >"$WORK/out"
	rc=$?
	((rc == 0)) || fail "docker exec -i C cat: status $rc"
}

t_exec_stdin() {
	head -c "${STREAM_MIB}M" /dev/urandom >"$WORK/in"
	cw_inner -q -- inner_exec_stdin 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	assert_eq "bytes out of docker exec -i cat" "$((STREAM_MIB << 20))" "$(stat -c %s "$WORK/out")"
	assert_eq "sha256 of what came back" "$(sha_of "$WORK/in")" "$(sha_of "$WORK/out")"
}

t_run_tty() {
	# script(1) gives ci-wrap and the CLI a terminal; the container's shell
	# reads the piped lines through it and exits with the status asked for.
	# shellcheck disable=SC2016 # expanded by the container's shell
	printf 'tty\necho "tty-$((6 * 7))"\nexit 5\n' |
		script -qec "$CI_WRAP -q -- docker run -it --rm $IMG sh" "$WORK/typescript" >/dev/null 2>&1
	local rc=$?
	log "typescript:"
	tr -d '\r' <"$WORK/typescript" | tail -n 8 | sed 's/^/#   /' >&2
	assert_eq "exit status of script -qec 'ci-wrap -- docker run -it IMG sh' ending in 'exit 5'" 5 "$rc"
	grep -q 'tty-42' "$WORK/typescript" || fail "no output of the shell in the container"
	grep -q '^/dev/pts/[0-9]' <(tr -d '\r' <"$WORK/typescript") ||
		fail "the container's stdin is not a terminal (no /dev/pts/N from tty)"
}

t_run_tty_no_stdin() {
	script -qec "$CI_WRAP -q -- docker run -t --rm $IMG sh -c 'tty; echo tty-done'" "$WORK/typescript" \
		</dev/null >/dev/null 2>&1
	local rc=$?
	assert_eq "exit status of ci-wrap -- docker run -t" 0 "$rc"
	tr -d '\r' <"$WORK/typescript" | grep -q '^/dev/pts/[0-9]' || fail "no pts in: $(head -c 300 "$WORK/typescript")"
	grep -q 'tty-done' "$WORK/typescript" || fail "no output: $(head -c 300 "$WORK/typescript")"
	# A terminal turns \n into \r\n: the stream was not mangled on the way.
	grep -q $'tty-done\r' "$WORK/typescript" || fail "the TTY stream lost its CRs"
}

inner_attach() {
	local c rc
	c=$(docker run -d "$IMG" sh -c \
		'sleep 3; i=0; while [ $i -lt 5 ]; do echo attach-line-$i; i=$((i + 1)); sleep 0.2; done; exit 7') ||
		fail "docker run -d failed"
	docker attach --sig-proxy=false "$c" >"$WORK/out" 2>"$WORK/attach-err"
	rc=$?
	assert_eq "exit status of docker attach (the container's)" 7 "$rc"
}

t_attach() {
	cw_inner -q -- inner_attach 2>"$WORK/err" || fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	local want
	want=$(printf 'attach-line-%s\n' 0 1 2 3 4)
	assert_eq "lines seen by docker attach" "$want" "$(cat "$WORK/out")"
}

inner_logs_follow() {
	local c pid running
	c=$(docker run -d "$IMG" sh -c \
		'i=0; while [ $i -lt 10 ]; do echo log-line-$i; i=$((i + 1)); sleep 0.5; done') ||
		fail "docker run -d failed"
	docker logs -f "$c" >"$WORK/logs" 2>&1 &
	pid=$!
	# A line that arrives while the container still runs was streamed, not
	# delivered when the response ended.
	wait_until 10 grep -q log-line-2 "$WORK/logs" || fail "docker logs -f showed no line within 10 s: $(head -c 200 "$WORK/logs")"
	running=$(docker inspect -f '{{.State.Running}}' "$c")
	assert_eq "container running when log-line-2 arrived" true "$running"
	grep -q log-line-9 "$WORK/logs" && fail "all lines arrived at once: $(tr '\n' ' ' <"$WORK/logs")"
	wait_until 20 eval "! kill -0 $pid 2>/dev/null" || fail "docker logs -f did not end after the container exited"
	wait "$pid"
	assert_eq "exit status of docker logs -f" 0 "$?"
	assert_eq "lines seen by docker logs -f" "$(printf 'log-line-%s\n' {0..9})" "$(cat "$WORK/logs")"
}

t_logs_follow() {
	cw_inner -q -- inner_logs_follow 2>"$WORK/err" || fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
}

inner_cp() {
	local c
	c=$(docker create "$IMG" true) || fail "docker create failed"
	docker cp "$WORK/blob" "$c:/blob" || fail "docker cp FILE C:/blob failed"
	mkdir "$WORK/back"
	docker cp "$c:/blob" "$WORK/back/" || fail "docker cp C:/blob DIR failed"
}

t_cp() {
	head -c "${CP_MIB}M" /dev/urandom >"$WORK/blob"
	cw_inner -q -- inner_cp 2>"$WORK/err" || fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	assert_eq "size of the file copied in and out" "$((CP_MIB << 20))" "$(stat -c %s "$WORK/back/blob")"
	assert_eq "sha256 of the file copied in and out" "$(sha_of "$WORK/blob")" "$(sha_of "$WORK/back/blob")"
}

inner_events() {
	local since pid name=ciwt-ev-$CIWT_RUN-$$
	since=$(date +%s)
	docker events --since "$since" --filter type=container --filter event=create \
		--filter "label=ciwt-ev=$CIWT_RUN" --format '{{.Action}} {{.Actor.Attributes.name}}' \
		>"$WORK/events" 2>"$WORK/events-err" &
	pid=$!
	sleep 0.5
	docker create --name "$name" --label "ciwt-ev=$CIWT_RUN" "$IMG" true >/dev/null || fail "docker create failed"
	wait_until 10 grep -q "create $name" "$WORK/events" ||
		fail "docker events did not show the create within 10 s: '$(cat "$WORK/events" "$WORK/events-err")'"
	kill -0 "$pid" 2>/dev/null || fail "docker events ended on its own: $(cat "$WORK/events-err")"
	kill "$pid"
}

t_events() {
	cw_inner -q -- inner_events 2>"$WORK/err" || fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
}

inner_build() {
	local tag=$1 got
	DOCKER_BUILDKIT=0 docker build -t "$tag" "$WORK/ctx" >"$WORK/build-out" 2>&1 ||
		fail "DOCKER_BUILDKIT=0 docker build failed: $(tail -n 3 "$WORK/build-out" | tr '\n' '|')"
	got=$(docker run --rm "$tag" cat /blob.sha256) || fail "docker run of the built image failed"
	assert_eq "sha256 of the context file inside the built image" "$(sha_of "$WORK/ctx/blob")  /blob" "$got"
}

# The built image is this case's: remove it unless it carries a session label
# (then it is the session's to remove, and run.sh reports it if it stays).
remove_unlabelled_image() { # TAG
	d image inspect "$1" >/dev/null 2>&1 || return 0
	[[ -n $(label_of "$1" ci-wrap.session) ]] && return 0
	d rmi -f "$1" >/dev/null 2>&1
}

t_build_legacy() {
	local tag=ciwt-built:$CIWT_RUN
	mkdir "$WORK/ctx"
	head -c "${BUILD_CONTEXT_MIB}M" /dev/urandom >"$WORK/ctx/blob"
	printf 'FROM %s\nCOPY blob /blob\nRUN sha256sum /blob > /blob.sha256\n' "$IMG" >"$WORK/ctx/Dockerfile"
	on_cleanup remove_unlabelled_image "$tag"
	cw_inner -q -- inner_build "$tag" 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	grep -q 'Sending build context' "$WORK/build-out" || fail "not the legacy builder: $(head -n 3 "$WORK/build-out")"
}

inner_build_fails() {
	DOCKER_BUILDKIT=0 docker build --rm=false "$WORK/ctx" >"$WORK/build-out" 2>&1 &&
		fail "a build whose RUN fails succeeded"
	grep -q 'Sending build context' "$WORK/build-out" || fail "not the legacy builder: $(head -n 3 "$WORK/build-out")"
}

# A failed legacy build leaves the container of its failing step, which no
# label can reach; the proxy makes the daemon remove it (forcerm).
t_build_failed() {
	mkdir "$WORK/ctx"
	printf 'FROM %s\nRUN echo ciwt-build-%s; exit 3\n' "$IMG" "$CIWT_RUN" >"$WORK/ctx/Dockerfile"
	d ps -aq --no-trunc | sort >"$WORK/before"
	cw_inner -q -- inner_build_fails 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	local id left=""
	for id in $(d ps -aq --no-trunc | sort | comm -13 "$WORK/before" -); do
		d inspect -f '{{json .Config.Cmd}}' "$id" 2>/dev/null | grep -q "ciwt-build-$CIWT_RUN" &&
			left+="$id " && d rm -f "$id" >/dev/null
	done
	[[ -z $left ]] || fail "the failed build's container is left: $left"
	return 0
}

inner_import() { # TAG
	local got
	# A rootfs as a tar stream on stdin: a chunked upload to /images/create.
	tar -C "$WORK/rootfs" -c . | docker import -c 'CMD ["/bin/busybox", "true"]' - "$1" >/dev/null ||
		fail "docker import - failed"
	got=$(docker run --rm "$1" /bin/busybox sha256sum /bin/busybox) || fail "docker run of the imported image failed"
	assert_eq "sha256 of /bin/busybox in the imported image" "$(sha_of "$WORK/rootfs/bin/busybox")  /bin/busybox" "$got"
}

t_import() {
	local tag=ciwt-import:$CIWT_RUN
	mkdir -p "$WORK/rootfs/bin"
	cp /bin/busybox "$WORK/rootfs/bin/busybox"
	on_cleanup remove_unlabelled_image "$tag"
	cw_inner -q -- inner_import "$tag" 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
}

inner_commit() { # TAG
	local c got
	c=$(docker run -d "$IMG" sh -c 'echo committed > /marker') || fail "docker run -d failed"
	docker wait "$c" >/dev/null
	docker commit -c 'ENV CIWT=1' "$c" "$1" >/dev/null || fail "docker commit failed"
	got=$(docker run --rm "$1" cat /marker) || fail "docker run of the committed image failed"
	assert_eq "file in the committed image" committed "$got"
}

t_commit() {
	local tag=ciwt-commit:$CIWT_RUN
	on_cleanup remove_unlabelled_image "$tag"
	cw_inner -q -- inner_commit "$tag" 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
}

t_save() {
	# A streamed response of a few MiB: the same bytes as from the daemon.
	d save "$IMG" >"$WORK/direct.tar" || fail "docker save on the daemon failed"
	cw -q -- docker save "$IMG" >"$WORK/proxied.tar" 2>"$WORK/err" ||
		fail "ci-wrap -- docker save failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	assert_eq "sha256 of docker save through ci-wrap" "$(sha_of "$WORK/direct.tar")" "$(sha_of "$WORK/proxied.tar")"
}

inner_wait() {
	local c got
	c=$(docker run -d "$IMG" sh -c 'sleep 3; exit 4') || fail "docker run -d failed"
	got=$(docker wait "$c") || fail "docker wait failed"
	assert_eq "status reported by docker wait" 4 "$got"
}

t_wait() {
	cw_inner -q -- inner_wait 2>"$WORK/err" || fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
}

tcase run-stdin-64m 180 t_run_stdin
tcase exec-stdin-64m 180 t_exec_stdin
tcase run-tty 60 t_run_tty
tcase run-tty-no-stdin 60 t_run_tty_no_stdin
tcase attach 60 t_attach
tcase logs-follow 60 t_logs_follow
tcase cp-32m 120 t_cp
tcase events 60 t_events
tcase build-legacy 120 t_build_legacy
tcase build-failed 90 t_build_failed
tcase import 60 t_import
tcase commit 60 t_commit
tcase save 60 t_save
tcase wait 60 t_wait
