/* test_sockmount.c - the daemon's socket in a container create, by every
 * spelling moby accepts, becomes the session's stand-in. A real socket in a
 * temporary directory plays the daemon's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../proxy/sockmount.h"

static char dir[64], sock[96], link_path[96], real_dir[PATH_MAX];
static struct sockmount sm;

static int setup(void **state)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct cw_error err = { 0 };
	int fd;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test-sockmount.XXXXXX");
	if (mkdtemp(dir) == NULL || realpath(dir, real_dir) == NULL)
		return -1;
	snprintf(sock, sizeof(sock), "%s/docker.sock", dir);
	snprintf(link_path, sizeof(link_path), "%s/link.sock", dir);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	close(fd);
	if (symlink(sock, link_path) < 0)
		return -1;
	return sockmount_init(&sm, sock, "/stand/in.sock", &err);
}

static int teardown(void **state)
{
	(void)state;
	unlink(link_path);
	unlink(sock);
	rmdir(dir);
	return 0;
}

/* Swap in the JSON text, compare with the expected text (compact, sorted). */
static void check(const char *in, const char *want, int changes)
{
	struct cw_error err = { 0 };
	json_t *obj = json_loads(in, 0, NULL);
	char *got;

	assert_non_null(obj);
	assert_int_equal(sockmount_swap(obj, &sm, &err), changes);
	got = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (strcmp(got, want) != 0)
		fail_msg("got  %s\nwant %s", got, want);
	free(got);
	json_decref(obj);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	static char bufs[4][2048];
	static int n;
	char *b = bufs[n++ % 4];
	va_list ap;

	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

static void binds_by_path_and_link(void **state)
{
	(void)state;
	check(fmt("{\"Binds\":[\"%s:/var/run/docker.sock\",\"%s:/x:ro\",\"/etc:/etc\",\"vol:/v\"]}",
		  sock, link_path),
	      "{\"Binds\":[\"/stand/in.sock:/var/run/docker.sock\",\"/stand/in.sock:/x:ro\","
	      "\"/etc:/etc\",\"vol:/v\"]}",
	      2);
}

/* Go decodes every key that folds to a field into it, the last one winning:
 * each spelling is rewritten. */
static void every_spelling(void **state)
{
	(void)state;
	check(fmt("{\"binds\":[\"%s:/a\"],\"BINDS\":[\"%s:/b\"]}", sock, sock),
	      "{\"BINDS\":[\"/stand/in.sock:/b\"],\"binds\":[\"/stand/in.sock:/a\"]}", 2);
	/* the last "source" is what the daemon mounts */
	check(fmt("{\"Mounts\":[{\"type\":\"bind\",\"Source\":\"%s\",\"source\":\"/etc\","
		  "\"Target\":\"/s\"}]}",
		  sock),
	      fmt("{\"Mounts\":[{\"Source\":\"%s\",\"Target\":\"/s\",\"source\":\"/etc\","
		  "\"type\":\"bind\"}]}",
		  sock),
	      0);
	check(fmt("{\"Mounts\":[{\"TYPE\":\"bind\",\"source\":\"/etc\",\"Source\":\"%s\","
		  "\"target\":\"/s\"}]}",
		  sock),
	      "{\"Mounts\":[{\"Source\":\"/stand/in.sock\",\"TYPE\":\"bind\","
	      "\"source\":\"/stand/in.sock\",\"target\":\"/s\"}]}",
	      1);
}

static void mounts_bind_only(void **state)
{
	(void)state;
	check(fmt("{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"%s\",\"Target\":\"/s\"},"
		  "{\"Type\":\"volume\",\"Source\":\"%s\",\"Target\":\"/v\"}]}",
		  link_path, sock),
	      fmt("{\"Mounts\":[{\"Source\":\"/stand/in.sock\",\"Target\":\"/s\",\"Type\":\"bind\"},"
		  "{\"Source\":\"%s\",\"Target\":\"/v\",\"Type\":\"volume\"}]}",
		  sock),
	      1);
}

/* A directory above the socket: the stand-in goes over the socket inside. */
static void holder_directories(void **state)
{
	(void)state;
	check(fmt("{\"Binds\":[\"%s:/h/\"]}", dir),
	      fmt("{\"Binds\":[\"%s:/h/\",\"/stand/in.sock:/h/docker.sock\"]}", dir), 1);
	check(fmt("{\"Binds\":[\"/:/host:ro\"]}"),
	      fmt("{\"Binds\":[\"/:/host:ro\",\"/stand/in.sock:/host%s/docker.sock\"]}", real_dir),
	      1);
	check(fmt("{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"%s\",\"Target\":\"/h\"}]}", dir),
	      fmt("{\"Mounts\":[{\"Source\":\"%s\",\"Target\":\"/h\",\"Type\":\"bind\"},"
		  "{\"Source\":\"/stand/in.sock\",\"Target\":\"/h/docker.sock\",\"Type\":\"bind\"}]}",
		  dir),
	      1);
}

static void too_many_binds(void **state)
{
	json_t *obj = json_object(), *binds = json_array();
	struct cw_error err = { 0 };

	(void)state;
	for (int i = 0; i <= SOCKMOUNT_MAX_BINDS; i++)
		json_array_append_new(binds, json_string("/nonexistent:/x"));
	json_object_set_new(obj, "Binds", binds);
	assert_int_equal(sockmount_swap(obj, &sm, &err), -400);
	assert_non_null(strstr(err.msg, "bind mounts"));
	json_decref(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(binds_by_path_and_link),
		cmocka_unit_test(every_spelling),
		cmocka_unit_test(mounts_bind_only),
		cmocka_unit_test(holder_directories),
		cmocka_unit_test(too_many_binds),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
