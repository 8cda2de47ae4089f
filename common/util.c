/* util.c - ownership helpers, size and duration parsing, dlopen()ed tables. */
#include "util.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void cw_freep(void *p)
{
	free(*(void **)p);
}

void cw_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		close(*fd);
		errno = saved;
	}
}

static void *check_alloc(void *p)
{
	if (p == NULL) {
		static const char msg[] = "ci-wrap: out of memory\n";

		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		abort();
	}
	return p;
}

void *xmalloc(size_t n)
{
	return check_alloc(malloc(n ? n : 1));
}

void *xmap_pages(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return check_alloc(p == MAP_FAILED ? NULL : p);
}

void *xcalloc(size_t n, size_t size)
{
	return check_alloc(calloc(n ? n : 1, size ? size : 1));
}

void *xrealloc(void *p, size_t n)
{
	return check_alloc(realloc(p, n ? n : 1));
}

char *xstrdup(const char *s)
{
	return check_alloc(strdup(s));
}

int unix_connect(const char *path, bool nonblock)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	/* A UNIX connect either completes or fails at once (EAGAIN only when
	 * the listener's backlog is full): no EINPROGRESS to wait for. */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

char *read_small_file(const char *path, size_t max)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	size_t len = 0;

	if (fd < 0)
		return NULL;
	buf = xmalloc(max + 1);
	while (len < max) {
		ssize_t n = read(fd, buf + len, max - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;

			free(buf);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Parse a non-negative decimal with an optional fraction; return the end. */
static const char *parse_decimal(const char *s, double *out)
{
	char *end;

	if (!isdigit((unsigned char)*s) && *s != '.')
		return NULL;
	errno = 0;
	*out = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(*out) || *out < 0)
		return NULL;
	return end;
}

int parse_size(const char *s, int64_t *out)
{
	static const struct {
		const char *suffix;
		double mult;
	} units[] = {
		{ "", 1 },	     { "b", 1 },	     { "k", 1024.0 },
		{ "kb", 1024.0 },    { "kib", 1024.0 },	     { "m", 1048576.0 },
		{ "mb", 1048576.0 }, { "mib", 1048576.0 },   { "g", 1073741824.0 },
		{ "gb", 1073741824.0 }, { "gib", 1073741824.0 }, { "t", 1099511627776.0 },
		{ "tb", 1099511627776.0 }, { "tib", 1099511627776.0 },
	};
	double v;
	const char *unit = parse_decimal(s, &v);

	if (unit == NULL)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(unit, units[i].suffix) == 0) {
			double bytes = v * units[i].mult;

			if (bytes < 1 || bytes > 9.2e18)
				return -1;
			*out = (int64_t)bytes;
			return 0;
		}
	}
	return -1;
}

int parse_duration(const char *s, int64_t *out_ms)
{
	static const struct {
		const char *suffix;
		double ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	double v;
	const char *unit = parse_decimal(s, &v);

	if (unit == NULL)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(unit, units[i].suffix) == 0) {
			double ms = v * units[i].ms;

			if (ms > 9.2e15)
				return -1;
			*out_ms = (int64_t)llround(ms);
			return 0;
		}
	}
	return -1;
}

int dl_load_table(const char *soname, const struct dl_sym *syms, size_t n, void *table,
		  struct cw_error *err)
{
	void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

	if (lib == NULL)
		return cw_error_set(err, 0, "cannot load %s: %s", soname, dlerror());
	for (size_t i = 0; i < n; i++) {
		void *fn = dlsym(lib, syms[i].name);

		if (fn == NULL)
			return cw_error_set(err, 0, "%s has no %s", soname, syms[i].name);
		memcpy((char *)table + syms[i].offset, &fn, sizeof(fn));
	}
	return 0;
}

int parse_name_list(const char *list, const char *const *names, size_t n, unsigned *mask,
		    char *bad, size_t badsz)
{
	const char *p = list + strspn(list, ", ");

	while (*p != '\0') {
		size_t len = strcspn(p, ", "), i;

		for (i = 0; i < n; i++)
			if (len == strlen(names[i]) && strncmp(p, names[i], len) == 0)
				break;
		if (i == n) {
			snprintf(bad, badsz, "%.*s", (int)len, p);
			return -1;
		}
		*mask |= 1u << i;
		p += len;
		p += strspn(p, ", ");
	}
	return 0;
}
