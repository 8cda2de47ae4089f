/* cli.h - ci-wrap's command line: one option table drives parsing, the
 * configuration file (config.h), the CI_WRAP_* environment variables, --help
 * and the man page's option list.
 *
 * cli_parse() fills a struct cw_config or exits 125 with one line on stderr.
 */
#ifndef CI_WRAP_CLI_H
#define CI_WRAP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cw_mode {
	MODE_RUN,   /* ci-wrap [OPTIONS] -- CMD... */
	MODE_START, /* ci-wrap start: hook mode */
	MODE_STOP,  /* ci-wrap stop */
	MODE_REAP,  /* ci-wrap reap */
	MODE_LS,    /* ci-wrap ls */
};

struct cw_config {
	enum cw_mode mode;	   /* which command */
	char *docker_socket;	   /* path of the real daemon's socket */
	int64_t memory;		   /* pool memory limit in bytes, 0 for none */
	double cpus;		   /* pool CPU limit, 0 for none */
	int64_t pids;		   /* pool pids limit, 0 for none */
	char **labels;		   /* extra labels, "K=V" */
	size_t nlabels;		   /* how many */
	char *job_id;		   /* value of ci-wrap.job */
	bool keep_images;	   /* leave built images at teardown */
	int64_t grace_ms;	   /* SIGTERM to SIGKILL at teardown */
	char *report_path;	   /* --report FILE, or NULL */
	char *audit_path;	   /* --audit-log FILE, or NULL */
	bool no_cgroup;		   /* run without a pool */
	unsigned allow;		   /* refused route groups to relay (enum route_group) */
	bool isolation_off;	   /* --isolation off: no ownership checks (proxy/owner.h) */
	unsigned deny;		   /* --deny: enum policy_rule bits refused in creates */
	char **allow_binds;	   /* --allow-bind directories, resolved (policy_bind_dir()) */
	size_t nallow_binds;	   /* how many; 0: any host path may be bound */
	int verbosity;		   /* cw_log_level */
	char *session;		   /* stop --session ID */
	bool dry_run;		   /* reap --dry-run */
	int64_t older_than_ms;	   /* reap --older-than, 0 for dead owners only */
	char *metrics_dir;	   /* --metrics-dir DIR, or NULL */
	bool json;		   /* ls --json */
	char **command;		   /* CMD and its arguments (MODE_RUN) */
};

/* Parse argv, the environment and the configuration file into cfg (the
 * command line wins, then the environment, then the file); exits 0 for
 * --help/--version, 125 for a bad option, value or configuration line. */
void cli_parse(int argc, char **argv, struct cw_config *cfg);

/* Free what cli_parse() allocated. */
void cli_free(struct cw_config *cfg);

/* Print the option list as man page (roff) lines: the hidden --man-options,
 * for docs/gen-options.sh. */
void cli_print_man_options(void);

#endif
