/* ls.c - `ci-wrap ls`: registry, cgroup files and four daemon listings,
 * merged into one row per session. */
#include "ls.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/kinds.h"
#include "../common/log.h"
#include "../common/util.h"
#include "docker-get.h"
#include "docker.h"
#include "registry.h"

/* A daemon listing of ls_kinds must answer within this; ls is for people. */
#define LS_DOCKER_TIMEOUT_MS 5000
/* v1 reports "no limit" as the largest page-aligned long: anything above. */
#define LS_NO_LIMIT (INT64_C(1) << 62)
#define LS_WIDTH 100

/* The kinds counted (each one's listing finds them by label), and their
 * JSON keys and columns. Swarm kinds are left out: most agents are no
 * swarm managers, and the table has no room for three columns of zeros. */
static const struct {
	enum resource_kind kind; /* listed by kind_info(kind)->list */
	const char *name;	 /* JSON key and column */
} ls_kinds[LS_KINDS] = {
	{ RESOURCE_CONTAINER, "containers" },
	{ RESOURCE_NETWORK, "networks" },
	{ RESOURCE_VOLUME, "volumes" },
	{ RESOURCE_IMAGE, "images" },
};

/* One session, as shown. */
struct ls_row {
	struct registry_entry e;     /* registry entry; id and owner only if !registered */
	bool registered;	     /* found in the registry (else by label only) */
	bool alive;		     /* its owner process runs */
	time_t started;		     /* when it started, 0 if unknown */
	struct ls_pool_usage pool;   /* its pool's usage; all -1 without a pool */
	int64_t objects[LS_KINDS];   /* objects on the daemon by kind, -1 if unknown */
};

/* The super options of a v1 mount name a controller: "rw,memory". */
static bool has_option(const char *opts, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0' || p[n] == '\n'))
			return true;
	return false;
}

static void parse_mount_line(char *line, struct ls_cgroup_mounts *m)
{
	char *sep = strstr(line, " - "), *save = NULL, *mnt = NULL, *fstype, *opts;
	char *f = strtok_r(line, " ", &save);

	if (sep == NULL)
		return;
	*sep = '\0';
	for (int i = 0; f && i < 4; i++) /* id, parent, major:minor, root, mount point */
		f = strtok_r(NULL, " ", &save);
	mnt = f;
	fstype = strtok_r(sep + 3, " ", &save);
	strtok_r(NULL, " ", &save); /* source */
	opts = strtok_r(NULL, " \n", &save);
	if (mnt == NULL || fstype == NULL)
		return;
	if (strcmp(fstype, "cgroup2") == 0 && m->unified[0] == '\0')
		snprintf(m->unified, sizeof(m->unified), "%s", mnt);
	if (strcmp(fstype, "cgroup") != 0 || opts == NULL)
		return;
	if (has_option(opts, "memory") && m->memory[0] == '\0')
		snprintf(m->memory, sizeof(m->memory), "%s", mnt);
	if (has_option(opts, "cpuacct") && m->cpuacct[0] == '\0')
		snprintf(m->cpuacct, sizeof(m->cpuacct), "%s", mnt);
	if (has_option(opts, "pids") && m->pids[0] == '\0')
		snprintf(m->pids, sizeof(m->pids), "%s", mnt);
}

void ls_parse_mounts(const char *mountinfo, struct ls_cgroup_mounts *m)
{
	_cleanup_free_ char *text = xstrdup(mountinfo ? mountinfo : "");
	char *save = NULL;

	memset(m, 0, sizeof(*m));
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		parse_mount_line(l, m);
}

/* The first number in mount/path/file; -1 if absent, "max" counts as -1. */
static int64_t read_number(const char *mount, const char *path, const char *file,
			   const char *key)
{
	char name[1024];
	_cleanup_free_ char *text = NULL;
	const char *at;
	char *end;
	long long v;

	if (mount[0] == '\0')
		return -1;
	snprintf(name, sizeof(name), "%s%s/%s", mount, path, file);
	text = read_small_file(name, 1 << 16);
	at = text;
	if (at && key) { /* "key N" lines: cpu.stat */
		size_t n = strlen(key);

		for (at = text; at && !(strncmp(at, key, n) == 0 && at[n] == ' ');)
			at = strchr(at, '\n') ? strchr(at, '\n') + 1 : NULL;
		at = at ? at + strlen(key) + 1 : NULL;
	}
	if (at == NULL)
		return -1;
	errno = 0;
	v = strtoll(at, &end, 10);
	return end == at || errno ? -1 : (int64_t)v;
}

void ls_read_pool(const struct ls_cgroup_mounts *m, const char *path, struct ls_pool_usage *u)
{
	int64_t cpu;
	bool v1 = m->memory[0] != '\0';

	*u = (struct ls_pool_usage){ -1, -1, -1, -1, -1 };
	if (path == NULL || path[0] == '\0')
		return;
	if (v1) {
		u->memory = read_number(m->memory, path, "memory.usage_in_bytes", NULL);
		u->memory_peak = read_number(m->memory, path, "memory.max_usage_in_bytes", NULL);
		u->memory_limit = read_number(m->memory, path, "memory.limit_in_bytes", NULL);
	} else {
		u->memory = read_number(m->unified, path, "memory.current", NULL);
		u->memory_peak = read_number(m->unified, path, "memory.peak", NULL);
		u->memory_limit = read_number(m->unified, path, "memory.max", NULL);
	}
	if (u->memory_limit >= LS_NO_LIMIT)
		u->memory_limit = -1;
	if (m->cpuacct[0]) {
		cpu = read_number(m->cpuacct, path, "cpuacct.usage", NULL);
		u->cpu_s = cpu >= 0 ? (double)cpu / 1e9 : -1;
	} else {
		cpu = read_number(m->unified, path, "cpu.stat", "usage_usec");
		u->cpu_s = cpu >= 0 ? (double)cpu / 1e6 : -1;
	}
	u->pids = read_number(m->pids[0] ? m->pids : m->unified, path, "pids.current", NULL);
}

const char *ls_format_bytes(int64_t bytes, char *buf, size_t size)
{
	static const char units[] = "KMGTP";
	double v = (double)bytes;
	int u = -1;

	if (bytes < 0) {
		snprintf(buf, size, "-");
		return buf;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%lldB", (long long)bytes);
	else if (v < 10 && v != (double)(int64_t)v)
		snprintf(buf, size, "%.1f%c", v, units[u]);
	else
		snprintf(buf, size, "%.0f%c", v, units[u]);
	return buf;
}

const char *ls_format_age(int64_t s, char *buf, size_t size)
{
	if (s < 0)
		snprintf(buf, size, "-");
	else if (s < 60)
		snprintf(buf, size, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, size, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
	else
		snprintf(buf, size, "%lldd%02lldh", (long long)(s / 86400),
			 (long long)(s / 3600 % 24));
	return buf;
}

/* Count one listing's items into counts: {session: {"owner", "n": [..]}}. */
static void count_items(json_t *items, size_t kind, json_t *counts)
{
	size_t i;
	json_t *item;

	json_array_foreach(items, i, item)
	{
		json_t *labels = kind_labels(item, kind_info(ls_kinds[kind].kind)->list_labels);
		const char *id = json_string_value(json_object_get(labels, "ci-wrap.session"));
		const char *owner = json_string_value(json_object_get(labels, "ci-wrap.owner"));
		json_t *s, *n;

		if (id == NULL)
			continue;
		s = json_object_get(counts, id);
		if (s == NULL) {
			s = json_pack("{s:s,s:[iiii]}", "owner", owner ? owner : "", "n", 0, 0, 0, 0);
			json_object_set_new(counts, id, s);
		}
		n = json_array_get(json_object_get(s, "n"), kind);
		json_integer_set(n, json_integer_value(n) + 1);
	}
}

/* One listing per kind, all at once, grouped by session; NULL (err set)
 * if the daemon did not answer them all. */
static json_t *count_objects(const char *socket_path, struct cw_error *err)
{
	struct docker_get gets[LS_KINDS];
	char filter[256], paths[LS_KINDS][512];
	json_t *counts = json_object();

	docker_label_filter("ci-wrap.session", filter, sizeof(filter));
	for (size_t k = 0; k < LS_KINDS; k++) {
		snprintf(paths[k], sizeof(paths[k]), "%sfilters=%s",
			 kind_info(ls_kinds[k].kind)->list, filter);
		gets[k] = (struct docker_get){ .path = paths[k] };
	}
	if (docker_get_many(socket_path, gets, LS_KINDS, LS_DOCKER_TIMEOUT_MS, err) < 0) {
		json_decref(counts);
		counts = NULL;
	}
	for (size_t k = 0; k < LS_KINDS && counts; k++) {
		const struct kind_info *info = kind_info(ls_kinds[k].kind);

		if (gets[k].status != 200) {
			cw_error_set(err, 0, "GET %s: status %ld", info->list, gets[k].status);
			json_decref(counts);
			counts = NULL;
			break;
		}
		count_items(info->items_key ? json_object_get(gets[k].answer, info->items_key)
					    : gets[k].answer,
			    k, counts);
	}
	docker_get_free(gets, LS_KINDS);
	return counts;
}

static void fill_objects(struct ls_row *r, json_t *counts)
{
	json_t *n = json_object_get(json_object_get(counts, r->e.id), "n");

	for (size_t k = 0; k < LS_KINDS; k++)
		r->objects[k] = counts == NULL ? -1 : json_integer_value(json_array_get(n, k));
}

/* Registry rows first, then sessions known only by their labels (their
 * entry went with a reboot, or a crash before it was written): this host's. */
static struct ls_row *collect_rows(json_t *counts, const struct ls_cgroup_mounts *m, size_t *n)
{
	size_t nreg = 0, i;
	_cleanup_free_ struct registry_entry *reg = registry_list(&nreg);
	struct ls_row *rows = xcalloc(nreg + json_object_size(counts) + 1, sizeof(*rows));
	const char *id;
	json_t *s;

	for (i = 0; i < nreg; i++) {
		rows[i].e = reg[i];
		rows[i].registered = true;
		rows[i].started = reg[i].created;
	}
	*n = nreg;
	json_object_foreach(counts, id, s)
	{
		const char *owner = json_string_value(json_object_get(s, "owner"));
		bool known = false;

		for (i = 0; i < nreg && !known; i++)
			known = strcmp(reg[i].id, id) == 0;
		if (known || !registry_owner_local(owner))
			continue;
		snprintf(rows[*n].e.id, sizeof(rows[*n].e.id), "%s", id);
		snprintf(rows[*n].e.owner, sizeof(rows[*n].e.owner), "%s", owner);
		rows[*n].started = registry_owner_started(owner);
		(*n)++;
	}
	for (i = 0; i < *n; i++) {
		rows[i].alive = registry_owner_alive(rows[i].e.owner);
		ls_read_pool(m, rows[i].e.cgroup, &rows[i].pool);
		fill_objects(&rows[i], counts);
	}
	return rows;
}

static json_t *int_or_null(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

static json_t *text_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

/* The pool manager: the registry's, else what the entry implies. */
static const char *manager_of(const struct ls_row *r)
{
	return r->registered ? cgpool_manager_name(r->e.manager) : "";
}

static void print_json(FILE *out, const struct ls_row *r, time_t now)
{
	json_t *o = json_pack("{s:s,s:o,s:o,s:b,s:s,s:o,s:o,s:o,s:o,s:o,s:b}", "session", r->e.id,
			      "job", text_or_null(r->e.job), "owner_pid",
			      int_or_null(registry_owner_pid(r->e.owner)), "alive", r->alive,
			      "state", r->alive ? "live" : "dead", "age_s",
			      int_or_null(r->started ? now - r->started : -1), "command",
			      text_or_null(r->e.command), "guard_pid",
			      int_or_null(r->e.guard_pid > 0 ? r->e.guard_pid : -1), "manager",
			      text_or_null(manager_of(r)), "cgroup", text_or_null(r->e.cgroup),
			      "registered", r->registered);

	json_object_set_new(o, "memory_bytes", int_or_null(r->pool.memory));
	json_object_set_new(o, "memory_peak_bytes", int_or_null(r->pool.memory_peak));
	json_object_set_new(o, "memory_limit_bytes", int_or_null(r->pool.memory_limit));
	json_object_set_new(o, "cpu_s",
			    r->pool.cpu_s >= 0 ? json_real((double)(int64_t)(r->pool.cpu_s * 1000) / 1000)
					       : json_null());
	json_object_set_new(o, "pids", int_or_null(r->pool.pids));
	for (size_t k = 0; k < LS_KINDS; k++)
		json_object_set_new(o, ls_kinds[k].name, int_or_null(r->objects[k]));
	json_dumpf(o, out, JSON_COMPACT | JSON_REAL_PRECISION(6));
	fputc('\n', out);
	json_decref(o);
}

/* s cut to width columns: the end of a session id (its unique part), the
 * start of anything else; "~" marks the cut. */
static void fit(char *dst, size_t size, const char *s, size_t width, bool keep_end)
{
	size_t len = strlen(s);

	if (len <= width)
		snprintf(dst, size, "%s", s);
	else if (keep_end)
		snprintf(dst, size, "~%s", s + len - (width - 1));
	else
		snprintf(dst, size, "%.*s~", (int)(width - 1), s);
}

static void print_header(FILE *out)
{
	fprintf(out, "%-28s %7s %-5s %6s %6s %6s %6s %6s %4s %3s %3s %3s %3s\n", "SESSION", "OWNER",
		"STATE", "AGE", "MEM", "PEAK", "LIMIT", "CPU", "PIDS", "CTR", "NET", "VOL", "IMG");
}

/* Control characters (a command's newlines and tabs) as spaces. */
static void flatten(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/* The second line of a row: what runs (the command, cut, or hook mode's
 * shell), the job, the pool. */
static void print_detail(FILE *out, const struct ls_row *r)
{
	char what[64], line[2048], cut[LS_WIDTH + 4];

	if (r->e.guard_pid > 0)
		snprintf(what, sizeof(what), "hook mode, shell pid %d", (int)r->e.guard_pid);
	else if (r->e.command[0])
		fit(what, sizeof(what), r->e.command, 36, false);
	else
		snprintf(what, sizeof(what), "%s",
			 r->registered ? "command unknown" : "not in the registry");
	snprintf(line, sizeof(line), "  %s%s; job %s; pool %s%s%s",
		 r->e.guard_pid <= 0 && r->e.command[0] ? "$ " : "", what,
		 r->e.job[0] ? r->e.job : "?", manager_of(r)[0] ? manager_of(r) : "?",
		 r->e.cgroup[0] ? " " : "", r->e.cgroup);
	flatten(line);
	fit(cut, sizeof(cut), line, LS_WIDTH, false);
	fprintf(out, "%s\n", cut);
}

static void print_row(FILE *out, const struct ls_row *r, time_t now)
{
	char id[40], age[24], mem[24], peak[24], limit[24], cpu[32] = "-", pids[24] = "-";
	char obj[LS_KINDS][24];

	fit(id, sizeof(id), r->e.id, 28, true);
	ls_format_age(r->started ? now - r->started : -1, age, sizeof(age));
	if (r->pool.cpu_s >= 0)
		snprintf(cpu, sizeof(cpu), "%.1fs", r->pool.cpu_s);
	if (r->pool.pids >= 0)
		snprintf(pids, sizeof(pids), "%lld", (long long)r->pool.pids);
	for (size_t k = 0; k < LS_KINDS; k++)
		snprintf(obj[k], sizeof(obj[k]), r->objects[k] < 0 ? "?" : "%lld",
			 (long long)r->objects[k]);
	fprintf(out, "%-28s %7d %-5s %6s %6s %6s %6s %6s %4s %3s %3s %3s %3s\n", id,
		(int)registry_owner_pid(r->e.owner), r->alive ? "live" : "dead", age,
		ls_format_bytes(r->pool.memory, mem, sizeof(mem)),
		ls_format_bytes(r->pool.memory_peak, peak, sizeof(peak)),
		ls_format_bytes(r->pool.memory_limit, limit, sizeof(limit)), cpu, pids, obj[0],
		obj[1], obj[2], obj[3]);
	print_detail(out, r);
}

static int compare_rows(const void *a, const void *b)
{
	const struct ls_row *x = a, *y = b;

	if (x->started != y->started)
		return x->started < y->started ? -1 : 1;
	return strcmp(x->e.id, y->e.id);
}

int ls_main(const struct cw_config *cfg)
{
	struct cw_error err = { 0 };
	struct ls_cgroup_mounts mounts;
	_cleanup_free_ char *mountinfo = read_small_file("/proc/self/mountinfo", 1 << 20);
	json_t *counts = count_objects(cfg->docker_socket, &err);
	bool table = !cfg->json && isatty(STDOUT_FILENO);
	time_t now = time(NULL);
	size_t n;
	struct ls_row *rows;

	if (counts == NULL)
		cw_warn("ls: cannot count the sessions' objects on the daemon at unix://%s: %s",
			cfg->docker_socket, err.msg);
	ls_parse_mounts(mountinfo, &mounts);
	rows = collect_rows(counts, &mounts, &n);
	qsort(rows, n, sizeof(*rows), compare_rows);
	if (table && n == 0)
		printf("no sessions on this host\n");
	else if (table)
		print_header(stdout);
	for (size_t i = 0; i < n; i++) {
		if (table)
			print_row(stdout, &rows[i], now);
		else
			print_json(stdout, &rows[i], now);
	}
	free(rows);
	json_decref(counts);
	/* `ci-wrap ls | head` is no error. */
	if (fflush(stdout) != 0 && errno != EPIPE) {
		cw_log(CW_LOG_QUIET, "ls: writing to stdout: %s", strerror(errno));
		return 125;
	}
	return 0;
}
