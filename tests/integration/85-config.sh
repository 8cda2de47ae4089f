#!/usr/bin/env bash
# The configuration file (/etc/ci-wrap.conf, here always $CI_WRAP_CONFIG) and
# its place below the environment and the command line; ci-wrap-sh run the way
# Jenkins runs its Shell executable; make install/uninstall; the generated docs.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$CIWT_DIR/../.." && pwd)
MIB=$((1024 * 1024))

# $WORK/c.conf from the arguments, one line each; CI_WRAP_CONFIG names it.
conf() {
	printf '%s\n' "$@" >"$WORK/c.conf"
	export CI_WRAP_CONFIG=$WORK/c.conf
}

# Inside the session: the labels a created container gets.
inner_labels() {
	local c
	c=$(docker create "$IMG" true) || fail "docker create through the proxy failed"
	docker inspect -f '{{json .Config.Labels}}' "$c" >"$WORK/labels"
}

label() { jq -r --arg k "$1" '.[$k] // "(none)"' "$WORK/labels"; }

# Run a session with the test's config and these options; then check which of
# the three reports was written and the pool's memory limit in it.
run_and_check() { # WHICH-REPORT WANT-MIB CI-WRAP-OPTIONS...
	local which=$1 want=$2 r
	shift 2
	cw_inner -q "$@" -- inner_labels 2>"$WORK/err" ||
		fail "session failed: $(tail -n 3 "$WORK/err" | tr '\n' '|')"
	for r in file env cli; do
		if [[ $r == "$which" ]]; then
			[[ -s $WORK/r-$r.json ]] || fail "no report at the $r's path"
		else
			[[ ! -e $WORK/r-$r.json ]] || fail "a report at the $r's path; expected the $which's"
		fi
	done
	assert_eq "memory_limit_bytes in the report" $((want * MIB)) \
		"$(jq -r .cgroup.memory_limit_bytes "$WORK/r-$which.json")"
}

# A file with comments, blank lines, odd spacing and a CRLF line: its values
# are used.
t_file_value() {
	conf '# every job on this host' '' "   memory=96m" "report = $WORK/r-file.json" \
		'grace = 1s' 'label = team=file' '  # indented comment' '	label=site=file	'
	printf 'label = crlf=yes\r\n' >>"$WORK/c.conf"
	run_and_check file 96
	assert_eq "label team (file)" file "$(label team)"
	assert_eq "label site (file, tabs around)" file "$(label site)"
	assert_eq "label crlf (a CRLF line)" yes "$(label crlf)"
}

t_env_over_file() {
	conf 'memory = 96m' "report = $WORK/r-file.json" 'label = team=file' 'label = site=file'
	CI_WRAP_MEMORY=128m CI_WRAP_REPORT=$WORK/r-env.json CI_WRAP_LABEL=team=env \
		run_and_check env 128
	assert_eq "label team (file, then CI_WRAP_LABEL)" env "$(label team)"
	assert_eq "label site (file only: labels add up)" file "$(label site)"
}

t_cli_over_env() {
	conf 'memory = 96m' "report = $WORK/r-file.json" 'label = team=file' 'label = site=file'
	CI_WRAP_MEMORY=128m CI_WRAP_REPORT=$WORK/r-env.json CI_WRAP_LABEL=team=env,unit=env \
		run_and_check cli 160 --memory 160m --report "$WORK/r-cli.json" --label team=cli
	assert_eq "label team (file, env, then --label)" cli "$(label team)"
	assert_eq "label unit (env only)" env "$(label unit)"
	assert_eq "label site (file only)" file "$(label site)"
}

# Flags take a boolean word; the environment overrides the file either way.
t_flag() {
	local out
	conf 'no-cgroup = yes'
	out=$(cw -q -- sh -c 'echo "${CI_WRAP_CGROUP:-none}"' 2>"$WORK/err")
	assert_eq "CI_WRAP_CGROUP with no-cgroup = yes in the file" none "$out"
	out=$(CI_WRAP_NO_CGROUP=false cw -q -- sh -c 'echo "${CI_WRAP_CGROUP:-none}"' 2>"$WORK/err")
	assert_match "CI_WRAP_CGROUP with the file's no-cgroup and CI_WRAP_NO_CGROUP=false" \
		'^/ci-wrap/' "$out"
}

# ci-wrap ARGS -- touch MARKER, with the config file holding LINES, must exit
# 125 with exactly one line "ci-wrap: FILE:LINENO: ..." matching WHAT, print
# nothing on stdout and never run the command.
refused_by_file() { # LINENO WHAT-ERE LINE... [-- CI-WRAP-ARGS...]
	local n=$1 what=$2 lines=() rc
	shift 2
	while (($#)) && [[ $1 != -- ]]; do
		lines+=("$1")
		shift
	done
	(($#)) && shift
	conf "${lines[@]}"
	cw "$@" -- touch "$WORK/marker" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	log "file '$(tr '\n' '|' <"$WORK/c.conf")': status $rc, stderr $(tr '\n' '|' <"$WORK/err")"
	assert_eq "exit status with a bad line $n" 125 "$rc"
	[[ ! -e $WORK/marker ]] || fail "the command ran despite a bad line $n"
	[[ ! -s $WORK/out ]] || fail "wrote to stdout: $(head -c 200 "$WORK/out")"
	assert_eq "lines on stderr" 1 "$(wc -l <"$WORK/err")"
	assert_match "stderr" "^ci-wrap: $WORK/c.conf:$n: $what\$" "$(cat "$WORK/err")"
}

t_bad_line() {
	refused_by_file 3 "unknown option 'memroy'" '# site settings' '' 'memroy = 1g'
	refused_by_file 2 "expected 'name = value'.*" 'grace = 1s' 'memory 1g'
	refused_by_file 4 "invalid memory 'lots': .*" 'grace = 1s' '' '# x' 'memory = lots'
	refused_by_file 1 "invalid keep-images 'maybe': expected true or false" 'keep-images = maybe'
	refused_by_file 1 "invalid docker-host 'tcp://h:2375': .*" 'docker-host = tcp://h:2375'
	refused_by_file 1 "invalid label 'novalue': .*" 'label = novalue'
	refused_by_file 1 "no value for 'grace'" 'grace ='
	refused_by_file 2 "no option name before '='" 'grace = 1s' ' = 4g'
	refused_by_file 1 "option 'session' can only be given on the command line.*" 'session = x'
	refused_by_file 1 "option 'quiet' can only be given on the command line.*" 'quiet = true'
	# Checked even where the environment or the command line would override it.
	CI_WRAP_MEMORY=1g refused_by_file 1 "invalid memory 'lots': .*" 'memory = lots' -- --memory 2g
}

# A missing default file is fine; a missing or unreadable file that
# CI_WRAP_CONFIG names is not.
t_missing_file() {
	local rc
	if [[ ! -e /etc/ci-wrap.conf ]]; then
		CI_WRAP_CONFIG='' cw -q -- true 2>"$WORK/err"
		rc=$? # before the message's $(...), which sets $? again
		assert_eq "exit status without /etc/ci-wrap.conf (stderr: $(head -c 200 "$WORK/err"))" 0 "$rc"
	else
		log "this host has /etc/ci-wrap.conf: not checking its absence"
	fi
	CI_WRAP_CONFIG=$WORK/nope.conf cw -q -- touch "$WORK/marker" 2>"$WORK/err"
	rc=$?
	assert_eq "exit status with CI_WRAP_CONFIG naming a missing file" 125 "$rc"
	[[ ! -e $WORK/marker ]] || fail "the command ran despite the missing file"
	assert_match "stderr" "^ci-wrap: $WORK/nope.conf: .*No such file or directory\$" "$(cat "$WORK/err")"
	CI_WRAP_CONFIG=$WORK cw -q -- touch "$WORK/marker" 2>"$WORK/err"
	assert_eq "exit status with CI_WRAP_CONFIG naming a directory" 125 "$?"
	[[ ! -e $WORK/marker ]] || fail "the command ran with a directory for a config file"
}

# Hook mode reads the file too: a bad one refuses to start (no exports), a good
# one sets the session's options.
t_start() {
	local rc
	conf 'memory = lots'
	cw start >"$WORK/out" 2>"$WORK/err"
	rc=$?
	assert_eq "exit status of ci-wrap start with a bad file" 125 "$rc"
	[[ ! -s $WORK/out ]] || fail "start printed exports despite the bad file: $(head -c 200 "$WORK/out")"
	assert_match "stderr of start" "^ci-wrap: $WORK/c.conf:1: invalid memory" "$(cat "$WORK/err")"
	conf 'memory = 112m' "report = $WORK/r-file.json" 'grace = 1s'
	cat >"$WORK/job.sh" <<'EOF'
exports=$("$CI_WRAP" start) || exit 99 # eval of nothing would succeed
eval "$exports"
"$CI_WRAP" stop 2>"$WORK/stop" || exit 98
EOF
	bash "$WORK/job.sh" 2>"$WORK/err"
	rc=$?
	assert_eq "exit status of the hook-mode job ($(tr '\n' '|' <"$WORK/err"))" 0 "$rc"
	[[ -s $WORK/r-file.json ]] || fail "no report at the file's path after stop"
	assert_eq "memory_limit_bytes in the hook session's report" $((112 * MIB)) \
		"$(jq -r .cgroup.memory_limit_bytes "$WORK/r-file.json")"
}

# ci-wrap-sh as Jenkins runs its "Shell executable" for an `sh` step: the
# durable-task launcher runs `SHELL -xe SCRIPT` with the build's cookie and
# BUILD_TAG. The step leaves a labelled container running and fails.
t_jenkins_sh() {
	local rc job="jenkins-ciwt-$CIWT_RUN-sh-42" cid s
	mkdir -p "$WORK/bin"
	cp "$ROOT/launcher/ci-wrap-sh" "$WORK/bin/"
	ln -s "$CI_WRAP" "$WORK/bin/ci-wrap"
	conf 'grace = 1s' 'label = via=conf'
	cat >"$WORK/script.sh" <<EOF
docker run -d --label ciwt-step=1 $IMG sleep 600 >"$WORK/cid"
docker inspect -f '{{json .Config.Labels}}' "\$(cat "$WORK/cid")" >"$WORK/labels"
echo "\$CI_WRAP_SESSION" >"$WORK/session"
sh -c 'exit 3'
touch "$WORK/after-failure"
EOF
	(cd "$WORK" && env JENKINS_SERVER_COOKIE="durable-$CIWT_RUN" \
		JENKINS_NODE_COOKIE="$(cat /proc/sys/kernel/random/uuid)" BUILD_TAG="$job" \
		"$WORK/bin/ci-wrap-sh" -xe "$WORK/script.sh") >"$WORK/out" 2>"$WORK/err"
	rc=$?
	log "ci-wrap-sh stderr: $(tr '\n' '|' <"$WORK/err" | head -c 600)"
	assert_eq "exit status of ci-wrap-sh -xe script.sh (the step's)" 3 "$rc"
	[[ ! -e $WORK/after-failure ]] || fail "-e was not passed on: the script went on after a failure"
	grep -q '^+ docker run' "$WORK/err" || fail "-x was not passed on: no trace on stderr"
	[[ -s $WORK/cid ]] || fail "the step did not start its container"
	cid=$(cat "$WORK/cid")
	s=$(cat "$WORK/session")
	[[ $s == "$job-"* ]] || fail "session '$s' does not come from BUILD_TAG '$job'"
	assert_eq "ci-wrap.session of the step's container" "$s" "$(label ci-wrap.session)"
	assert_eq "ci-wrap.job of the step's container" "$job" "$(label ci-wrap.job)"
	assert_eq "label via (from the config file)" conf "$(label via)"
	assert_eq "label ciwt-step (the client's)" 1 "$(label ciwt-step)"
	grep -q "^ci-wrap: session $s: removed 1 container" "$WORK/err" ||
		fail "no summary line on stderr"
	d inspect "$cid" >/dev/null 2>&1 && fail "the step's container is still there"
	return 0
}

# Installed, it runs the ci-wrap next to it; else the PATH's; else it says so.
t_ci_wrap_sh_lookup() {
	local out
	mkdir -p "$WORK/lone" "$WORK/pathbin" "$WORK/empty"
	cp "$ROOT/launcher/ci-wrap-sh" "$WORK/lone/"
	ln -s "$CI_WRAP" "$WORK/pathbin/ci-wrap"
	out=$(PATH=$WORK/pathbin:$PATH "$WORK/lone/ci-wrap-sh" -c 'readlink /proc/$PPID/exe' 2>"$WORK/err")
	assert_eq "the ci-wrap that ci-wrap-sh ran from the PATH" "$(realpath "$CI_WRAP")" "$out"
	out=$(PATH=$WORK/empty "$WORK/lone/ci-wrap-sh" -c true 2>&1)
	assert_eq "exit status of ci-wrap-sh without a ci-wrap" 127 "$?"
	assert_match "its message" '^ci-wrap-sh: ci-wrap not found' "$out"
}

t_install() {
	local dest=$WORK/root out
	# -o: install the binary under test as it is, never rebuild it here.
	make -s -C "$ROOT" -o "$CI_WRAP" BIN="$CI_WRAP" install DESTDIR="$dest" PREFIX=/usr \
		>"$WORK/make" 2>&1 || fail "make install failed: $(tail -n 3 "$WORK/make" | tr '\n' '|')"
	[[ -x $dest/usr/bin/ci-wrap ]] || fail "no executable $dest/usr/bin/ci-wrap"
	[[ -x $dest/usr/bin/ci-wrap-sh ]] || fail "no executable $dest/usr/bin/ci-wrap-sh"
	cmp -s "$CI_WRAP" "$dest/usr/bin/ci-wrap" || fail "the installed ci-wrap is not the binary"
	cmp -s "$ROOT/docs/ci-wrap.1" "$dest/usr/share/man/man1/ci-wrap.1" ||
		fail "no man page at $dest/usr/share/man/man1/ci-wrap.1"
	out=$(PATH=/usr/bin:/bin "$dest/usr/bin/ci-wrap-sh" -c 'readlink /proc/$PPID/exe' 2>"$WORK/err")
	assert_eq "the ci-wrap that the installed ci-wrap-sh ran" "$dest/usr/bin/ci-wrap" "$out"
	make -s -C "$ROOT" uninstall DESTDIR="$dest" PREFIX=/usr >"$WORK/make" 2>&1 ||
		fail "make uninstall failed: $(tail -n 3 "$WORK/make" | tr '\n' '|')"
	out=$(find "$dest" ! -type d)
	[[ -z $out ]] || fail "left after make uninstall: $(tr '\n' ' ' <<<"$out")"
}

# The man page's option list and README's --help are generated from the
# option table (make docs); the committed ones must match the binary.
t_docs_current() {
	(cd "$ROOT" && docs/gen-options.sh "$CI_WRAP" --check docs/ci-wrap.1 README.md) \
		2>"$WORK/err" || fail "$(head -n 1 "$WORK/err")"
	if command -v groff >/dev/null; then
		groff -man -ww -z "$ROOT/docs/ci-wrap.1" 2>"$WORK/err"
		[[ ! -s $WORK/err ]] || fail "groff warns about docs/ci-wrap.1: $(head -n 2 "$WORK/err" | tr '\n' '|')"
	fi
	return 0
}

tcase file-value 60 t_file_value
tcase env-over-file 60 t_env_over_file
tcase cli-over-env 60 t_cli_over_env
tcase flag 30 t_flag
tcase bad-line 30 t_bad_line
tcase missing-file 30 t_missing_file
tcase start 60 t_start
tcase jenkins-sh 60 t_jenkins_sh
tcase ci-wrap-sh-lookup 30 t_ci_wrap_sh_lookup
tcase install 60 t_install
tcase docs-current 30 t_docs_current
