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
	echo "$(tail -n 1 "$WORK/api.out")"
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
	docker create --label ci-wrap-test=1 --label "ci-wrap-test.run=$CIWT_RUN" "$@" "$IMG" true ||
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

tcase changes 90 t_changes
