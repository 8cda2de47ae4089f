/* registry.c - session entries under /run/ci-wrap. */
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/proc.h"
#include "../common/util.h"

static const char *registry_dir(void)
{
	static char dir[PATH_MAX];
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (dir[0])
		return dir;
	if (geteuid() == 0 || xdg == NULL || *xdg != '/')
		snprintf(dir, sizeof(dir), "/run/ci-wrap");
	else
		snprintf(dir, sizeof(dir), "%s/ci-wrap", xdg);
	mkdir(dir, 0700);
	return dir;
}

static void entry_path(const char *id, const char *suffix, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s%s", registry_dir(), id, suffix);
}

int registry_add(const struct registry_entry *e, struct cw_error *err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:s}", "id", e->id, "job",
			      e->job, "owner", e->owner, "dir", e->dir, "cgroup", e->cgroup,
			      "manager", cgpool_manager_name(e->manager), "pid", (int)e->pid,
			      "guard_pid", (int)e->guard_pid, "command", e->command);
	int rc;

	entry_path(e->id, ".json", path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	rc = o ? json_dump_file(o, tmp, JSON_COMPACT) : -1;
	json_decref(o);
	if (rc < 0 || rename(tmp, path) < 0)
		return cw_error_set(err, errno, "registering the session in %s", registry_dir());
	return 0;
}

void registry_remove(const char *id)
{
	char path[PATH_MAX];

	entry_path(id, ".images", path, sizeof(path));
	unlink(path);
	entry_path(id, ".volumes", path, sizeof(path));
	unlink(path);
	entry_path(id, ".json", path, sizeof(path));
	unlink(path);
}

static void append_line(const char *id, const char *suffix, const char *line)
{
	char path[PATH_MAX];
	int fd;

	if (strchr(line, '\n'))
		return;
	entry_path(id, suffix, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return; /* teardown still has it in memory */
	dprintf(fd, "%s\n", line);
	close(fd);
}

static json_t *read_lines(const char *id, const char *suffix)
{
	char path[PATH_MAX];
	json_t *lines = json_array();
	_cleanup_free_ char *text = NULL;
	char *line, *save = NULL;

	entry_path(id, suffix, path, sizeof(path));
	text = read_small_file(path, 1 << 22);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		json_array_append_new(lines, json_string(line));
	return lines;
}

void registry_add_image(const char *id, const char *ref)
{
	append_line(id, ".images", ref);
}

json_t *registry_images(const char *id)
{
	return read_lines(id, ".images");
}

void registry_add_volume(const char *id, const char *name)
{
	append_line(id, ".volumes", name);
}

json_t *registry_tracked(const char *id)
{
	json_t *volumes = json_object(), *names = read_lines(id, ".volumes"), *v;
	size_t i;

	json_array_foreach(names, i, v)
	json_object_set(volumes, json_string_value(v), json_true());
	json_decref(names);
	return json_pack("{s:o,s:o}", "images", registry_images(id), "volumes", volumes);
}

static bool load_entry(const char *path, struct registry_entry *e)
{
	json_t *o = json_load_file(path, 0, NULL);
	struct stat st;
	const char *v;

	if (!json_is_object(o)) {
		json_decref(o);
		return false;
	}
	memset(e, 0, sizeof(*e));
#define COPY(field, key)                                                                   \
	v = json_string_value(json_object_get(o, key));                                    \
	snprintf(e->field, sizeof(e->field), "%s", v ? v : "")
	COPY(id, "id");
	COPY(job, "job");
	COPY(owner, "owner");
	COPY(dir, "dir");
	COPY(cgroup, "cgroup");
	COPY(command, "command");
#undef COPY
	/* Entries written before managers were recorded: cgroupfs had a path. */
	v = json_string_value(json_object_get(o, "manager"));
	if (v == NULL || cgpool_manager_parse(v, &e->manager) < 0)
		e->manager = e->cgroup[0] ? CGPOOL_CGROUPFS : CGPOOL_NONE;
	e->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
	e->guard_pid = (pid_t)json_integer_value(json_object_get(o, "guard_pid"));
	e->created = stat(path, &st) == 0 ? st.st_mtime : 0;
	json_decref(o);
	return e->id[0] != '\0';
}

struct registry_entry *registry_list(size_t *n)
{
	DIR *d = opendir(registry_dir());
	struct registry_entry *list = NULL;
	struct dirent *de;
	size_t cap = 0;

	*n = 0;
	while (d && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		char path[PATH_MAX];

		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (*n == cap)
			list = xrealloc(list, (cap = cap * 2 + 8) * sizeof(*list));
		snprintf(path, sizeof(path), "%s/%s", registry_dir(), de->d_name);
		if (load_entry(path, &list[*n]))
			(*n)++;
	}
	if (d)
		closedir(d);
	return list;
}

/* Split "host/boot/pid/start"; false if malformed. */
static bool parse_owner(const char *owner, char *host, size_t hsize, char *boot, size_t bsize,
			pid_t *pid, unsigned long long *start)
{
	const char *s1 = strchr(owner, '/');
	const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	int p;

	if (s2 == NULL || sscanf(s2 + 1, "%d/%llu", &p, start) != 2)
		return false;
	snprintf(host, hsize, "%.*s", (int)(s1 - owner), owner);
	snprintf(boot, bsize, "%.*s", (int)(s2 - s1 - 1), s1 + 1);
	*pid = (pid_t)p;
	return true;
}

void registry_set_command(struct registry_entry *e, char *const *argv, pid_t guard_pid)
{
	size_t n = 0;

	e->command[0] = '\0';
	for (; argv && *argv && n + 1 < sizeof(e->command); argv++) {
		int w = snprintf(e->command + n, sizeof(e->command) - n, "%s%s", n ? " " : "", *argv);

		n = w < 0 ? n : n + (size_t)w;
	}
	e->guard_pid = guard_pid;
}

pid_t registry_owner_pid(const char *owner)
{
	char host[128], boot[64];
	unsigned long long start;
	pid_t pid;

	if (!parse_owner(owner, host, sizeof(host), boot, sizeof(boot), &pid, &start))
		return 0;
	return pid;
}

time_t registry_owner_started(const char *owner)
{
	char host[128], boot[64];
	unsigned long long start;
	pid_t pid;
	_cleanup_free_ char *stat = read_small_file("/proc/stat", 1 << 16);
	const char *bt = stat ? strstr(stat, "\nbtime ") : NULL;

	if (bt == NULL ||
	    !parse_owner(owner, host, sizeof(host), boot, sizeof(boot), &pid, &start))
		return 0;
	return (time_t)(strtoll(bt + 7, NULL, 10) + (long long)start / sysconf(_SC_CLK_TCK));
}

bool registry_owner_local(const char *owner)
{
	char host[128], boot[64], me[128] = "";
	unsigned long long start;
	pid_t pid;

	if (!parse_owner(owner, host, sizeof(host), boot, sizeof(boot), &pid, &start))
		return false;
	gethostname(me, sizeof(me) - 1);
	return strcmp(host, me) == 0;
}

bool registry_owner_alive(const char *owner)
{
	char host[128], boot[64], cur[64] = "";
	unsigned long long start, now_start;
	pid_t pid;

	if (!registry_owner_local(owner))
		return true;
	parse_owner(owner, host, sizeof(host), boot, sizeof(boot), &pid, &start);
	proc_boot_id(cur, sizeof(cur));
	if (strcmp(boot, cur) != 0)
		return false; /* the host rebooted since */
	return proc_stat(pid, NULL, &now_start) == 0 && now_start == start;
}

bool registry_claim_label_scan(int interval_s)
{
	char path[PATH_MAX], boot[64] = "", last[64] = "";
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/.label-scan", registry_dir());
	proc_boot_id(boot, sizeof(boot));
	f = fopen(path, "re");
	if (f != NULL) {
		if (fgets(last, sizeof(last), f) == NULL)
			last[0] = '\0';
		last[strcspn(last, "\n")] = '\0';
		fclose(f);
		if (strcmp(last, boot) == 0 && stat(path, &st) == 0 &&
		    time(NULL) - st.st_mtime < interval_s)
			return false;
	}
	f = fopen(path, "we");
	if (f != NULL) {
		fprintf(f, "%s\n", boot);
		fclose(f);
	}
	return true;
}

void registry_put_summary(const char *id, const char *line)
{
	char path[PATH_MAX];
	FILE *f;

	entry_path(id, ".summary", path, sizeof(path));
	f = fopen(path, "we");
	if (f) {
		fprintf(f, "%s\n", line);
		fclose(f);
	}
}

void registry_prune_summaries(int max_age_s)
{
	DIR *d = opendir(registry_dir());
	struct dirent *de;
	time_t now = time(NULL);

	while (d && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct stat st;

		if (len < 9 || strcmp(de->d_name + len - 8, ".summary") != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && now - st.st_mtime > max_age_s)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	if (d)
		closedir(d);
}

int registry_take_summary(const char *id, char *line, size_t size)
{
	char path[PATH_MAX];
	_cleanup_free_ char *buf = NULL;

	entry_path(id, ".summary", path, sizeof(path));
	buf = read_small_file(path, 4096);
	if (buf == NULL)
		return -1;
	unlink(path);
	buf[strcspn(buf, "\n")] = '\0';
	snprintf(line, size, "%s", buf);
	return 0;
}
