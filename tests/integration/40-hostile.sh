#!/usr/bin/env bash
# Raw requests on the proxy socket from a client that tries to get a container
# created without the session's labels, or to break the proxy. Whatever the
# daemon does with a request, every container it creates must carry
# ci-wrap.session; requests the proxy refuses get a Docker-style JSON error;
# the proxy answers GET /_ping afterwards.
#
# Every request body labels its container ci-wrap-test-hostile=<tag> (and
# ci-wrap-test.run, so a container that escaped the session is still removed
# when the case ends).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

export LC_ALL=C # Content-Length counts bytes

# create_body TAG [LABELS-KEY] [EXTRA-MEMBERS]: a container create request body.
create_body() {
	local key=${2-Labels} extra=${3-}
	printf '{"Image":"%s","Cmd":["true"],"%s":{"ci-wrap-test-hostile":"%s","ci-wrap-test":"1","ci-wrap-test.run":"%s"}%s}' \
		"$IMG" "$key" "$1" "$CIWT_RUN" "$extra"
}

# request METHOD TARGET BODY [HEADER...]: one request with a Content-Length.
request() {
	local method=$1 target=$2 body=$3 h
	shift 3
	printf '%s %s HTTP/1.1\r\nHost: docker\r\n' "$method" "$target"
	for h in "$@"; do printf '%s\r\n' "$h"; done
	printf 'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' "${#body}" "$body"
}

# request_chunked TARGET BODY [HEADER...]: the body in three chunks; HEADERs
# replace "Transfer-Encoding: chunked".
request_chunked() {
	local target=$1 body=$2 h n
	shift 2
	(($#)) || set -- 'Transfer-Encoding: chunked'
	printf 'POST %s HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n' "$target"
	for h in "$@"; do printf '%s\r\n' "$h"; done
	printf '\r\n'
	n=$((${#body} / 3))
	printf '%x\r\n%s\r\n' "$n" "${body:0:n}" "$n" "${body:n:n}" "$((${#body} - 2 * n))" "${body:2*n}"
	printf '0\r\n\r\n'
}

# Writes the request for VARIANT to stdout; sets MODE and NRESP:
#   MODE=any     whatever the answer, created containers carry the label
#   MODE=create  must be created (201) and labelled: a valid request
#   MODE=refuse  must be refused with a JSON error; nothing created
#   MODE=4xx     any 4xx answer (not a Docker API request at all)
#   MODE=431     431 or 400
build_request() { # VARIANT TAG
	local v=$1 tag=$2 body
	body=$(create_body "$tag")
	MODE=any
	NRESP=1
	case $v in
	garbage)
		MODE=4xx
		printf '\x16\x03\x01\x00\xa5GARBAGE \xff\xfe\x00 nonsense\r\n\r\n'
		;;
	huge-header)
		MODE=431
		printf 'GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Big: %s\r\n\r\n' "$(head -c 204800 /dev/zero | tr '\0' a)"
		;;
	invalid-json)
		MODE=refuse
		request POST /containers/create "${body:0:${#body}-20}"
		;;
	trailing-garbage) request POST /containers/create "$body garbage" ;;
	double-slash) request POST //containers/create "$body" ;;
	dot-segment) request POST /v1.41/containers/./create "$body" ;;
	dotdot-segment) request POST /v1.41/x/../containers/create "$body" ;;
	percent-encoded) request POST /containers/%63reate "$body" ;;
	percent-encoded-first) request POST /%63ontainers/create "$body" ;;
	trailing-slash) request POST /v1.41/containers/create/ "$body" ;;
	version-leading-zero) request POST /v1.041/containers/create "$body" ;;
	version-three-parts) request POST /v1.41.0/containers/create "$body" ;;
	absolute-form) request POST http://docker/containers/create "$body" ;;
	absolute-form-versioned) request POST http://docker/v1.41/containers/create "$body" ;;
	uppercase-path) request POST /v1.41/CONTAINERS/create "$body" ;;
	query) request POST "/v1.41/containers/create?name=ciwt-h-$tag" "$body" ;;
	labels-lowercase) request POST /containers/create "$(create_body "$tag" labels)" ;;
	labels-uppercase) request POST /containers/create "$(create_body "$tag" LABELS)" ;;
	labels-escaped-key) request POST /containers/create "$(create_body "$tag" 'L\u0061bels')" ;;
	labels-long-s)
		# Go's decoder folds U+017F (long s) to 's': "Labelſ" is Labels.
		request POST /containers/create "$(create_body "$tag" $'Label\xc5\xbf')"
		;;
	override-lowercase)
		request POST /containers/create \
			"$(create_body "$tag" Labels ',"labels":{"ci-wrap.session":"evil","ci-wrap.job":"evil"}')"
		;;
	override-long-s)
		request POST /containers/create \
			"$(create_body "$tag" Labels $',"Label\xc5\xbf":{"ci-wrap.session":"evil"}')"
		;;
	override-duplicate-key)
		request POST /containers/create \
			"$(create_body "$tag" Labels ',"Labels":{"ci-wrap.session":"evil","ci-wrap-test-hostile":"'"$tag"'","ci-wrap-test.run":"'"$CIWT_RUN"'"}')"
		;;
	labels-null)
		request POST "/containers/create?name=ciwt-h-$tag" \
			"{\"Image\":\"$IMG\",\"Labels\":null}"
		;;
	labels-absent)
		request POST "/containers/create?name=ciwt-h-$tag" "{\"Image\":\"$IMG\"}"
		;;
	no-content-type)
		local b=$body
		printf 'POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: %d\r\n\r\n%s' "${#b}" "$b"
		;;
	content-type-params)
		local b=$body
		printf 'POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: APPLICATION/JSON; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s' "${#b}" "$b"
		;;
	chunked)
		MODE=create
		request_chunked /containers/create "$body"
		;;
	chunked-uppercase) request_chunked /containers/create "$body" 'Transfer-Encoding: CHUNKED' ;;
	cl-and-te)
		MODE=refuse
		request_chunked /containers/create "$body" 'Content-Length: 5' 'Transfer-Encoding: chunked'
		;;
	te-gzip-chunked)
		MODE=refuse
		request_chunked /containers/create "$body" 'Transfer-Encoding: gzip, chunked'
		;;
	te-two-headers)
		MODE=refuse
		request_chunked /containers/create "$body" 'Transfer-Encoding: gzip' 'Transfer-Encoding: chunked'
		;;
	duplicate-content-length)
		MODE=refuse
		printf 'POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n%s' \
			"${#body}" "$((${#body} + 10))" "$body"
		;;
	expect-continue)
		MODE=create
		request POST /containers/create "$body" 'Expect: 100-continue'
		;;
	upgrade-header) request POST /containers/create "$body" 'Connection: Upgrade' 'Upgrade: tcp' ;;
	http10)
		printf 'POST /containers/create HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' "${#body}" "$body"
		;;
	pipelined)
		MODE=create
		NRESP=3
		printf 'GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n'
		request POST /containers/create "$body"
		request POST /v1.41/containers/create "$body"
		;;
	large-body)
		# Unknown members are ignored by the daemon: 12 MiB it would accept.
		request POST /containers/create \
			"$(create_body "$tag" Labels ",\"XPad\":\"$(head -c 12582912 /dev/zero | tr '\0' a)\"")"
		;;
	*) fail "unknown variant $v" ;;
	esac
}

is_json_error() { # BODY
	jq -e '.message | type == "string"' >/dev/null 2>&1 <<<"$1"
}

inner_hostile() { # VARIANT
	local v=$1 tag sock ids id n status body i
	tag=$CIWT_RUN-$v
	sock=$(proxy_socket)
	build_request "$v" "$tag" >"$WORK/request"
	rawhttp "$sock" "$NRESP" <"$WORK/request" >"$WORK/responses" 2>"$WORK/rawhttp-err" ||
		fail "raw client failed: $(head -c 300 "$WORK/rawhttp-err")"
	log "request $v ($(stat -c %s "$WORK/request") bytes): $(head -c 160 "$WORK/request" | tr -c '[:print:]' '.')"
	while read -r line; do log "response: $(cut -c 1-300 <<<"$line")"; done <"$WORK/responses"

	# What the daemon created, by our label or (for bodies without labels) name.
	mapfile -t ids < <({
		d ps -aq --no-trunc --filter "label=ci-wrap-test-hostile=$tag"
		d ps -aq --no-trunc --filter "name=^/ciwt-h-$tag\$"
	} | sort -u)
	for id in "${ids[@]}"; do
		local labels
		labels=$(d inspect -f '{{json .Config.Labels}}' "$id")
		[[ $(label_of "$id" ci-wrap.session) == "$CI_WRAP_SESSION" ]] ||
			fail "request '$v' created container ${id:0:12} without this session's ci-wrap.session: labels $labels"
	done
	n=${#ids[@]}
	log "containers created: $n"

	status=$(head -n 1 "$WORK/responses" | jq -r '.status // empty')
	body=$(head -n 1 "$WORK/responses" | jq -r '.body // empty')
	case $MODE in
	4xx)
		[[ $status == 4?? ]] || fail "request '$v': expected an HTTP 4xx answer, got '${status:-none}' $(head -c 200 "$WORK/responses")"
		;;
	431)
		[[ $status == 431 || $status == 400 ]] || fail "request '$v': expected 431 or 400, got '${status:-none}' $(head -c 200 "$WORK/responses")"
		;;
	refuse)
		[[ $status == 4?? || $status == 501 ]] || fail "request '$v' was not refused: status '${status:-none}'"
		is_json_error "$body" || fail "request '$v' refused without a JSON {\"message\"} body: $(head -c 200 <<<"$body")"
		((n == 0)) || fail "request '$v' was refused but $n container(s) exist"
		;;
	create)
		i=0
		while read -r line; do
			status=$(jq -r '.status // empty' <<<"$line")
			[[ $i == 0 && $NRESP -gt 1 ]] && { assert_eq "status of GET /_ping before the creates" 200 "$status"; i=1; continue; }
			assert_eq "status of request '$v'" 201 "$status"
			i=$((i + 1))
		done <"$WORK/responses"
		assert_eq "responses to request '$v'" "$NRESP" "$i"
		assert_eq "containers created by request '$v'" "$((NRESP > 1 ? NRESP - 1 : 1))" "$n"
		;;
	any)
		[[ -n $status ]] || fail "request '$v': no HTTP answer: $(head -c 200 "$WORK/responses")"
		if ((status >= 400)); then
			is_json_error "$body" || fail "request '$v' got $status without a JSON {\"message\"} body: $(head -c 200 <<<"$body")"
		fi
		;;
	esac

	# The proxy still serves a new connection.
	printf 'GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n' | rawhttp "$sock" >"$WORK/ping" 2>&1
	assert_eq "GET /_ping after request '$v'" "200 OK" "$(jq -r '"\(.status) \(.body)"' "$WORK/ping" 2>/dev/null)"
	echo "$CI_WRAP_SESSION" >"$WORK/session"
}

hostile() { # VARIANT
	local v=$1 left
	# Bodies without labels name their container instead.
	on_cleanup "d rm -f -v ciwt-h-$CIWT_RUN-$v >/dev/null 2>&1"
	cw_inner -q --grace 1s -- inner_hostile "$v" 2>"$WORK/err"
	local rc=$?
	((rc == 0)) || fail "session failed (status $rc): $(grep -v '^# ' "$WORK/err" | tail -n 3 | tr '\n' '|')"
	# Containers that escaped the session's label survive its teardown.
	left=$(d ps -aq --filter "label=ci-wrap-test-hostile=$CIWT_RUN-$v")
	[[ -z $left ]] || fail "container(s) of request '$v' left after ci-wrap exited: $(tr '\n' ' ' <<<"$left")"
}

VARIANTS=(
	garbage huge-header invalid-json trailing-garbage
	double-slash dot-segment dotdot-segment percent-encoded percent-encoded-first
	trailing-slash version-leading-zero version-three-parts absolute-form
	absolute-form-versioned uppercase-path query
	labels-lowercase labels-uppercase labels-escaped-key labels-long-s
	override-lowercase override-long-s override-duplicate-key labels-null labels-absent
	no-content-type content-type-params chunked chunked-uppercase
	cl-and-te te-gzip-chunked te-two-headers duplicate-content-length
	expect-continue upgrade-header http10 pipelined large-body
)

for _v in "${VARIANTS[@]}"; do
	eval "t_${_v//-/_}() { hostile $_v; }"
	tcase "$_v" 60 "t_${_v//-/_}"
done
