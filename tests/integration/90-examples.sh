#!/usr/bin/env bash
# The examples under examples/, run the way each CI system runs them. The
# shell parts are taken from the example files themselves (config.toml and
# .gitlab-ci.yml, the Jenkinsfile's `sh` steps, the workflow's `run:` steps,
# examples/shell/ci-step.sh as it is), so a change that breaks an example
# breaks its case. `ci-wrap` is on the PATH as a link to the binary under
# test; the job's own command (./ci/test.sh, `make test`) is the test's: it
# starts labelled containers and a network through whatever DOCKER_HOST it
# gets, records what it saw, and exits with a chosen status (or blocks).
# Every case checks the exit status the CI system would see and that nothing
# of the session is left: containers, networks, volumes, images, pool, socket
# directory, registry entry, session process.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

EX=$(cd "$CIWT_DIR/../../examples" && pwd)

# The runners' own settings: the examples leave --grace at its default (10 s),
# which a runner's environment may set; 1 s keeps the cases short, since
# `sleep` as a container's PID 1 ignores SIGTERM. (The Jenkinsfile sets its
# own, 5 s, in its environment block, and that is what its cases use.)
RUNNER_GRACE=1s

# A python3 with yaml and tomllib (Debian 12: python3-yaml, a dependency of
# docker-compose, which setup installs).
pick_python() {
	local p
	for p in python3 /usr/bin/python3; do
		if command -v "$p" >/dev/null && "$p" -c 'import yaml, tomllib' 2>/dev/null; then
			PY=$p
			return 0
		fi
	done
	skip "no python3 with the yaml and tomllib modules (apt-get install python3-yaml)"
}

# Turns the examples into the scripts each runner would execute.
#   gitlab CONFIG|- CI JOB OUTDIR K=V...  -> step.sh, after.sh, runner-env
#   jenkins JENKINSFILE OUTDIR            -> stage-N.sh, always-N.sh, env
#   github WORKFLOW OUTDIR                -> manifest, step-N.sh, env-N
# shellcheck disable=SC2016 # python, not shell
EXTRACT_PY='
import json, os, re, shlex, sys

def die(msg):
    print("extract: " + msg, file=sys.stderr)
    sys.exit(2)

def write(path, text):
    with open(path, "w") as f:
        f.write(text)

def flat(v):
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    out = []
    for x in v:
        out.extend(flat(x))
    return out

# GitLab Runner (shells/bash.go): exports, cd into the project, then each
# command echoed as "$ command" and run, all inside `: | eval` under errexit
# and pipefail (`: | (eval ...)` with FF_USE_NEW_BASH_EVAL_STRATEGY);
# `trap exit 1 TERM` on top.
NEW_EVAL = os.environ.get("FF_USE_NEW_BASH_EVAL_STRATEGY") == "true"

def gitlab_stage(exports, cd, commands):
    body = ["export %s=%s" % (k, shlex.quote(str(v))) for k, v in exports.items()]
    body.append("cd %s" % shlex.quote(cd))
    for c in commands:
        c = c.strip()
        lines = c.split("\n")
        shown = "$ " + lines[0] + (" # collapsed multi-line command" if len(lines) > 1 else "")
        body.append("echo %s" % shlex.quote(shown))
        body.append(c)
    b = "\n".join(body) + "\n"
    return ("#!/usr/bin/env bash\n\ntrap exit 1 TERM\n\n"
            "if set -o | grep pipefail > /dev/null; then set -o pipefail; fi; set -o errexit\n"
            "set +o noclobber\n"
            + (": | (eval %s)\n" if NEW_EVAL else ": | eval %s\n") % shlex.quote(b) +
            "exit 0\n")

def gitlab(config, ci, job, outdir, *kv):
    import tomllib, yaml
    runner = {}
    if config != "-":
        with open(config, "rb") as f:
            conf = tomllib.load(f)
        runners = conf.get("runners") or die("no [[runners]] in " + config)
        runner = runners[0]
        if runner.get("executor") != "shell":
            die("the runner in %s is not a shell executor" % config)
        if runner.get("shell", "bash") != "bash":
            die("the runner in %s does not use bash" % config)
        if not runner.get("pre_build_script"):
            die("no pre_build_script in " + config)
    with open(ci) as f:
        doc = yaml.safe_load(f)
    j = doc.get(job)
    if not isinstance(j, dict):
        die("no job %r in %s" % (job, ci))
    default = doc.get("default") or {}
    env = {}
    for src in (doc.get("variables") or {}, j.get("variables") or {}):
        for k, v in src.items():
            env[k] = v["value"] if isinstance(v, dict) else v
    # Predefined variables and pipeline variables (which win over the file).
    for x in kv:
        k, v = x.split("=", 1)
        env[k] = v
    before = flat(j.get("before_script", doc.get("before_script", default.get("before_script"))))
    script = flat(j.get("script"))
    if not script:
        die("job %r has no script" % job)
    after = flat(j.get("after_script", doc.get("after_script", default.get("after_script"))))
    step = []
    if runner.get("pre_build_script"):
        step.append(runner["pre_build_script"])
    step += before + script
    if runner.get("post_build_script"):
        step.append(runner["post_build_script"])
    project = env["CI_PROJECT_DIR"]
    write(os.path.join(outdir, "step.sh"), gitlab_stage(env, project, step))
    write(os.path.join(outdir, "after.sh"), gitlab_stage(env, project, after) if after else "")
    write(os.path.join(outdir, "runner-env"), "".join(e + "\n" for e in runner.get("environment") or []))

# Groovy: the source with comments blanked (offsets kept), and the same with
# string contents blanked too, where steps are looked for.
def groovy_strip(src):
    text, code, i, n = [], [], 0, len(src)
    def blank(t):
        return re.sub(r"[^\n]", " ", t)
    while i < n:
        if src.startswith(("\x27\x27\x27", "\"\"\""), i) or src[i] in "\x27\"":
            q = src[i:i + 3] if src.startswith(("\x27\x27\x27", "\"\"\""), i) else src[i]
            j = i + len(q)
            while j < n and not src.startswith(q, j):
                j += 2 if src[j] == "\\" else 1
            j = min(j + len(q), n)
            text.append(src[i:j])
            code.append(q + blank(src[i + len(q):j - len(q)]) + q)
            i = j
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            text.append(blank(src[i:j]))
            code.append(blank(src[i:j]))
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            text.append(blank(src[i:j]))
            code.append(blank(src[i:j]))
            i = j
        else:
            text.append(src[i])
            code.append(src[i])
            i += 1
    return "".join(text), "".join(code)

ESC = {"n": "\n", "t": "\t", "\\": "\\", "\x27": "\x27", "\"": "\"", "$": "$"}

def groovy_literal(src, i):
    q = src[i:i + 3] if src.startswith(("\x27\x27\x27", "\"\"\""), i) else src[i]
    j, val = i + len(q), []
    while not src.startswith(q, j):
        if j >= len(src):
            die("unterminated string at offset %d" % i)
        c = src[j]
        if c == "\\":
            val.append(ESC.get(src[j + 1], "\\" + src[j + 1]))
            j += 2
            continue
        if c == "$" and q[0] == "\"":
            die("a Groovy-interpolated sh step (unescaped $) cannot be run outside Jenkins")
        val.append(c)
        j += 1
    return "".join(val)

def jenkins(path, outdir):
    with open(path) as f:
        text, code = groovy_strip(f.read())
    post = re.search(r"\bpost\s*\{", code)
    always = re.search(r"\balways\s*\{", code[post.end():]) if post else None
    always_at = post.end() + always.start() if always else len(code)
    n = {"stage": 0, "always": 0}
    for m in re.finditer(r"(?<![\w.$])sh\s*\(?\s*(?:script\s*:\s*)?(?=[\x27\"])", code):
        kind = "stage" if not post or m.start() < post.start() else "always" if m.start() > always_at else None
        if kind is None:
            die("an sh step in a post block other than always")
        n[kind] += 1
        write(os.path.join(outdir, "%s-%d.sh" % (kind, n[kind])), groovy_literal(text, m.end()) + "\n")
    if not n["stage"]:
        die("no sh step in the stages of " + path)
    env = []
    for m in re.finditer(r"\benvironment\s*\{([^{}]*)\}", code):
        for k, v in re.findall(r"(\w+)\s*=\s*(\x27[^\x27]*\x27|\"[^\"$]*\")", text[m.start(1):m.end(1)]):
            env.append("%s=%s\n" % (k, v[1:-1]))
    write(os.path.join(outdir, "env"), "".join(env))

def github(path, outdir):
    import yaml
    with open(path) as f:
        doc = yaml.safe_load(f)
    jobs = doc.get("jobs") or die("no jobs in " + path)
    name, job = next(iter(jobs.items()))
    shell = ((job.get("defaults") or doc.get("defaults") or {}).get("run") or {}).get("shell", "")
    env = dict(doc.get("env") or {})
    env.update(job.get("env") or {})
    man = []
    for i, st in enumerate(job.get("steps") or [], 1):
        cond = str(st.get("if", ""))
        if "run" in st:
            if "${{" in st["run"]:
                die("step %d: expressions in run: are not supported here" % i)
            write(os.path.join(outdir, "step-%d.sh" % i), st["run"])
            e = dict(env)
            e.update(st.get("env") or {})
            write(os.path.join(outdir, "env-%d" % i), "".join("%s=%s\n" % kv for kv in e.items()))
            man.append([str(i), "run", cond, st.get("shell", shell), st.get("working-directory", ""), ""])
        else:
            man.append([str(i), st.get("uses", "?"), cond, "", "", str((st.get("with") or {}).get("path", ""))])
    write(os.path.join(outdir, "manifest"), "".join("\x1f".join(m) + "\n" for m in man))

{"gitlab": gitlab, "jenkins": jenkins, "github": github}[sys.argv[1]](*sys.argv[2:])
'

extract() { "$PY" -c "$EXTRACT_PY" "$@" 2>"$WORK/extract.err" || fail "could not read the example: $(tr '\n' ' ' <"$WORK/extract.err")"; }

# --- the runner's side ------------------------------------------------------

# $WORK/bin/ci-wrap -> the binary under test; the runner's environment: a
# clean one with that PATH, the real daemon, and the run's tag (run.sh finds
# a case's leftover processes by it).
setup_runner() {
	pick_python
	mkdir -p "$WORK/bin" "$WORK/st" "$WORK/proj/ci"
	ln -s "$(realpath "$CI_WRAP")" "$WORK/bin/ci-wrap"
	RUNNER_ENV=(env -i "PATH=$WORK/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		"HOME=${HOME:-/root}" LANG=C.UTF-8 "DOCKER_HOST=$CIWT_DOCKER_HOST" "_CIWT_TAG=${_CIWT_TAG:-}")
	ST=$WORK/st
	on_cleanup cleanup_case
}

# The job's own test script, replaced: a network and two labelled containers
# through DOCKER_HOST (TL labels too, so the harness removes them whatever
# happens), what it saw written to $ST, then `exit STATUS`, or `block`.
make_project() { # STATUS|block
	local tl end
	tl=$(printf "'%s' " "${TL[@]}")
	if [[ $1 == block ]]; then end='exec sleep 600'; else end="exit $1"; fi
	cat >"$WORK/proj/ci/test.sh" <<EOF
#!/bin/sh
set -e
st='$ST'
echo "\${CI_WRAP_SESSION:-}" >"\$st/session"
echo "\${DOCKER_HOST:-}" >"\$st/docker_host"
lim=none
for f in "/sys/fs/cgroup/memory\${CI_WRAP_CGROUP:-/-}/memory.limit_in_bytes" "/sys/fs/cgroup\${CI_WRAP_CGROUP:-/-}/memory.max"; do
	if [ -r "\$f" ]; then lim=\$(cat "\$f"); break; fi
done
echo "\$lim" >"\$st/memlimit"
net=ciwt-$CIWT_RUN-\$\$
docker network create $tl "\$net" >/dev/null
cid=\$(docker run -d --network "\$net" $tl '$IMG' sleep 600)
docker run -d $tl '$IMG' sleep 600 >/dev/null
docker inspect -f '{{index .Config.Labels "ci-wrap.session"}} {{index .Config.Labels "ci-wrap.owner"}}' "\$cid" >"\$st/labels"
echo "ci/test.sh: started \$cid, exiting with $1"
touch "\$st/ready"
$end
EOF
	chmod +x "$WORK/proj/ci/test.sh"
	printf 'test:\n\t./ci/test.sh\n' >"$WORK/proj/Makefile"
}

# The job ran inside a session: its containers carry the session's label.
job_ran_in_session() { # [EXPECTED-MEMORY-LIMIT-BYTES]
	local s l
	[[ -s $ST/labels ]] || fail "the job's ci/test.sh did not get its containers up (see the log)"
	s=$(cat "$ST/session")
	[[ -n $s ]] || fail "the job ran without CI_WRAP_SESSION: not inside a ci-wrap session"
	read -r l _ <"$ST/labels"
	assert_eq "ci-wrap.session label of the job's container" "$s" "$l"
	if [[ -n ${1:-} ]]; then
		assert_eq "memory limit of the job's pool" "$1" "$(cat "$ST/memlimit")"
	fi
	echo "$s" >>"$WORK/sessions"
}

# The --memory SIZE in a file, in bytes (powers of 1024); empty if none.
memory_in() { # FILE
	local v n
	v=$(grep -oE -- '--memory[= ][0-9.]+[kKmMgG]?' "$1" | head -n 1 | sed 's/^--memory[= ]//')
	[[ -n $v ]] || return 0
	n=${v%[kKmMgG]}
	case ${v: -1} in
	k | K) n=$(awk "BEGIN{printf \"%.0f\", $n*1024}") ;;
	m | M) n=$(awk "BEGIN{printf \"%.0f\", $n*1024*1024}") ;;
	g | G) n=$(awk "BEGIN{printf \"%.0f\", $n*1024*1024*1024}") ;;
	esac
	echo "$n"
}

pool_dirs() { # SESSION
	compgen -G "/sys/fs/cgroup/*/ci-wrap/$1" 2>/dev/null
	[[ -d /sys/fs/cgroup/ci-wrap/$1 ]] && echo "/sys/fs/cgroup/ci-wrap/$1"
	return 0
}

# What is left of the job's session; empty when nothing. Docker objects by the
# session label and by the names the example gave them ($WORK/names).
leftovers() {
	local s dh dir owner pid start out=() t ids type name
	s=$(cat "$ST/session")
	for t in "ps -a" "network ls" "volume ls"; do
		# shellcheck disable=SC2086 # two words
		ids=$(d $t -q --filter "label=ci-wrap.session=$s" | tr '\n' ' ')
		[[ -n ${ids// /} ]] && out+=("${t%% *}: $ids")
	done
	ids=$(d images -q --filter "label=ci-wrap.session=$s" | tr '\n' ' ')
	[[ -n ${ids// /} ]] && out+=("images: $ids")
	if [[ -s $WORK/names ]]; then
		while read -r type name; do
			d "$type" inspect "$name" >/dev/null 2>&1 && out+=("$type $name")
		done <"$WORK/names"
	fi
	[[ -n $(pool_dirs "$s") ]] && out+=("pool $(pool_dirs "$s" | head -n 1)")
	[[ -e /run/ci-wrap/$s.json ]] && out+=("registry entry /run/ci-wrap/$s.json")
	dh=$(cat "$ST/docker_host")
	dir=${dh#unix://}
	dir=${dir%/*}
	[[ $dir == */ci-wrap.* && -e $dir ]] && out+=("socket directory $dir")
	read -r _ owner <"$ST/labels"
	IFS=/ read -r _ _ pid start <<<"$owner"
	if [[ -n $pid && -r /proc/$pid/stat ]] &&
		[[ $(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f20) == "$start" ]]; then
		out+=("session process $pid")
	fi
	((${#out[@]})) && printf '%s; ' "${out[@]}"
	return 0
}

nothing_left() { [[ -z $(leftovers) ]]; }

# Nothing left now (the runner's step has returned and claims it waited), or
# within SECONDS (the session ends by itself).
assert_nothing_left() { # SECONDS WHEN
	local left
	if (($1 == 0)); then
		# The session process may take a moment to exit after its summary.
		left=$(leftovers | sed 's/session process [0-9]*; //')
		[[ -z $left ]] || fail "$2, left: $left"
		wait_until 3 nothing_left || fail "$2, 3 s later, left: $(leftovers)"
	else
		wait_until "$1" nothing_left || fail "$1 s after $2, left: $(leftovers)"
	fi
}

# At the case's end, pass or fail: kill the runner shells it started, stop the
# sessions of its job ids, remove what is still labelled with them.
cleanup_case() {
	local p j s t ids
	if [[ -s $WORK/pgids ]]; then
		while read -r p; do kill -KILL -- "-$p" 2>/dev/null; done <"$WORK/pgids"
	fi
	[[ -s $WORK/jobids ]] || return 0
	while read -r j; do
		for s in $(compgen -G "/run/ci-wrap/$j-*.json"); do
			s=${s##*/}
			timeout 20 "$CI_WRAP" -q stop --session "${s%.json}" >/dev/null 2>&1
		done
		for t in "ps -a:rm -f -v" "network ls:network rm" "volume ls:volume rm -f"; do
			# shellcheck disable=SC2086
			ids=$(d ${t%%:*} -q --filter "label=ci-wrap.job=$j")
			# shellcheck disable=SC2086
			[[ -n $ids ]] && d ${t#*:} $ids >/dev/null 2>&1
		done
	done <"$WORK/jobids"
	if [[ -s $WORK/names ]]; then
		while read -r t s; do
			[[ $t == container ]] && d rm -f -v "$s" >/dev/null 2>&1
			[[ $t == network ]] && d network rm "$s" >/dev/null 2>&1
		done <"$WORK/names"
	fi
	return 0
}

new_job_id() { # SUFFIX
	echo "$JOB_ID-$1-$RANDOM" | tee -a "$WORK/jobids"
}

# --- GitLab Runner, shell executor ------------------------------------------

# A stand-in for postgres:16 (nothing can be pulled): the test image, running.
make_db_image() {
	local c
	DB_IMAGE=ciwt-$CIWT_RUN-db-$RANDOM:latest
	c=$(d create "${TL[@]}" "$IMG" true) || fail "docker create failed"
	d commit --change 'CMD ["sleep", "600"]' "$c" "$DB_IMAGE" >/dev/null || fail "docker commit failed"
	d rm "$c" >/dev/null
	on_cleanup "d rmi -f '$DB_IMAGE' >/dev/null 2>&1"
}

# The runner's scripts for a job: the step_script stage (pre_build_script,
# before_script + script, post_build_script) and after_script. The pipeline
# variable POSTGRES_IMAGE wins over the file's, as in GitLab.
gitlab_scripts() { # CONFIG|- JOB JOB-ID
	make_db_image
	extract gitlab "$1" "$EX/gitlab/.gitlab-ci.yml" "$2" "$WORK" \
		"CI_JOB_ID=$3" "CI_PROJECT_DIR=$WORK/proj" "CI_BUILDS_DIR=$WORK" CI=true GITLAB_CI=true \
		"POSTGRES_IMAGE=$DB_IMAGE"
	printf '%s\n' "container db-$3" "network test-$3" >>"$WORK/names"
	GL_ENV=("${RUNNER_ENV[@]}" "CI_WRAP_GRACE=$RUNNER_GRACE")
	mapfile -t -O ${#GL_ENV[@]} GL_ENV <"$WORK/runner-env"
}

# A stage as the shell executor runs it: bash reading the script on stdin,
# in its own process group, from the builds directory.
gitlab_stage() { # SCRIPT LOG [ENV...]
	local script=$1 log=$2
	shift 2
	# (setsid does not fork here, so this subshell's pid is the job shell's,
	# and its process group.)
	(cd "$WORK" && echo "$BASHPID" >"$WORK/shell.pid" && exec setsid -w "${GL_ENV[@]}" "$@" bash <"$script") >>"$log" 2>&1
}

gitlab_job() { # STATUS|block CONFIG|- JOB
	setup_runner
	make_project "$1"
	GL_JOB=$(new_job_id gl)
	gitlab_scripts "$2" "$3" "$GL_JOB"
}

gitlab_after() { # STATUS-OF-JOB
	local rc
	[[ -s $WORK/after.sh ]] || fail "the job has no after_script"
	grep -q 'ci-wrap stop' "$WORK/after.sh" || fail "the job's after_script does not run ci-wrap stop"
	gitlab_stage "$WORK/after.sh" "$WORK/after.log" "CI_JOB_STATUS=$1"
	rc=$?
	log "after_script: $(tr '\n' '|' <"$WORK/after.log" | cut -c 1-400)"
	assert_eq "exit status of after_script (log: $(tr '\n' '|' <"$WORK/after.log" | cut -c 1-300))" 0 "$rc"
}

# The job's step_script, run to its end: its shell exits with STATUS, and the
# job ran in a session.
gitlab_step() { # STATUS
	local rc
	gitlab_stage "$WORK/step.sh" "$WORK/step.log"
	rc=$?
	log "step_script: $(tr '\n' '|' <"$WORK/step.log" | cut -c 1-600)"
	assert_eq "exit status of the job's shell (log: $(tail -n 3 "$WORK/step.log" | tr '\n' '|'))" "$1" "$rc"
	job_ran_in_session "$(memory_in "$WORK/step.sh")"
}

# A blocking job's step_script started in the background (its shell's pid in
# STEP_PID), once the job runs in its session.
gitlab_step_started() {
	gitlab_stage "$WORK/step.sh" "$WORK/step.log" &
	STEP_PID=$!
	wait_until 10 test -s "$WORK/shell.pid" || fail "the runner's shell did not start"
	cat "$WORK/shell.pid" >>"$WORK/pgids"
	wait_until 30 test -e "$ST/ready" || fail "the job did not start: $(tail -n 5 "$WORK/step.log" | tr '\n' '|')"
	job_ran_in_session "$(memory_in "$WORK/step.sh")"
}

# pre_build, the job's script fails, post_build is skipped, the shell exits:
# the session ends by itself. Then after_script finds nothing to stop.
t_gitlab_job_fails() {
	gitlab_job 3 "$EX/gitlab/config.toml" test
	# Not 3: with the runner's default `: | eval`, bash (5.2) exits 1 when
	# errexit fires inside the eval (FF_USE_NEW_BASH_EVAL_STRATEGY fixes that;
	# gitlab-wrapped uses it).
	gitlab_step 1
	grep -q '^\$ ci-wrap stop' "$WORK/step.log" && fail "post_build_script ran after a failed script"
	assert_nothing_left 8 "the job's shell exited (post_build_script skipped)"
	gitlab_after failed
	grep -qi 'nothing to stop' "$WORK/after.log" ||
		fail "after_script's stop does not say there was nothing to stop: $(tr '\n' '|' <"$WORK/after.log")"
}

# The job passes: post_build_script's stop tears down and prints the summary;
# after_script then finds nothing.
t_gitlab_job_passes() {
	local s
	gitlab_job 0 "$EX/gitlab/config.toml" test
	gitlab_step 0
	s=$(cat "$ST/session")
	grep -q '^\$ ci-wrap stop' "$WORK/step.log" || fail "post_build_script did not run"
	# db and ci/test.sh's two; the job's network and ci/test.sh's.
	grep -q "session $s: removed 3 containers, 2 networks" "$WORK/step.log" ||
		fail "no summary line from post_build_script's stop: $(grep ci-wrap: "$WORK/step.log" | tr '\n' '|')"
	assert_nothing_left 0 "post_build_script's stop returned"
	gitlab_after success
}

# after_script in a new shell (no CI_WRAP_SESSION, same CI_JOB_ID) while the
# job's shell still runs: stop finds the session by the job id, tears down.
t_gitlab_after_script() {
	local s
	gitlab_job block "$EX/gitlab/config.toml" test
	gitlab_step_started
	s=$(cat "$ST/session")
	gitlab_after failed
	grep -q "session $s: removed 3 containers, 2 networks" "$WORK/after.log" ||
		fail "no summary line from after_script's stop: $(tr '\n' '|' <"$WORK/after.log")"
	assert_nothing_left 0 "after_script's stop returned"
	wait_until 5 eval "! kill -0 $STEP_PID 2>/dev/null" || fail "the job's shell (in the pool) still runs after stop"
}

# Cancel: SIGTERM to the job's process group, then after_script at once. The
# session is tearing itself down (its shell died) when stop comes.
t_gitlab_cancel() {
	local rc
	gitlab_job block "$EX/gitlab/config.toml" test
	gitlab_step_started
	kill -TERM -- "-$(cat "$WORK/shell.pid")"
	wait_until 10 eval "! kill -0 $STEP_PID 2>/dev/null" || fail "the job's shell survived SIGTERM to its group"
	wait "$STEP_PID"
	rc=$?
	((rc != 0)) || fail "the cancelled job's shell exited 0"
	gitlab_after canceled
	assert_nothing_left 0 "after_script's stop returned after a cancel"
}

# The wrapped step, on a runner without the hooks; with the runner's new eval
# strategy the job's status is ci-wrap's, which is the command's.
t_gitlab_wrapped() {
	export FF_USE_NEW_BASH_EVAL_STRATEGY=true
	gitlab_job 3 - test-wrapped
	gitlab_step 3
	grep -q "session $(cat "$ST/session"): removed 2 containers, 1 network" "$WORK/step.log" ||
		fail "no summary line from ci-wrap: $(grep ci-wrap: "$WORK/step.log" | tr '\n' '|')"
	assert_nothing_left 0 "the wrapped step returned"
}

# --- Jenkins ----------------------------------------------------------------

jenkins_setup() { # STATUS|block
	setup_runner
	make_project "$1"
	mkdir -p "$WORK/jk"
	extract jenkins "$EX/jenkins/Jenkinsfile" "$WORK/jk"
	[[ -e $WORK/jk/stage-1.sh && -e $WORK/jk/always-1.sh ]] ||
		fail "the Jenkinsfile needs an sh step in a stage and one in post { always }"
	JK_TAG=jenkins-$(new_job_id jk)
	echo "$JK_TAG" >>"$WORK/jobids"
	JK_COOKIE=durable-$(head -c 16 /dev/urandom | md5sum | cut -c 1-32)
	JK_ENV=("${RUNNER_ENV[@]}" "BUILD_TAG=$JK_TAG" "JENKINS_NODE_COOKIE=$(cat /proc/sys/kernel/random/uuid)"
		"WORKSPACE=$WORK/proj" BUILD_NUMBER=7 "JOB_NAME=ciwt-$CIWT_RUN")
	mapfile -t -O ${#JK_ENV[@]} JK_ENV <"$WORK/jk/env"
}

# An sh step as the durable-task plugin runs it: the script in a control
# directory, `sh -xe script.sh` through setsid with the build's cookie, from
# the workspace, output to a log.
jenkins_sh() { # SCRIPT LOG
	local ctl=$WORK/proj@tmp/durable-$RANDOM
	mkdir -p "$ctl"
	cp "$1" "$ctl/script.sh"
	(cd "$WORK/proj" && echo "$BASHPID" >"$WORK/shell.pid" &&
		exec setsid -w "${JK_ENV[@]}" "JENKINS_SERVER_COOKIE=$JK_COOKIE" sh -xe "$ctl/script.sh") >>"$2" 2>&1
}

# Processes carrying the build's cookie, as the ProcessTreeKiller finds them.
cookie_pids() {
	local f pid
	for f in /proc/[0-9]*/environ; do
		pid=${f#/proc/}
		pid=${pid%/environ}
		grep -qzx "JENKINS_SERVER_COOKIE=$JK_COOKIE" "$f" 2>/dev/null && echo "$pid"
	done
	return 0
}

jenkins_post_always() {
	local rc
	jenkins_sh "$WORK/jk/always-1.sh" "$WORK/post.log"
	rc=$?
	log "post always: $(tr '\n' '|' <"$WORK/post.log" | cut -c 1-400)"
	assert_eq "exit status of the post { always } step (log: $(tail -n 3 "$WORK/post.log" | tr '\n' '|'))" 0 "$rc"
}

# The stage's step: the job fails, the step fails with its status; the
# post { always } reap finds nothing of it and passes.
t_jenkins_step() {
	local rc
	jenkins_setup 3
	jenkins_sh "$WORK/jk/stage-1.sh" "$WORK/step.log"
	rc=$?
	log "sh step: $(tr '\n' '|' <"$WORK/step.log" | cut -c 1-600)"
	assert_eq "exit status of the sh step (log: $(tail -n 3 "$WORK/step.log" | tr '\n' '|'))" 3 "$rc"
	job_ran_in_session "$(memory_in "$WORK/jk/stage-1.sh")"
	grep -q "^+ ci-wrap " "$WORK/step.log" || fail "no -x trace of the step in its log"
	grep -q "session $(cat "$ST/session"): removed 2 containers, 1 network" "$WORK/step.log" ||
		fail "no summary line from ci-wrap: $(grep ci-wrap: "$WORK/step.log" | tr '\n' '|')"
	assert_nothing_left 0 "the sh step returned"
	jenkins_post_always
}

# Abort: the ProcessTreeKiller sends SIGTERM to every process with the
# build's cookie, SIGKILL 5 s later to those left; teardown goes on.
t_jenkins_abort() {
	local pid p rc
	jenkins_setup block
	jenkins_sh "$WORK/jk/stage-1.sh" "$WORK/step.log" &
	pid=$!
	wait_until 10 test -s "$WORK/shell.pid" || fail "the runner's shell did not start"
	cat "$WORK/shell.pid" >>"$WORK/pgids"
	wait_until 30 test -e "$ST/ready" || fail "the step did not start: $(tail -n 5 "$WORK/step.log" | tr '\n' '|')"
	job_ran_in_session "$(memory_in "$WORK/jk/stage-1.sh")"
	for p in $(cookie_pids); do kill -TERM "$p" 2>/dev/null; done
	sleep 5
	for p in $(cookie_pids); do kill -KILL "$p" 2>/dev/null; done
	wait "$pid"
	rc=$?
	((rc != 0)) || fail "the aborted sh step exited 0"
	assert_nothing_left 10 "the build was aborted"
	jenkins_post_always
}

# A crashed agent: every process of the build and the session process die at
# once (SIGSTOP, then SIGKILL); the containers and the pool stay. The post
# { always } step's reap removes them.
t_jenkins_crash_reap() {
	local pid owner opid pids
	jenkins_setup block
	jenkins_sh "$WORK/jk/stage-1.sh" "$WORK/step.log" &
	pid=$!
	wait_until 10 test -s "$WORK/shell.pid" || fail "the runner's shell did not start"
	cat "$WORK/shell.pid" >>"$WORK/pgids"
	wait_until 30 test -e "$ST/ready" || fail "the step did not start: $(tail -n 5 "$WORK/step.log" | tr '\n' '|')"
	job_ran_in_session "$(memory_in "$WORK/jk/stage-1.sh")"
	read -r _ owner <"$ST/labels"
	IFS=/ read -r _ _ opid _ <<<"$owner"
	[[ $opid =~ ^[0-9]+$ ]] || fail "no owner pid in the container's ci-wrap.owner label '$owner'"
	pids="$opid $(cookie_pids | tr '\n' ' ')"
	# shellcheck disable=SC2086
	kill -STOP $pids 2>/dev/null
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	wait "$pid"
	wait_until 5 eval "! kill -0 $opid 2>/dev/null" || fail "the session process survived SIGKILL"
	[[ -n $(d ps -q --filter "label=ci-wrap.session=$(cat "$ST/session")") ]] ||
		fail "nothing of the session was left after the crash: the case proves nothing"
	jenkins_post_always
	assert_nothing_left 0 "the post { always } reap returned"
}

# --- GitHub Actions ---------------------------------------------------------

# The job's steps in order as the runner runs them: a run: step's text in a
# file under RUNNER_TEMP, through the step's shell (none given: bash -e {0};
# bash: bash --noprofile --norc -eo pipefail {0}), from the workspace; after a
# failure only steps with if: always() (or failure()) run. Status per step
# in $WORK/gh-status.
t_github_step() {
	local i kind cond shell wd path failed=0 rc cmd run_id e report
	setup_runner
	make_project 3
	mkdir -p "$WORK/gh" "$WORK/runner-temp"
	extract github "$EX/github/workflow.yml" "$WORK/gh"
	run_id=$(new_job_id gh)
	while IFS=$'\x1f' read -r i kind cond shell wd path; do
		case $cond in
		'' | 'success()') ((failed)) && continue ;;
		'always()') ;;
		'failure()') ((failed)) || continue ;;
		*) fail "step $i: if: $cond is not understood here" ;;
		esac
		if [[ $kind != run ]]; then
			# actions/upload-artifact: what it would upload must be there.
			if [[ $kind == actions/upload-artifact* ]]; then
				[[ -n $path && -f $WORK/proj/$path ]] || fail "step $i uploads '$path', which the job did not write"
				echo "$path" >"$WORK/gh-upload"
			fi
			continue
		fi
		cp "$WORK/gh/step-$i.sh" "$WORK/runner-temp/step-$i.sh"
		case $shell in
		'') cmd=(bash -e "$WORK/runner-temp/step-$i.sh") ;;
		bash) cmd=(bash --noprofile --norc -eo pipefail "$WORK/runner-temp/step-$i.sh") ;;
		sh) cmd=(sh -e "$WORK/runner-temp/step-$i.sh") ;;
		*) fail "step $i: shell $shell is not understood here" ;;
		esac
		mapfile -t e <"$WORK/gh/env-$i"
		(cd "$WORK/proj/$wd" && exec "${RUNNER_ENV[@]}" "CI_WRAP_GRACE=$RUNNER_GRACE" CI=true GITHUB_ACTIONS=true \
			"GITHUB_RUN_ID=$run_id" "GITHUB_WORKSPACE=$WORK/proj" "RUNNER_TEMP=$WORK/runner-temp" \
			"${e[@]}" "${cmd[@]}") >>"$WORK/step-$i.log" 2>&1
		rc=$?
		log "step $i ($rc): $(tr '\n' '|' <"$WORK/step-$i.log" | cut -c 1-400)"
		echo "$i $rc" >>"$WORK/gh-status"
		((rc == 0)) || failed=1
		[[ -e $ST/labels ]] && ! grep -q . "$WORK/gh-run-step" 2>/dev/null && echo "$i" >"$WORK/gh-run-step"
	done <"$WORK/gh/manifest"
	[[ -s $WORK/gh-run-step ]] || fail "no run: step of the workflow ran the job's command"
	i=$(cat "$WORK/gh-run-step")
	# make exits 2 when a recipe fails.
	assert_eq "exit status of step $i (log: $(tail -n 3 "$WORK/step-$i.log" | tr '\n' '|'))" "$i 2" "$(grep "^$i " "$WORK/gh-status")"
	job_ran_in_session "$(memory_in "$WORK/gh/step-$i.sh")"
	grep -q "session $(cat "$ST/session"): removed 2 containers, 1 network" "$WORK/step-$i.log" ||
		fail "no summary line from ci-wrap: $(grep ci-wrap: "$WORK/step-$i.log" | tr '\n' '|')"
	assert_nothing_left 0 "the step returned"
	[[ -s $WORK/gh-upload ]] || fail "the report upload step did not run after the failed step"
	report=$WORK/proj/$(cat "$WORK/gh-upload")
	assert_eq "session in the report" "$(cat "$ST/session")" "$(jq -r .session "$report")"
	assert_eq "exit_code in the report" 2 "$(jq -r .exit_code "$report")"
}

# --- plain shell ------------------------------------------------------------

# examples/shell/ci-step.sh as documented, ci-wrap from the PATH: it re-runs
# itself under ci-wrap, its service answers, it exits 0, nothing is left.
t_shell_step() {
	local rc s
	setup_runner
	new_job_id sh >/dev/null
	(cd "$WORK" && exec "${RUNNER_ENV[@]}" "CI_WRAP_JOB_ID=$(tail -n 1 "$WORK/jobids")" \
		"$EX/shell/ci-step.sh") >"$WORK/out" 2>"$WORK/err"
	rc=$?
	log "ci-step.sh ($rc): $(tr '\n' '|' <"$WORK/out") $(tr '\n' '|' <"$WORK/err" | cut -c 1-400)"
	assert_eq "exit status of ci-step.sh (stderr: $(tail -n 3 "$WORK/err" | tr '\n' '|'))" 0 "$rc"
	grep -q '^hello from the service$' "$WORK/out" || fail "the service's page is not in the output"
	s=$(sed -n 's/^ci-step: session \([^,]*\),.*/\1/p' "$WORK/out")
	[[ -n $s ]] || fail "ci-step.sh did not run inside a session: $(head -c 300 "$WORK/out")"
	echo "$s" >"$ST/session"
	echo "$s" >>"$WORK/sessions"
	echo "network ci-step-$s" >>"$WORK/names"
	# The server; the test's container ran with --rm.
	grep -q "session $s: removed 1 container, 1 network" "$WORK/err" ||
		fail "no summary line from ci-wrap: $(tr '\n' '|' <"$WORK/err")"
	# Owner and socket directory are not known from outside; the rest is.
	: >"$ST/docker_host"
	: >"$ST/labels"
	assert_nothing_left 0 "ci-step.sh returned"
}

tcase gitlab-job-fails 45 t_gitlab_job_fails
tcase gitlab-job-passes 45 t_gitlab_job_passes
tcase gitlab-after-script 45 t_gitlab_after_script
tcase gitlab-cancel 45 t_gitlab_cancel
tcase gitlab-wrapped 45 t_gitlab_wrapped
tcase jenkins-step 45 t_jenkins_step
tcase jenkins-abort 50 t_jenkins_abort
tcase jenkins-crash-reap 50 t_jenkins_crash_reap
tcase github-step 45 t_github_step
tcase shell-step 45 t_shell_step
