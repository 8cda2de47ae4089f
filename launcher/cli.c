/* cli.c - the option table and its parser. */
#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/error.h"
#include "../common/log.h"
#include "../common/util.h"

#ifndef CI_WRAP_VERSION
#define CI_WRAP_VERSION "0.1.0"
#endif

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
	OPT_SESSION,
	OPT_DRY_RUN,
	OPT_OLDER_THAN,
	OPT_HELP,
	OPT_VERSION,
	OPT_MAN,
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
#define ALL_MODES 0xfu

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
	{ "session", OPT_SESSION, "ID", NULL, "stop: the session to stop", 1u << MODE_STOP },
	{ "dry-run", OPT_DRY_RUN, NULL, NULL, "reap: print what would be removed",
	  1u << MODE_REAP },
	{ "older-than", OPT_OLDER_THAN, "DUR", NULL,
	  "reap: also sessions older than DUR, even if their owner lives", 1u << MODE_REAP },
	{ "quiet", 'q', NULL, NULL, "errors only on stderr", ALL_MODES },
	{ "verbose", 'v', NULL, NULL, "more detail on stderr (twice: each refused request)",
	  ALL_MODES },
	{ "help", OPT_HELP, NULL, NULL, "show this help and exit", ALL_MODES },
	{ "version", OPT_VERSION, NULL, NULL, "show the version and exit", ALL_MODES },
};

static const char *mode_names[] = { "", "start", "stop", "reap" };

__attribute__((noreturn)) static void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void usage_error(const char *fmt, ...)
{
	char msg[512];
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
	       "       ci-wrap reap [--dry-run] [--older-than DUR]\n\n"
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
	printf("\nOptions from --docker-host to --no-cgroup also read CI_WRAP_<NAME> from the\n"
	       "environment (CI_WRAP_MEMORY=4g); the command line wins.\n"
	       "Exit status: COMMAND's; 128+N if it died of signal N; 125 if ci-wrap failed;\n"
	       "126 COMMAND not executable; 127 COMMAND not found.\n");
}

void cli_print_man_options(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct cli_option *o = &options[i];

		printf(".TP\n");
		if (o->val < CHAR_MAX)
			printf("\\fB\\-%c\\fR, ", o->val);
		printf("\\fB\\-\\-%s\\fR%s%s%s\n", o->name, o->arg ? " \\fI" : "",
		       o->arg ? o->arg : "", o->arg ? "\\fR" : "");
		printf("%s", o->help);
		if (o->env)
			printf(" Environment: \\fB%s\\fR.", o->env);
		printf("\n");
	}
}

static void add_label(struct cw_config *cfg, const char *kv)
{
	const char *eq = strchr(kv, '=');

	if (eq == NULL || eq == kv)
		usage_error("invalid --label '%s': expected KEY=VALUE", kv);
	if (strncmp(kv, "ci-wrap.session=", 16) == 0 || strncmp(kv, "ci-wrap.job=", 12) == 0 ||
	    strncmp(kv, "ci-wrap.owner=", 14) == 0)
		usage_error("invalid --label '%s': ci-wrap sets that label itself", kv);
	cfg->labels = xrealloc(cfg->labels, (cfg->nlabels + 1) * sizeof(char *));
	cfg->labels[cfg->nlabels++] = xstrdup(kv);
}

static char *socket_from_url(const char *url, const char *what)
{
	if (strncmp(url, "unix://", 7) != 0 || url[7] != '/')
		usage_error("invalid %s '%s': expected unix:///path/to/docker.sock", what, url);
	return xstrdup(url + 7);
}

static bool truthy(const char *v)
{
	return strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0;
}

/* Apply one option value; from is "--memory" or "CI_WRAP_MEMORY" for errors. */
static void apply(struct cw_config *cfg, int val, const char *arg, const char *from)
{
	char *end;

	switch (val) {
	case OPT_DOCKER_HOST:
		free(cfg->docker_socket);
		cfg->docker_socket = socket_from_url(arg, from);
		break;
	case OPT_MEMORY:
		if (parse_size(arg, &cfg->memory) < 0 || cfg->memory < 6 * 1024 * 1024)
			usage_error("invalid %s '%s': expected a size of at least 6m, like 512m or 4g",
				    from, arg);
		break;
	case OPT_CPUS:
		cfg->cpus = strtod(arg, &end);
		if (*arg == '\0' || *end != '\0' || !(cfg->cpus >= 0.01 && cfg->cpus <= 4096))
			usage_error("invalid %s '%s': expected a number of CPUs like 1.5", from, arg);
		break;
	case OPT_PIDS:
		cfg->pids = strtoll(arg, &end, 10);
		if (*arg == '\0' || *end != '\0' || cfg->pids < 1)
			usage_error("invalid %s '%s': expected a positive number", from, arg);
		break;
	case OPT_LABEL:
		add_label(cfg, arg);
		break;
	case OPT_JOB_ID:
		if (*arg == '\0')
			usage_error("invalid %s: empty job id", from);
		free(cfg->job_id);
		cfg->job_id = xstrdup(arg);
		break;
	case OPT_KEEP_IMAGES:
		cfg->keep_images = arg == NULL || truthy(arg);
		break;
	case OPT_GRACE:
		if (parse_duration(arg, &cfg->grace_ms) < 0)
			usage_error("invalid %s '%s': expected a duration like 10s or 500ms", from, arg);
		break;
	case OPT_REPORT:
		free(cfg->report_path);
		cfg->report_path = xstrdup(arg);
		break;
	case OPT_AUDIT_LOG:
		free(cfg->audit_path);
		cfg->audit_path = xstrdup(arg);
		break;
	case OPT_NO_CGROUP:
		cfg->no_cgroup = arg == NULL || truthy(arg);
		break;
	case OPT_SESSION:
		cfg->session = xstrdup(arg);
		break;
	case OPT_DRY_RUN:
		cfg->dry_run = true;
		break;
	case OPT_OLDER_THAN:
		if (parse_duration(arg, &cfg->older_than_ms) < 0 || cfg->older_than_ms == 0)
			usage_error("invalid %s '%s': expected a duration like 2h", from, arg);
		break;
	case 'q':
		cfg->verbosity = CW_LOG_QUIET;
		break;
	case 'v':
		cfg->verbosity = cfg->verbosity < CW_LOG_NORMAL ? CW_LOG_VERBOSE
								: cfg->verbosity + 1;
		break;
	}
}

/* Defaults, then CI_WRAP_* variables; the command line comes after. */
static void apply_defaults(struct cw_config *cfg)
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
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const char *v = options[i].env ? getenv(options[i].env) : NULL;

		if (v == NULL || *v == '\0' || !(options[i].modes & (1u << cfg->mode)))
			continue;
		if (options[i].val == OPT_LABEL) {
			_cleanup_free_ char *list = xstrdup(v);
			char *save = NULL;

			for (char *l = strtok_r(list, ",", &save); l; l = strtok_r(NULL, ",", &save))
				add_label(cfg, l);
			continue;
		}
		apply(cfg, options[i].val, v, options[i].env);
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
	lo[n] = (struct option){ 0 };
	shortopts[s] = '\0';
}

static const struct cli_option *find_option(int val)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		if (options[i].val == val)
			return &options[i];
	return NULL;
}

static enum cw_mode mode_of(int argc, char **argv)
{
	if (argc > 1) {
		for (int m = MODE_START; m <= MODE_REAP; m++)
			if (strcmp(argv[1], mode_names[m]) == 0)
				return (enum cw_mode)m;
	}
	return MODE_RUN;
}

void cli_parse(int argc, char **argv, struct cw_config *cfg)
{
	struct option longopts[ARRAY_SIZE(options) + 1];
	char shortopts[ARRAY_SIZE(options) + 2];
	int c, shift;

	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = mode_of(argc, argv);
	shift = cfg->mode == MODE_RUN ? 0 : 1;
	apply_defaults(cfg);
	build_longopts(longopts, shortopts);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc - shift, argv + shift, shortopts, longopts, NULL)) != -1) {
		const struct cli_option *o = find_option(c);
		char from[64];

		if (c == '?' || o == NULL)
			usage_error("unrecognized option '%s'", argv[shift + optind - 1]);
		if (c == OPT_HELP) {
			print_help();
			exit(0);
		}
		if (c == OPT_VERSION) {
			printf("ci-wrap %s\n", CI_WRAP_VERSION);
			exit(0);
		}
		if (!(o->modes & (1u << cfg->mode)))
			usage_error("option '--%s' does not apply to %s", o->name,
				    cfg->mode == MODE_RUN ? "running a command" : mode_names[cfg->mode]);
		snprintf(from, sizeof(from), "--%s", o->name);
		apply(cfg, c, optarg, from);
	}
	argv += shift + optind;
	argc -= shift + optind;
	if (cfg->mode == MODE_RUN) {
		if (argc == 0)
			usage_error("no command given: ci-wrap [OPTIONS] -- COMMAND [ARG...]");
		cfg->command = argv;
	} else if (argc > 0) {
		usage_error("unexpected argument '%s'", argv[0]);
	}
}

void cli_free(struct cw_config *cfg)
{
	for (size_t i = 0; i < cfg->nlabels; i++)
		free(cfg->labels[i]);
	free(cfg->labels);
	free(cfg->docker_socket);
	free(cfg->job_id);
	free(cfg->report_path);
	free(cfg->audit_path);
	free(cfg->session);
	memset(cfg, 0, sizeof(*cfg));
}
