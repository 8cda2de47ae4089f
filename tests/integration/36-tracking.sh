#!/usr/bin/env bash
# What carries no label but is the session's all the same (issue 15, items 5,
# 6, 7, 11): anonymous volumes of containers the job removed without -v;
# images a load brought, tracked by ID (a dangling image from before that a
# load tags stays, a tag a load moves goes back); the images of a classic
# build's steps and earlier stages; tags a `docker tag` put on images from
# before the session (issue 14); and, when teardown cannot reach the daemon,
# the IDs of what the session made, named in the summary and report.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

session_failed() {
	fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
}

exists_volume() { d volume inspect "$1" >/dev/null 2>&1; }
exists_image() { d image inspect "$1" >/dev/null 2>&1; }

# --- 6. anonymous volumes -------------------------------------------------------

inner_anon_volumes() {
	local a b
	# Anonymous three ways (-v /path, --mount without a source, an image
	# VOLUME would be the third: Config.Volumes, as -v /path), a named volume
	# from before, and a container that mounts another's volumes.
	a=$(docker run -d "${TL[@]}" -v /data --mount type=volume,dst=/m \
		-v "ciwt-named-$CIWT_RUN:/named" "$IMG" sleep 600) || fail "docker run -d failed"
	b=$(docker run -d "${TL[@]}" --volumes-from "$(cat "$WORK/pre")" "$IMG" sleep 600) ||
		fail "docker run --volumes-from failed"
	docker inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}' "$a" \
		>"$WORK/a-volumes" || fail "docker inspect failed"
	# What compose down and `docker rm -f` do: remove without -v.
	docker rm -f "$a" "$b" >/dev/null || fail "docker rm -f failed"
}

t_anon_volumes() {
	local pre named=ciwt-named-$CIWT_RUN pre_vol v n=0 vols
	d volume create "${TL[@]}" "$named" >/dev/null || fail "docker volume create failed"
	pre=$(d create "${TL[@]}" -v /pre "$IMG" true) || fail "docker create failed"
	echo "$pre" >"$WORK/pre"
	pre_vol=$(d inspect -f '{{range .Mounts}}{{.Name}}{{end}}' "$pre")
	on_cleanup "d volume rm -f \$(cat $WORK/a-volumes 2>/dev/null) >/dev/null 2>&1"
	cw_inner -q -- inner_anon_volumes 2>"$WORK/err" || session_failed
	read -ra vols <"$WORK/a-volumes"
	for v in "${vols[@]}"; do
		[[ $v == "$named" ]] && continue
		n=$((n + 1))
		exists_volume "$v" && fail "anonymous volume $v of a container the job removed is left"
	done
	assert_eq "anonymous volumes of the job's container" 2 "$n"
	exists_volume "$named" || fail "the named volume from before the session was removed"
	exists_volume "$pre_vol" || fail "the anonymous volume of a container from before the session was removed"
	return 0
}

inner_compose_down() {
	local p=ciwt-${CIWT_RUN,,}-anon c
	mkdir -p "$WORK/compose"
	cat >"$WORK/compose/docker-compose.yml" <<-EOF
		version: "3"
		services:
		  app:
		    image: $IMG
		    command: ["sleep", "600"]
		    volumes: ["/data"]
		    labels: {ci-wrap-test: "1", ci-wrap-test.run: "$CIWT_RUN"}
	EOF
	cd "$WORK/compose" || fail "no compose directory"
	docker-compose -p "$p" up -d >>"$WORK/compose.log" 2>&1 ||
		fail "docker-compose up -d failed: $(tail -n 3 "$WORK/compose.log" | tr '\n' '|')"
	c=$(docker ps -q --filter "label=com.docker.compose.project=$p") || fail "docker ps failed"
	docker inspect -f '{{range .Mounts}}{{.Name}}{{end}}' "$c" >"$WORK/a-volumes" || fail "docker inspect failed"
	docker-compose -p "$p" down >>"$WORK/compose.log" 2>&1 ||
		fail "docker-compose down failed: $(tail -n 3 "$WORK/compose.log" | tr '\n' '|')"
}

# compose down without -v leaves the service's anonymous volume to teardown.
t_compose_down() {
	command -v docker-compose >/dev/null || skip "docker-compose is not installed"
	on_cleanup "d volume rm -f \$(cat $WORK/a-volumes 2>/dev/null) >/dev/null 2>&1"
	cw_inner -q -- inner_compose_down 2>"$WORK/err" || session_failed
	[[ -s $WORK/a-volumes ]] || fail "the service had no anonymous volume"
	exists_volume "$(cat "$WORK/a-volumes")" && fail "the anonymous volume of the compose service is left"
	return 0
}

# Runs as ci-wrap's command: leaves an anonymous volume, says who is who,
# then blocks until the test kills it.
inner_anon_and_wait() {
	local a
	a=$(docker run -d "${TL[@]}" -v /data "$IMG" sleep 600) || fail "docker run -d failed"
	docker inspect -f '{{range .Mounts}}{{.Name}}{{end}}' "$a" >"$WORK/a-volumes"
	docker rm -f "$a" >/dev/null || fail "docker rm -f failed"
	# ci-wrap runs this bash as its child; sleep takes over its pid.
	echo "$PPID $CI_WRAP_SESSION $$" >"$WORK/crash.tmp"
	mv "$WORK/crash.tmp" "$WORK/crash"
	exec sleep 600
}

# After a crash (ci-wrap and its session process killed, no teardown at
# all) reap finds the anonymous volumes through the registry.
t_reap_anon_volumes() {
	local launcher session sp pid out v cmd
	on_cleanup "d volume rm -f \$(cat $WORK/a-volumes 2>/dev/null) >/dev/null 2>&1"
	cw_inner -q --grace 1s -- inner_anon_and_wait 2>"$WORK/err" &
	pid=$!
	wait_until 30 test -s "$WORK/crash" || fail "the session did not start: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	read -r launcher session cmd <"$WORK/crash"
	on_cleanup "kill -KILL $cmd $launcher 2>/dev/null"
	v=$(cat "$WORK/a-volumes")
	sp=$(ps -o pid= --ppid "$launcher" | while read -r p; do
		[[ $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) == *" __session "* ]] && echo "$p"
	done)
	[[ -n $sp ]] || fail "no session process under the launcher $launcher"
	wait_until 10 grep -qsx "$v" "/run/ci-wrap/$session.volumes" ||
		fail "the registry does not list the anonymous volume: $(cat "/run/ci-wrap/$session.volumes" 2>&1)"
	kill -STOP "$launcher" "$sp"
	kill -KILL "$sp" "$launcher"
	kill -KILL "$cmd" 2>/dev/null
	wait "$pid" 2>/dev/null
	out=$(cw reap 2>&1) || fail "ci-wrap reap failed: $(tr '\n' '|' <<<"$out")"
	log "reap: $(tr '\n' '|' <<<"$out")"
	exists_volume "$v" && fail "reap left the anonymous volume of the dead session"
	[[ -e /run/ci-wrap/$session.volumes ]] && fail "reap left the dead session's registry files"
	return 0
}

# --- 5. loads, by image ID ------------------------------------------------------

# An image of the test's own, labelled so the sweep removes it if the case
# dies; prints its ID. TAG may be empty.
make_image() { # MARKER [TAG]
	local dir=$WORK/rootfs-$1
	mkdir -p "$dir/bin"
	cp /bin/busybox "$dir/bin/busybox"
	echo "$1-$CIWT_RUN" >"$dir/marker"
	tar -C "$dir" -c . | d import -c "LABEL ci-wrap-test=1 ci-wrap-test.run=$CIWT_RUN" - ${2:+"$2"} |
		tail -n 1
}

inner_loads() {
	docker load -i "$WORK/y.tar" >"$WORK/load.out" || fail "docker load (a dangling image) failed"
	docker load -i "$WORK/x.tar" >>"$WORK/load.out" || fail "docker load (over a tag) failed"
	assert_eq "image tagged by the load" "$(cat "$WORK/y.id")" \
		"$(docker image inspect -f '{{.Id}}' "ciwt-y:$CIWT_RUN")"
	assert_eq "image the moved tag names" "$(cat "$WORK/x.id")" \
		"$(docker image inspect -f '{{.Id}}' "ciwt-w:$CIWT_RUN")"
}

t_loads() {
	local x w y ty=ciwt-y:$CIWT_RUN tw=ciwt-w:$CIWT_RUN tags_before
	# X: new to the daemon when the job loads it under tag tw, which names W.
	x=$(make_image x "$tw") || fail "docker import failed"
	d save "$tw" >"$WORK/x.tar" || fail "docker save failed"
	d rmi "$tw" >/dev/null || fail "docker rmi failed"
	w=$(make_image w "$tw") || fail "docker import failed"
	# Y: on the daemon before the session, dangling; the job loads it as ty.
	y=$(make_image y "$ty") || fail "docker import failed"
	d save "$ty" >"$WORK/y.tar" || fail "docker save failed"
	make_image y2 "$ty" >/dev/null || fail "docker import failed"
	d rmi "$ty" >/dev/null || fail "docker rmi failed"
	exists_image "$y" || fail "setup: image Y is gone"
	exists_image "$x" && fail "setup: image X is still there"
	echo "$x" >"$WORK/x.id"
	echo "$y" >"$WORK/y.id"
	on_cleanup "d rmi -f $x >/dev/null 2>&1"
	tags_before=$(d image inspect -f '{{.RepoTags}}' "$IMG")
	cw_inner -q -- inner_loads 2>"$WORK/err" || session_failed
	log "load said: $(tr '\n' '|' <"$WORK/load.out")"
	exists_image "$y" || fail "the dangling image from before the session, tagged by a load, was removed"
	exists_image "$ty" && fail "the tag the load put on an image from before is left"
	exists_image "$x" && fail "the image the load brought under a tag that named another image is left"
	exists_image "$w" || fail "the image whose tag the load took was removed"
	assert_eq "image $tw names after the session" "$w" "$(d image inspect -f '{{.Id}}' "$tw" 2>&1)"
	assert_eq "tags of the test image" "$tags_before" "$(d image inspect -f '{{.RepoTags}}' "$IMG")"
}

# --- docker tag of images from before the session (issue 14) ---------------------

inner_tags() {
	local o=ciwt-o:$CIWT_RUN own dir=$WORK/rootfs-own
	docker tag "$o" "ciwt-new:$CIWT_RUN" || fail "docker tag (a new name) failed"
	docker tag "$o" "localhost:5000/ciwt-reg-$CIWT_RUN" || fail "docker tag (a registry name) failed"
	docker tag "$o" "ciwt-w2:$CIWT_RUN" || fail "docker tag (a name of another image) failed"
	# A dangling image tagged twice: neither untag may remove it.
	docker tag "$(cat "$WORK/dangling.id")" "ciwt-d:$CIWT_RUN" || fail "docker tag (a dangling image) failed"
	docker tag "$(cat "$WORK/dangling.id")" "ciwt-d2:$CIWT_RUN" || fail "docker tag (a dangling image) failed"
	# A new name moved on to another image from before: gone all the same.
	docker tag "$o" "ciwt-twice:$CIWT_RUN" || fail "docker tag (a new name) failed"
	docker tag "$(cat "$WORK/w.id")" "ciwt-twice:$CIWT_RUN" || fail "docker tag (a new name, moved) failed"
	# An image of the session's own: its tags go with it.
	mkdir -p "$dir/bin"
	cp /bin/busybox "$dir/bin/busybox"
	echo "own-$CIWT_RUN" >"$dir/marker"
	own=$(tar -C "$dir" -c . | docker import -c "LABEL ci-wrap-test=1 ci-wrap-test.run=$CIWT_RUN" - |
		tail -n 1) || fail "docker import failed"
	echo "$own" >"$WORK/own.id"
	docker tag "$own" "ciwt-own:$CIWT_RUN" || fail "docker tag (the session's image) failed"
	assert_eq "image ciwt-w2 names in the session" "$(cat "$WORK/o.id")" \
		"$(docker image inspect -f '{{.Id}}' "ciwt-w2:$CIWT_RUN")"
}

t_tags() {
	local o w dangling ref
	o=$(make_image o "ciwt-o:$CIWT_RUN") || fail "docker import failed"
	w=$(make_image w2 "ciwt-w2:$CIWT_RUN") || fail "docker import failed"
	dangling=$(make_image dangling) || fail "docker import failed"
	echo "$o" >"$WORK/o.id"
	echo "$dangling" >"$WORK/dangling.id"
	echo "$w" >"$WORK/w.id"
	on_cleanup "d rmi -f $o $w $dangling \$(cat $WORK/own.id 2>/dev/null) >/dev/null 2>&1"
	cw_inner -q -- inner_tags 2>"$WORK/err" || session_failed
	for ref in "ciwt-new:$CIWT_RUN" "localhost:5000/ciwt-reg-$CIWT_RUN:latest" "ciwt-d:$CIWT_RUN" \
		"ciwt-d2:$CIWT_RUN" "ciwt-twice:$CIWT_RUN" "ciwt-own:$CIWT_RUN"; do
		exists_image "$ref" && fail "the tag $ref the job put is left"
	done
	exists_image "$o" || fail "the image from before the session that the job tagged was removed"
	assert_eq "tags of the image the job tagged" "[ciwt-o:$CIWT_RUN]" "$(d image inspect -f '{{.RepoTags}}' "$o")"
	exists_image "$dangling" || fail "the dangling image from before the session that the job tagged was removed"
	assert_eq "tags of the dangling image" "[]" "$(d image inspect -f '{{.RepoTags}}' "$dangling")"
	exists_image "$w" || fail "the image whose tag the job took was removed"
	assert_eq "image ciwt-w2 names after the session" "$w" "$(d image inspect -f '{{.Id}}' "ciwt-w2:$CIWT_RUN" 2>&1)"
	exists_image "$(cat "$WORK/own.id")" && fail "the session's own image is left"
	return 0
}

# --- 7. classic-builder step images ---------------------------------------------

inner_builds() {
	mkdir -p "$WORK/multi" "$WORK/failing"
	cat >"$WORK/multi/Dockerfile" <<-EOF
		FROM $IMG AS first
		RUN echo first-$CIWT_RUN >/first
		LABEL stage=first
		FROM $IMG
		RUN echo cached-$CIWT_RUN >/cached
		COPY --from=first /first /first
		RUN cat /first
	EOF
	cat >"$WORK/failing/Dockerfile" <<-EOF
		FROM $IMG
		RUN echo failing-$CIWT_RUN >/f
		RUN false
	EOF
	DOCKER_BUILDKIT=0 docker build -t "ciwt-multi:$CIWT_RUN" "$WORK/multi" >"$WORK/build.out" 2>&1 ||
		fail "the multi-stage build failed: $(tail -n 3 "$WORK/build.out" | tr '\n' '|')"
	DOCKER_BUILDKIT=0 docker build "$WORK/failing" >>"$WORK/build.out" 2>&1 &&
		fail "the failing build succeeded"
	grep -q "Using cache" "$WORK/build.out" || fail "no step came from the cache made before the session"
}

t_builds() {
	local id left=() pre
	mkdir -p "$WORK/pre"
	printf 'FROM %s\nRUN echo cached-%s >/cached\n' "$IMG" "$CIWT_RUN" >"$WORK/pre/Dockerfile"
	DOCKER_BUILDKIT=0 d build "${TL[@]}" -t "ciwt-pre:$CIWT_RUN" "$WORK/pre" >"$WORK/pre.out" 2>&1 ||
		fail "the build before the session failed: $(tail -n 3 "$WORK/pre.out")"
	pre=$(d image inspect -f '{{.Id}}' "ciwt-pre:$CIWT_RUN")
	on_cleanup "d rmi -f ciwt-pre:$CIWT_RUN >/dev/null 2>&1"
	d images -aq --no-trunc | sort -u >"$WORK/before"
	on_cleanup "grep -o -- '---> [0-9a-f]\\{12\\}' $WORK/build.out 2>/dev/null | cut -c6- | sort -u | grep -vFf <(cut -c8-19 $WORK/before) | xargs -r env DOCKER_HOST=$CIWT_DOCKER_HOST docker rmi -f >/dev/null 2>&1"
	cw_inner -q -- inner_builds 2>"$WORK/err" || session_failed
	while read -r id; do
		grep -q "^sha256:$id" "$WORK/before" && continue
		exists_image "$id" && left+=("$id")
	done < <(grep -o -- '---> [0-9a-f]\{12\}' "$WORK/build.out" | cut -c6- | sort -u)
	((${#left[@]} == 0)) || fail "images of the job's build steps are left: ${left[*]}"
	exists_image "$pre" || fail "the image built before the session was removed"
	d history -q "$pre" | grep -v missing | while read -r id; do
		exists_image "$id" || fail "a step image from before the session was removed: $id"
	done
	exists_image "$IMG" || fail "the test image was removed"
}

# --- 11. teardown without a daemon ----------------------------------------------

inner_unreachable() {
	docker create "${TL[@]}" "$IMG" true >"$WORK/container" || fail "docker create failed"
	docker network create "${TL[@]}" "ciwt-gone-$CIWT_RUN" >"$WORK/network" || fail "docker network create failed"
	docker volume create "${TL[@]}" >"$WORK/volume" || fail "docker volume create failed"
	# Not left: removed by the job (by short ID, by --rm), or not made (a
	# volume create of a volume from before answers with it unchanged).
	docker create "${TL[@]}" "$IMG" true >"$WORK/gone" || fail "docker create failed"
	docker rm "$(cut -c1-12 "$WORK/gone")" >/dev/null || fail "docker rm failed"
	docker run --rm --cidfile "$WORK/rm.cid" "${TL[@]}" "$IMG" true || fail "docker run --rm failed"
	docker volume create "ciwt-pre-$CIWT_RUN" >/dev/null || fail "docker volume create (existing) failed"
	# The daemon goes away before the command exits.
	kill "$(cat "$WORK/relay.pid")"
	wait_until 10 eval "[[ ! -S $WORK/d.sock ]]" || fail "the relay's socket is still there"
}

t_unreachable() {
	local err report kind id
	socat "UNIX-LISTEN:$WORK/d.sock,fork" UNIX-CONNECT:/var/run/docker.sock &
	echo $! >"$WORK/relay.pid"
	wait_until 10 test -S "$WORK/d.sock" || fail "socat did not listen"
	d volume create "${TL[@]}" "ciwt-pre-$CIWT_RUN" >/dev/null || fail "docker volume create failed"
	on_cleanup "d rm -f \$(cat $WORK/container) >/dev/null 2>&1; d network rm \$(cat $WORK/network) >/dev/null 2>&1; d volume rm \$(cat $WORK/volume) >/dev/null 2>&1"
	cw_inner --docker-host "unix://$WORK/d.sock" --report "$WORK/report.json" -- inner_unreachable \
		2>"$WORK/err" || session_failed
	err=$(cat "$WORK/err")
	report=$(jq -c .docker.leaked "$WORK/report.json") || fail "no report"
	log "stderr: $(tr '\n' '|' <<<"$err")"
	log "leaked: $report"
	grep -q 'could not remove [a-z]* \*' <<<"$err" && fail "the summary names no id: $(grep -m1 'could not' <<<"$err")"
	jq -e 'map(select(.id == "*")) | length == 0' <<<"$report" >/dev/null ||
		fail "the report's leaked array names no id: $report"
	for kind in container network volume; do
		id=$(cat "$WORK/$kind")
		jq -e --arg t "$kind" --arg id "$id" 'any(.type == $t and .id == $id)' <<<"$report" >/dev/null ||
			fail "the report does not name $kind $id: $report"
		grep -q "could not remove $kind $id: cannot reach the daemon" <<<"$err" ||
			fail "stderr does not name $kind $id: $(tr '\n' '|' <<<"$err")"
	done
	for id in "$(cat "$WORK/gone")" "$(cat "$WORK/rm.cid")" "ciwt-pre-$CIWT_RUN"; do
		jq -e --arg id "$id" 'any(.id == $id)' <<<"$report" >/dev/null &&
			fail "the report names $id, which the session removed or did not make: $report"
	done
	grep -q 'some resources could not be removed' <<<"$err" || fail "the summary does not say something was left"
}

tcase anon-volumes 90 t_anon_volumes
tcase compose-down 90 t_compose_down
tcase reap-anon-volumes 60 t_reap_anon_volumes
tcase loads 90 t_loads
tcase tags 90 t_tags
tcase builds 120 t_builds
tcase unreachable 60 t_unreachable
