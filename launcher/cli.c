/* cli.c - the option table and its parser: the command line, CI_WRAP_*
 * variables and the configuration file all go through apply(). */
#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/error.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../proxy/policy.h"
#include "../proxy/route.h"
#include "config.h"

#include "version.h" /* CI_WRAP_VERSION, CI_WRAP_COMMIT: made by the Makefile */

#define EXIT_USAGE 125

enum {
	OPT_DOCKER_HOST = CHAR_MAX + 1,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_PIDS,
	OPT_LABEL,
	OPT_JOB_ID,
	OPT_KEEP_IMAGES,
	OPT_GRACE,
	OPT_REPORT,
	OPT_AUDIT_LOG,
	OPT_NO_CGROUP,
	OPT_METRICS_DIR,
	OPT_ALLOW,
	OPT_ALLOW_BUILDKIT,
	OPT_ISOLATION,
	OPT_DENY,
	OPT_ALLOW_BIND,
	OPT_SESSION,
	OPT_DRY_RUN,
	OPT_OLDER_THAN,
	OPT_JSON,
	OPT_HELP,
	OPT_VERSION,
	OPT_MAN,
	OPT_ROUTES,
};

struct cli_option {
	const char *name;     /* long option */
	int val;	      /* getopt value: a short letter or OPT_* */
	const char *arg;      /* argument name, NULL for a flag */
	const char *env;      /* CI_WRAP_* variable, NULL if none */
	const char *help;     /* one line for --help and the man page */
	unsigned modes;	      /* bit per enum cw_mode it applies to */
};

#define RUN_MODES ((1u << MODE_RUN) | (1u << MODE_START))
#define ALL_MODES 0x1fu

static const struct cli_option options[] = {
	{ "docker-host", OPT_DOCKER_HOST, "URL", "CI_WRAP_DOCKER_HOST",
	  "the real daemon, unix:///path (default: $DOCKER_HOST if unix://, else "
	  "unix:///var/run/docker.sock)", ALL_MODES },
	{ "memory", OPT_MEMORY, "SIZE", "CI_WRAP_MEMORY",
	  "memory limit of the pool: 512m, 4g (default: none)", RUN_MODES },
	{ "cpus", OPT_CPUS, "N", "CI_WRAP_CPUS", "CPU limit of the pool, fractional: 1.5",
	  RUN_MODES },
	{ "pids", OPT_PIDS, "N", "CI_WRAP_PIDS", "pids limit of the pool", RUN_MODES },
	{ "label", OPT_LABEL, "K=V", "CI_WRAP_LABEL",
	  "extra label on every resource; repeatable (env: comma-separated)", RUN_MODES },
	{ "job-id", OPT_JOB_ID, "ID", "CI_WRAP_JOB_ID",
	  "value of label ci-wrap.job (default: $BUILD_TAG, $CI_JOB_ID, $GITHUB_RUN_ID, "
	  "else local)", ALL_MODES },
	{ "keep-images", OPT_KEEP_IMAGES, NULL, "CI_WRAP_KEEP_IMAGES",
	  "do not remove images the session built", RUN_MODES },
	{ "grace", OPT_GRACE, "DUR", "CI_WRAP_GRACE",
	  "SIGTERM to SIGKILL at teardown: 10s, 500ms (default: 10s)", ALL_MODES },
	{ "report", OPT_REPORT, "FILE", "CI_WRAP_REPORT", "write the JSON session report there",
	  RUN_MODES },
	{ "audit-log", OPT_AUDIT_LOG, "FILE", "CI_WRAP_AUDIT_LOG",
	  "append one JSON line per Docker API request", RUN_MODES },
	{ "no-cgroup", OPT_NO_CGROUP, NULL, "CI_WRAP_NO_CGROUP",
	  "run without a pool (unprivileged hosts)", RUN_MODES },
	{ "metrics-dir", OPT_METRICS_DIR, "DIR", "CI_WRAP_METRICS_DIR",
	  "update DIR/ci-wrap.prom (node_exporter textfile) at each session end and reap",
	  RUN_MODES | (1u << MODE_REAP) },
	{ "allow", OPT_ALLOW, "GROUPS", "CI_WRAP_ALLOW",
	  "relay routes refused by default: buildkit, plugins, swarm, prune, checkpoints, "
	  "unknown; comma-separated, repeatable", RUN_MODES },
	{ "allow-buildkit", OPT_ALLOW_BUILDKIT, NULL, "CI_WRAP_ALLOW_BUILDKIT",
	  "relay BuildKit builds (--allow buildkit): their RUN steps run outside the pool",
	  RUN_MODES },
	{ "isolation", OPT_ISOLATION, "on|off", "CI_WRAP_ISOLATION",
	  "ownership checks: another session's objects are invisible (404), objects made "
	  "outside ci-wrap cannot be removed or changed (403); off for jobs that must manage "
	  "the whole daemon (default: on)", RUN_MODES },
	{ "deny", OPT_DENY, "RULES", "CI_WRAP_DENY",
	  "refuse containers asking for privileged, host-network, host-pid, host-ipc, devices, "
	  "cap-add, host-userns; comma-separated, repeatable (default: none)", RUN_MODES },
	{ "allow-bind", OPT_ALLOW_BIND, "DIR", "CI_WRAP_ALLOW_BIND",
	  "refuse bind mounts of host paths outside DIR, symlinks resolved; repeatable "
	  "(env: comma-separated; default: any path)", RUN_MODES },
	{ "session", OPT_SESSION, "ID", NULL, "stop: the session to stop", 1u << MODE_STOP },
	{ "dry-run", OPT_DRY_RUN, NULL, NULL, "reap: print what would be removed",
	  1u << MODE_REAP },
	{ "older-than", OPT_OLDER_THAN, "DUR", NULL,
	  "reap: also sessions older than DUR, even if their owner lives", 1u << MODE_REAP },
	{ "json", OPT_JSON, NULL, NULL, "ls: JSON lines even on a terminal", 1u << MODE_LS },
	{ "quiet", 'q', NULL, NULL, "errors only on stderr", ALL_MODES },
	{ "verbose", 'v', NULL, NULL, "more detail on stderr (twice: each refused request)",
	  ALL_MODES },
	{ "help", OPT_HELP, NULL, NULL, "show this help and exit", ALL_MODES },
	{ "version", OPT_VERSION, NULL, NULL, "show the version and exit", ALL_MODES },
};

static const char *mode_names[] = { "", "start", "stop", "reap", "ls" };

/* An option from the command line. They are applied after the file and the
 * environment, so that they win. */
struct cli_arg {
	int val;	 /* OPT_* or a short letter */
	const char *arg; /* its argument (in argv), NULL for a flag */
};

__attribute__((noreturn)) static void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void usage_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, "ci-wrap: %s\nTry 'ci-wrap --help' for more information.\n", msg);
	_exit(EXIT_USAGE);
}

static void print_help(void)
{
	printf("Usage: ci-wrap [OPTIONS] -- COMMAND [ARG...]\n"
	       "       ci-wrap start [OPTIONS]     (prints exports for eval)\n"
	       "       ci-wrap stop [--session ID]\n"
	       "       ci-wrap reap [--dry-run] [--older-than DUR]\n"
	       "       ci-wrap ls [--json]\n\n"
	       "Run COMMAND in a cgroup pool behind a private Docker API proxy that labels\n"
	       "everything it creates; remove all of it when COMMAND ends.\n\nOptions:\n");
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct cli_option *o = &options[i];
		char left[64];

		if (o->val < CHAR_MAX)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->val, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		printf("  %-24s %s\n", left, o->help);
	}
	printf("\nOptions from --docker-host to --allow-bind can also be set as CI_WRAP_<NAME>\n"
	       "in the environment (CI_WRAP_MEMORY=4g) and as NAME = VALUE in " CONFIG_DEFAULT_PATH
	       "\n(or $" CONFIG_PATH_ENV "); the command line wins, then the environment.\n"
	       "Exit status: COMMAND's; 128+N if it died of signal N; 125 if ci-wrap failed;\n"
	       "126 COMMAND not executable; 127 COMMAND not found.\n");
}

/* s as roff text: backslashes as \e, a leading . or ' (a request) escaped;
 * with hyphens, - as \- (option names, so that they copy and search). */
static void print_roff(const char *s, bool hyphens)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", stdout);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-' && hyphens)
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

/* The same entries docs/gen-options.sh makes from --help, from the table. */
void cli_print_man_options(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct cli_option *o = &options[i];

		printf(".TP\n");
		if (o->val < CHAR_MAX)
			printf("\\fB\\-%c\\fR, ", o->val);
		fputs("\\fB\\-\\-", stdout);
		print_roff(o->name, true);
		fputs("\\fR", stdout);
		if (o->arg) {
			fputs(" \\fI", stdout);
			print_roff(o->arg, true);
			fputs("\\fR", stdout);
		}
		putchar('\n');
		print_roff(o->help, false);
		putchar('\n');
	}
}

static int add_label(struct cw_config *cfg, const char *kv, const char *from,
		     struct cw_error *err)
{
	const char *eq = strchr(kv, '=');

	if (eq == NULL || eq == kv)
		return cw_error_set(err, 0, "invalid %s '%s': expected KEY=VALUE", from, kv);
	if (strncmp(kv, "ci-wrap.session=", 16) == 0 || strncmp(kv, "ci-wrap.job=", 12) == 0 ||
	    strncmp(kv, "ci-wrap.owner=", 14) == 0)
		return cw_error_set(err, 0, "invalid %s '%s': ci-wrap sets that label itself", from,
				    kv);
	cfg->labels = xrealloc(cfg->labels, (cfg->nlabels + 1) * sizeof(char *));
	cfg->labels[cfg->nlabels++] = xstrdup(kv);
	return 0;
}

/* --allow GROUPS: names of the proxy's refused route groups (proxy/route.h). */
static int add_allow(struct cw_config *cfg, const char *list, const char *from,
		     struct cw_error *err)
{
	char bad[64];

	if (route_allow_parse(list, &cfg->allow, bad, sizeof(bad)) < 0)
		return cw_error_set(err, 0, "invalid %s '%s': unknown group '%s' (expected %s)",
				    from, list, bad, route_allow_names());
	return 0;
}

/* --deny RULES: names of enum policy_rule (proxy/policy.h). */
static int add_deny(struct cw_config *cfg, const char *list, const char *from,
		    struct cw_error *err)
{
	char bad[64];

	if (policy_deny_parse(list, &cfg->deny, bad, sizeof(bad)) < 0)
		return cw_error_set(err, 0, "invalid %s '%s': unknown rule '%s' (expected %s)", from,
				    list, bad, policy_deny_names());
	return 0;
}

/* --allow-bind DIR, resolved now as the proxy will compare sources with it. */
static int add_allow_bind(struct cw_config *cfg, const char *dir, const char *from,
			  struct cw_error *err)
{
	struct cw_error why = { 0 };
	char real[PATH_MAX];

	if (policy_bind_dir(dir, real, sizeof(real), &why) < 0)
		return cw_error_set(err, 0, "invalid %s '%s': %s", from, dir, why.msg);
	cfg->allow_binds = xrealloc(cfg->allow_binds, (cfg->nallow_binds + 1) * sizeof(char *));
	cfg->allow_binds[cfg->nallow_binds++] = xstrdup(real);
	return 0;
}

static int set_socket(struct cw_config *cfg, const char *url, const char *from,
		      struct cw_error *err)
{
	if (strncmp(url, "unix://", 7) != 0 || url[7] != '/')
		return cw_error_set(err, 0, "invalid %s '%s': expected unix:///path/to/docker.sock",
				    from, url);
	free(cfg->docker_socket);
	cfg->docker_socket = xstrdup(url + 7);
	return 0;
}

/* A flag: on when given on the command line (arg NULL); from the environment
 * or the file, a boolean word, so that a typo is refused rather than off. */
static int set_flag(bool *flag, const char *arg, const char *from, struct cw_error *err)
{
	static const char *const on[] = { "1", "true", "yes", "on" };
	static const char *const off[] = { "0", "false", "no", "off" };

	if (arg == NULL) {
		*flag = true;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(on); i++) {
		if (strcasecmp(arg, on[i]) == 0 || strcasecmp(arg, off[i]) == 0) {
			*flag = strcasecmp(arg, on[i]) == 0;
			return 0;
		}
	}
	return cw_error_set(err, 0, "invalid %s '%s': expected true or false", from, arg);
}

/* --isolation on|off; the file and the environment may also say it with
 * any boolean word a flag takes. */
static int set_isolation(struct cw_config *cfg, const char *arg, const char *from,
			 struct cw_error *err)
{
	bool on = true;

	if (set_flag(&on, arg, from, err) < 0)
		return cw_error_set(err, 0, "invalid %s '%s': expected on or off", from, arg);
	cfg->isolation_off = !on;
	return 0;
}

static void set_string(char **dst, const char *arg)
{
	free(*dst);
	*dst = xstrdup(arg);
}

/* The options whose value is a number, a size or a duration. */
static int apply_number(struct cw_config *cfg, int val, const char *arg, const char *from,
			struct cw_error *err)
{
	char *end;

	switch (val) {
	case OPT_MEMORY:
		if (parse_size(arg, &cfg->memory) < 0 || cfg->memory < 6 * 1024 * 1024)
			return cw_error_set(err, 0, "invalid %s '%s': expected a size of at least 6m, "
					    "like 512m or 4g", from, arg);
		return 0;
	case OPT_CPUS:
		cfg->cpus = strtod(arg, &end);
		if (*arg == '\0' || *end != '\0' || !(cfg->cpus >= 0.01 && cfg->cpus <= 4096))
			return cw_error_set(err, 0, "invalid %s '%s': expected a number of CPUs like "
					    "1.5", from, arg);
		return 0;
	case OPT_PIDS:
		cfg->pids = strtoll(arg, &end, 10);
		if (*arg == '\0' || *end != '\0' || cfg->pids < 1)
			return cw_error_set(err, 0, "invalid %s '%s': expected a positive number",
					    from, arg);
		return 0;
	case OPT_GRACE:
		if (parse_duration(arg, &cfg->grace_ms) < 0)
			return cw_error_set(err, 0, "invalid %s '%s': expected a duration like 10s "
					    "or 500ms", from, arg);
		return 0;
	default: /* OPT_OLDER_THAN */
		if (parse_duration(arg, &cfg->older_than_ms) < 0 || cfg->older_than_ms == 0)
			return cw_error_set(err, 0, "invalid %s '%s': expected a duration like 2h",
					    from, arg);
		return 0;
	}
}

/* Apply one option value; from is "--memory", "CI_WRAP_MEMORY" or the file's
 * "memory", for the message. */
static int apply(struct cw_config *cfg, int val, const char *arg, const char *from,
		 struct cw_error *err)
{
	struct stat st;

	switch (val) {
	case OPT_DOCKER_HOST:
		return set_socket(cfg, arg, from, err);
	case OPT_LABEL:
		return add_label(cfg, arg, from, err);
	case OPT_JOB_ID:
		if (*arg == '\0')
			return cw_error_set(err, 0, "invalid %s: empty job id", from);
		set_string(&cfg->job_id, arg);
		return 0;
	case OPT_KEEP_IMAGES:
		return set_flag(&cfg->keep_images, arg, from, err);
	case OPT_NO_CGROUP:
		return set_flag(&cfg->no_cgroup, arg, from, err);
	case OPT_ALLOW:
		return add_allow(cfg, arg, from, err);
	case OPT_ISOLATION:
		return set_isolation(cfg, arg, from, err);
	case OPT_DENY:
		return add_deny(cfg, arg, from, err);
	case OPT_ALLOW_BIND:
		return add_allow_bind(cfg, arg, from, err);
	case OPT_ALLOW_BUILDKIT: {
		bool on = false;
		int rc = set_flag(&on, arg, from, err);

		if (on)
			cfg->allow |= ROUTE_GROUP_BUILDKIT;
		return rc;
	}
	case OPT_REPORT:
		set_string(&cfg->report_path, arg);
		return 0;
	case OPT_AUDIT_LOG:
		set_string(&cfg->audit_path, arg);
		return 0;
	case OPT_METRICS_DIR:
		if (*arg != '/' || stat(arg, &st) < 0 || !S_ISDIR(st.st_mode))
			return cw_error_set(err, 0, "invalid %s '%s': expected an existing directory "
					    "(absolute path)", from, arg);
		set_string(&cfg->metrics_dir, arg);
		return 0;
	case OPT_JSON:
		cfg->json = true;
		return 0;
	case OPT_SESSION:
		set_string(&cfg->session, arg);
		return 0;
	case OPT_DRY_RUN:
		cfg->dry_run = true;
		return 0;
	case 'q':
		cfg->verbosity = CW_LOG_QUIET;
		return 0;
	case 'v':
		cfg->verbosity = cfg->verbosity < CW_LOG_NORMAL ? CW_LOG_VERBOSE
								: cfg->verbosity + 1;
		return 0;
	default:
		return apply_number(cfg, val, arg, from, err);
	}
}

/* The built-in defaults, some of them from the CI system's environment. */
static void set_defaults(struct cw_config *cfg)
{
	const char *host = getenv("DOCKER_HOST");
	const char *job = getenv("BUILD_TAG");

	cfg->verbosity = CW_LOG_NORMAL;
	cfg->grace_ms = 10000;
	cfg->docker_socket = xstrdup(host && strncmp(host, "unix:///", 8) == 0
					     ? host + 7 : "/var/run/docker.sock");
	if (job == NULL || *job == '\0')
		job = getenv("CI_JOB_ID");
	if (job == NULL || *job == '\0')
		job = getenv("GITHUB_RUN_ID");
	cfg->job_id = xstrdup(job && *job ? job : "local");
}

static const struct cli_option *find_option(int val)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		if (options[i].val == val)
			return &options[i];
	return NULL;
}

static const struct cli_option *find_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

/* One `name = value` of the configuration file. A value for an option that
 * does not apply to this command is checked all the same, then dropped: a
 * broken file should fail every command, not only some. */
static int file_setting(const char *key, const char *value, void *ctx, struct cw_error *err)
{
	struct cw_config *cfg = ctx, scratch = { .mode = cfg->mode };
	const struct cli_option *o = find_name(key);
	int r;

	if (o == NULL)
		return cw_error_set(err, 0, "unknown option '%s'", key);
	if (o->env == NULL)
		return cw_error_set(err, 0, "option '%s' can only be given on the command line", key);
	if (*value == '\0')
		return cw_error_set(err, 0, "no value for '%s'", key);
	if (o->modes & (1u << cfg->mode))
		return apply(cfg, o->val, value, key, err);
	r = apply(&scratch, o->val, value, key, err);
	cli_free(&scratch);
	return r;
}

static void apply_file(struct cw_config *cfg)
{
	struct cw_error err = { 0 };
	bool required;
	const char *path = config_path(&required);

	if (config_read(path, required, file_setting, cfg, &err) < 0)
		cw_die(EXIT_USAGE, 0, "%s", err.msg);
}

/* CI_WRAP_LABEL and CI_WRAP_ALLOW_BIND hold several values: a=1,b=2. */
static int apply_env_list(struct cw_config *cfg, const struct cli_option *o, const char *v,
			  struct cw_error *err)
{
	_cleanup_free_ char *list = xstrdup(v);
	char *save = NULL;

	for (char *l = strtok_r(list, ",", &save); l; l = strtok_r(NULL, ",", &save))
		if (apply(cfg, o->val, l, o->env, err) < 0)
			return -1;
	return 0;
}

/* The CI_WRAP_* variables of the options that apply to this command; an
 * empty one counts as unset. */
static void apply_env(struct cw_config *cfg)
{
	struct cw_error err = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct cli_option *o = &options[i];
		const char *v = o->env ? getenv(o->env) : NULL;
		int r;

		if (v == NULL || *v == '\0' || !(o->modes & (1u << cfg->mode)))
			continue;
		if (o->val == OPT_LABEL || o->val == OPT_ALLOW_BIND)
			r = apply_env_list(cfg, o, v, &err);
		else
			r = apply(cfg, o->val, v, o->env, &err);
		if (r < 0)
			usage_error("%s", err.msg);
	}
}

static void apply_args(struct cw_config *cfg, const struct cli_arg *args, size_t n)
{
	struct cw_error err = { 0 };

	for (size_t i = 0; i < n; i++) {
		char from[64];

		snprintf(from, sizeof(from), "--%s", find_option(args[i].val)->name);
		if (apply(cfg, args[i].val, args[i].arg, from, &err) < 0)
			usage_error("%s", err.msg);
	}
}

static void build_longopts(struct option *lo, char *shortopts)
{
	size_t n = 0, s = 0;

	shortopts[s++] = '+'; /* stop at the command */
	for (size_t i = 0; i < ARRAY_SIZE(options); i++, n++) {
		lo[n] = (struct option){ options[i].name,
					 options[i].arg ? required_argument : no_argument, NULL,
					 options[i].val };
		if (options[i].val < CHAR_MAX)
			shortopts[s++] = (char)options[i].val;
	}
	/* Not in --help: for docs/gen-options.sh. */
	lo[n++] = (struct option){ "man-options", no_argument, NULL, OPT_MAN };
	/* Not in --help: for docs/write-surface.md (make docs). */
	lo[n++] = (struct option){ "write-surface", no_argument, NULL, OPT_ROUTES };
	lo[n] = (struct option){ 0 };
	shortopts[s] = '\0';
}

static enum cw_mode mode_of(int argc, char **argv)
{
	if (argc > 1) {
		for (int m = MODE_START; m <= MODE_LS; m++)
			if (strcmp(argv[1], mode_names[m]) == 0)
				return (enum cw_mode)m;
	}
	return MODE_RUN;
}

/* Exit for --help, --version and --man-options, before any file or variable
 * can get in the way. */
static void answer_now(int c)
{
	if (c == OPT_HELP)
		print_help();
	else if (c == OPT_VERSION)
		printf("ci-wrap %s (commit %s)\n", CI_WRAP_VERSION, CI_WRAP_COMMIT);
	else if (c == OPT_MAN)
		cli_print_man_options();
	else if (c == OPT_ROUTES)
		route_print_table(stdout);
	else
		return;
	exit(0);
}

/* The options of argv, checked for name and command but not yet applied. */
static size_t scan_argv(int argc, char **argv, enum cw_mode mode, struct cli_arg *out)
{
	struct option longopts[ARRAY_SIZE(options) + 3];
	char shortopts[ARRAY_SIZE(options) + 2];
	size_t n = 0;
	int c;

	build_longopts(longopts, shortopts);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct cli_option *o = find_option(c);

		answer_now(c);
		if (c == '?' && optopt != 0 && find_option(optopt) && find_option(optopt)->arg)
			usage_error("option '--%s' requires an argument", find_option(optopt)->name);
		if (c == '?' || o == NULL)
			usage_error("unrecognized option '%s'", argv[optind - 1]);
		if (!(o->modes & (1u << mode)))
			usage_error("option '--%s' does not apply to %s", o->name,
				    mode == MODE_RUN ? "running a command" : mode_names[mode]);
		out[n++] = (struct cli_arg){ c, optarg };
	}
	return n;
}

/* Built-in defaults, then the file, the environment and the command line,
 * each overriding the one before (labels add up). */
void cli_parse(int argc, char **argv, struct cw_config *cfg)
{
	_cleanup_free_ struct cli_arg *args = xcalloc((size_t)argc + 1, sizeof(*args));
	size_t nargs;
	int shift;

	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = mode_of(argc, argv);
	shift = cfg->mode == MODE_RUN ? 0 : 1;
	nargs = scan_argv(argc - shift, argv + shift, cfg->mode, args);
	argv += shift + optind;
	argc -= shift + optind;
	if (cfg->mode == MODE_RUN && argc == 0)
		usage_error("no command given: ci-wrap [OPTIONS] -- COMMAND [ARG...]");
	if (cfg->mode != MODE_RUN && argc > 0)
		usage_error("unexpected argument '%s'", argv[0]);
	if (cfg->mode == MODE_RUN)
		cfg->command = argv;
	set_defaults(cfg);
	apply_file(cfg);
	apply_env(cfg);
	apply_args(cfg, args, nargs);
}

void cli_free(struct cw_config *cfg)
{
	for (size_t i = 0; i < cfg->nlabels; i++)
		free(cfg->labels[i]);
	free(cfg->labels);
	for (size_t i = 0; i < cfg->nallow_binds; i++)
		free(cfg->allow_binds[i]);
	free(cfg->allow_binds);
	free(cfg->docker_socket);
	free(cfg->job_id);
	free(cfg->report_path);
	free(cfg->audit_path);
	free(cfg->session);
	free(cfg->metrics_dir);
	memset(cfg, 0, sizeof(*cfg));
}
