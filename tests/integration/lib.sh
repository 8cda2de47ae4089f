# shellcheck shell=bash
# Harness for ci-wrap's integration tests; sourced by every NN-topic.sh file.
#
# A test file sources this, defines functions, and ends with one line per case:
#     tcase NAME TIMEOUT_SECONDS FUNCTION
# Every case runs in a fresh bash (the test file executed again) under timeout(1)
# with stdin from /dev/null and its own temporary directory $WORK; its output is
# shown only when it fails. Inside a case:
#     fail MSG / skip MSG          end the case (the first line is the reason)
#     assert_eq WHAT WANT GOT, assert_match WHAT REGEX GOT, assert_rc ...
#     d ARGS                       the docker CLI on the real daemon
#     cw ARGS                      the ci-wrap under test
#     cw_inner [OPTS] -- FN ARGS   run this file's function FN as ci-wrap's
#                                  command: it sees the proxy and its helpers
#     "${TL[@]}"                   labels for everything a test creates directly
# Objects carrying TL are removed when the case ends, pass or fail.
# Standalone use: bash tests/integration/20-streams.sh (CI_WRAP=... to choose
# the binary); run.sh adds the leak checks and the summary.

set -u

CIWT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_CIWT_FILE=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
_CIWT_STEM=$(basename "$0" .sh)
_CIWT_ARGV=("$@")

if [[ -z ${CIWT_RUN:-} ]]; then
	# Run standalone, not from run.sh: the same environment run.sh sets up.
	CIWT_RUN=$(date +%s)-$$
	CI_WRAP=${CI_WRAP:-$(cd "$CIWT_DIR/../.." && pwd)/ci-wrap}
	if [[ ${DOCKER_HOST:-} != unix://* ]]; then
		DOCKER_HOST=unix:///var/run/docker.sock
	fi
	CIWT_DOCKER_HOST=$DOCKER_HOST
	export CIWT_RUN CI_WRAP CIWT_DOCKER_HOST DOCKER_HOST
	export BUILD_TAG=ciwt-$CIWT_RUN
	unset CI_JOB_ID GITHUB_RUN_ID DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
	while read -r _v; do unset "$_v"; done < <(compgen -e | grep '^CI_WRAP_')
fi

# For the test files: the shared image; the job id ci-wrap labels with by
# default (BUILD_TAG), by which run.sh finds this run's leaked session objects;
# the labels of objects a test creates directly.
# shellcheck disable=SC2034
IMG=ci-wrap-test/busybox:latest
# shellcheck disable=SC2034
JOB_ID=ciwt-$CIWT_RUN
# shellcheck disable=SC2034
TL=(--label ci-wrap-test=1 --label "ci-wrap-test.run=$CIWT_RUN")

# Diagnostics go to $WORK/diag, which a failing case prints: inner functions'
# stderr usually goes to a file of the test's.
log() {
	if [[ -n ${WORK:-} && -d ${WORK:-} ]]; then
		printf '# %s\n' "$*" >>"$WORK/diag"
	else
		printf '# %s\n' "$*" >&2
	fi
}

# The reason goes to a file the parent reads: a case may fail deep inside a
# ci-wrap session, where stdout is the test's data.
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	[[ -n ${_CIWT_REASON:-} ]] && printf '%s\n' "$*" >>"$_CIWT_REASON"
	exit 1
}

skip() {
	printf 'SKIP: %s\n' "$*" >&2
	[[ -n ${_CIWT_REASON:-} ]] && printf '%s\n' "$*" >>"$_CIWT_REASON"
	exit 77
}

assert_eq() { # WHAT WANT GOT
	[[ $2 == "$3" ]] || fail "$1: expected '$2', got '$3'"
}

assert_match() { # WHAT ERE GOT
	[[ $3 =~ $2 ]] || fail "$1: '$3' does not match /$2/"
}

assert_rc() { # WANT COMMAND... : run COMMAND, compare its exit status
	local want=$1 rc
	shift
	"$@"
	rc=$?
	[[ $rc == "$want" ]] || fail "exit status of '$*': expected $want, got $rc"
}

# Poll COMMAND every 0.1 s for at most SECONDS; status 0 as soon as it succeeds.
wait_until() { # SECONDS COMMAND...
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

d() { DOCKER_HOST=$CIWT_DOCKER_HOST docker "$@"; }
cw() { "$CI_WRAP" "$@"; }

cw_inner() { # [CI-WRAP OPTIONS] -- FUNCTION [ARGS]
	local opts=()
	while (($#)) && [[ $1 != -- ]]; do
		opts+=("$1")
		shift
	done
	shift
	local fn=$1
	shift
	_CIWT_INNER=$fn "$CI_WRAP" "${opts[@]}" -- bash "$_CIWT_FILE" "$@"
}

label_of() { # OBJECT KEY: a label of a container, image, network or volume
	d inspect "$1" 2>/dev/null | jq -r --arg k "$2" '.[0] | (.Config.Labels // .Labels // {})[$k] // empty'
}

# The three labels every session object must carry; JOB is the job id expected.
check_session_labels() { # OBJECT JOB WHAT
	local obj=$1 job=$2 what=$3 owner host boot
	assert_eq "ci-wrap.session of $what" "$CI_WRAP_SESSION" "$(label_of "$obj" ci-wrap.session)"
	assert_eq "ci-wrap.job of $what" "$job" "$(label_of "$obj" ci-wrap.job)"
	owner=$(label_of "$obj" ci-wrap.owner)
	host=$(cat /proc/sys/kernel/hostname)
	boot=$(cat /proc/sys/kernel/random/boot_id)
	[[ $owner == "$host/$boot/"* || $owner == "$host/${boot//-/}/"* ]] ||
		fail "ci-wrap.owner of $what is '$owner', expected '$host/$boot/<pid>/<start time>'"
	local rest=${owner#"$host"/*/}
	local pid=${rest%%/*} start=${rest#*/}
	[[ $pid =~ ^[0-9]+$ && -n $start && $start != "$rest" ]] ||
		fail "ci-wrap.owner of $what is '$owner': no <pid>/<start time> after the boot id"
	kill -0 "$pid" 2>/dev/null || fail "ci-wrap.owner of $what names pid $pid, which is not alive during the session"
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# Remove what this run created directly (labelled TL). Never anything else: the
# shared test image carries no such label.
ciwt_sweep_test_objects() {
	local f="label=ci-wrap-test.run=$CIWT_RUN" ids
	mapfile -t ids < <(d ps -aq --filter "$f" 2>/dev/null)
	((${#ids[@]})) && d rm -f -v "${ids[@]}" >/dev/null 2>&1
	mapfile -t ids < <(d network ls -q --filter "$f" 2>/dev/null)
	((${#ids[@]})) && d network rm "${ids[@]}" >/dev/null 2>&1
	mapfile -t ids < <(d volume ls -q --filter "$f" 2>/dev/null)
	((${#ids[@]})) && d volume rm -f "${ids[@]}" >/dev/null 2>&1
	mapfile -t ids < <(d images -q --filter "$f" 2>/dev/null | sort -u)
	((${#ids[@]})) && d rmi -f "${ids[@]}" >/dev/null 2>&1
	return 0
}

# A small HTTP/1.1 client for requests no polite client sends: writes stdin
# as-is to the UNIX socket, then prints each of NRESP responses as a JSON line
# {status, status_line, headers, body, error}; 1xx interim responses are skipped.
RAWHTTP_PY='
import json, socket, sys
path = sys.argv[1]
nresp = int(sys.argv[2]) if len(sys.argv) > 2 else 1
data = sys.stdin.buffer.read()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(path)
senderr = None
try:
    s.sendall(data)
except OSError as e:
    senderr = str(e)
buf = b""
eof = False
def fill():
    global buf, eof
    if eof:
        return False
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        raise
    except OSError:
        chunk = b""
    if not chunk:
        eof = True
        return False
    buf += chunk
    return True
done = 0
while done < nresp:
    r = {"status": None, "headers": {}, "body": None}
    try:
        while b"\r\n\r\n" not in buf:
            if not fill():
                raise EOFError("connection closed before a complete response head")
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        r["status_line"] = lines[0]
        r["status"] = int(lines[0].split()[1])
        for line in lines[1:]:
            k, _, v = line.partition(":")
            r["headers"][k.strip().lower()] = v.strip()
        h = r["headers"]
        if 100 <= r["status"] < 200 and r["status"] != 101:
            continue  # interim (100 Continue): the final response follows
        body = b""
        if r["status"] in (204, 304) or r["status"] < 200:
            pass
        elif "chunked" in h.get("transfer-encoding", "").lower():
            while True:
                while b"\r\n" not in buf:
                    if not fill():
                        raise EOFError("eof in chunk size")
                line, buf = buf.split(b"\r\n", 1)
                n = int(line.split(b";")[0], 16)
                while len(buf) < n + 2:
                    if not fill():
                        raise EOFError("eof in chunk")
                body += buf[:n]
                buf = buf[n + 2:]
                if n == 0:
                    break
        elif "content-length" in h:
            n = int(h["content-length"])
            while len(buf) < n:
                if not fill():
                    raise EOFError("eof in body")
            body, buf = buf[:n], buf[n:]
        else:
            while fill():
                pass
            body, buf = buf, b""
        r["body"] = body.decode("utf-8", "replace")
    except (socket.timeout, EOFError, ValueError, IndexError) as e:
        r["error"] = "%s: %s" % (type(e).__name__, e)
        if buf:
            r["partial"] = buf[:300].decode("latin-1")
    if senderr:
        r["send_error"] = senderr
    print(json.dumps(r), flush=True)
    done += 1
    if r.get("error"):
        break
'

rawhttp() { # SOCKET [NRESP] < REQUEST
	python3 -c "$RAWHTTP_PY" "$@"
}

# The proxy socket path from DOCKER_HOST (inside a ci-wrap session).
proxy_socket() {
	[[ ${DOCKER_HOST:-} == unix://* ]] || fail "DOCKER_HOST is not unix://: '${DOCKER_HOST:-}'"
	printf '%s\n' "${DOCKER_HOST#unix://}"
}

_ciwt_result() { # STATUS NAME [REASON]
	local line="$1 - $2${3:+: $3}"
	printf '%s\n' "$line"
	[[ -n ${CIWT_RESULTS:-} ]] && printf '%s\n' "$line" >>"$CIWT_RESULTS"
	return 0
}

_ciwt_selected() { # FULLNAME
	local f
	[[ -z ${CIWT_FILTER:-} ]] && return 0
	for f in $CIWT_FILTER; do
		[[ $1 == *"$f"* ]] && return 0
	done
	return 1
}

_ciwt_case_cleanup() {
	local rc=$? pids
	((rc != 0)) && [[ -s $WORK/diag ]] && tail -n 12 "$WORK/diag" >&2
	pids=$(jobs -p)
	# shellcheck disable=SC2086 # one pid per word
	[[ -n $pids ]] && kill $pids 2>/dev/null
	ciwt_sweep_test_objects
	[[ -n ${_CIWT_CASE_CLEANUP:-} ]] && eval "$_CIWT_CASE_CLEANUP"
	rm -rf "$WORK"
}

# Extra cleanup code for this case (e.g. an image tag it made), run at its end.
on_cleanup() { _CIWT_CASE_CLEANUP+="$*;"; }

_ciwt_case_child() { # FUNCTION
	# The parent names $WORK (and removes it even if this process is killed)
	if [[ -z ${WORK:-} ]]; then
		WORK=$(mktemp -d /tmp/ciwt-case.XXXXXX)
	fi
	mkdir -p "$WORK"
	export WORK
	_CIWT_CASE_CLEANUP=
	trap _ciwt_case_cleanup EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	"$1"
	exit $?
}

_ciwt_case_parent() { # NAME TIMEOUT FUNCTION
	local name=$1 limit=$2 full="$_CIWT_STEM/$1" tmp rc reason
	tmp=$(mktemp -d /tmp/ciwt-case.XXXXXX)
	# (The braces keep bash's "Killed" job report out of the results.)
	{
		WORK=$tmp/work _CIWT_CASE=$name _CIWT_REASON=$tmp/reason _CIWT_TAG=$CIWT_RUN \
			timeout -k 10 "$limit" bash "$_CIWT_FILE" "${_CIWT_ARGV[@]}" </dev/null >"$tmp/out" 2>&1
	} 2>/dev/null
	rc=$?
	# A case killed by timeout(1) had no chance to run its trap.
	ciwt_sweep_test_objects
	reason=$(head -n 1 "$tmp/reason" 2>/dev/null)
	case $rc in
	0) _ciwt_result ok "$full" ;;
	77) _ciwt_result skip "$full" "${reason:-no reason given}" ;;
	*)
		if [[ $rc == 124 || $rc == 137 ]]; then
			reason="timed out after ${limit}s${reason:+ ($reason)}"
		fi
		_ciwt_result "not ok" "$full" "${reason:-exited with status $rc}"
		tail -n +2 "$tmp/reason" 2>/dev/null | head -n 5 | sed 's/^/#   /'
		grep -v '^FAIL: ' "$tmp/out" | tail -n 15 | cut -c 1-300 | sed 's/^/#   | /'
		;;
	esac
	rm -rf "$tmp"
}

tcase() { # NAME TIMEOUT FUNCTION
	if [[ -n ${_CIWT_INNER:-} ]]; then
		# This process is ci-wrap's command: run the one function asked for.
		local fn=$_CIWT_INNER
		unset _CIWT_INNER
		"$fn" "${_CIWT_ARGV[@]}"
		exit $?
	fi
	if [[ -n ${_CIWT_CASE:-} ]]; then
		[[ $_CIWT_CASE == "$1" ]] && _ciwt_case_child "$3"
		return 0
	fi
	_ciwt_selected "$_CIWT_STEM/$1" || return 0
	_ciwt_case_parent "$1" "$2" "$3"
}
