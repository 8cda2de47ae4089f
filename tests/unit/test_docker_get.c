/* test_docker_get.c - docker_get_many() against a fake daemon on a UNIX
 * socket: answers read to EOF and parsed, statuses kept, a missing socket
 * and a silent server reported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../launcher/docker-get.h"

/* Serve n connections: "/ok" gets 200 and a JSON array in two writes,
 * anything else 404; "/slow" gets nothing. */
static pid_t fake_daemon(const char *path, int n)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t pid;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	pid = fork();
	if (pid != 0) {
		close(lfd);
		return pid;
	}
	for (int i = 0; i < n; i++) {
		int c = accept(lfd, NULL, NULL);
		char req[1024] = "";
		ssize_t r = read(c, req, sizeof(req) - 1);

		if (r > 0 && strncmp(req, "GET /ok ", 8) == 0) {
			dprintf(c, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[{\"Id\":");
			usleep(20000);
			dprintf(c, "\"a\"},{\"Id\":\"b\"}]\n");
		} else if (r > 0 && strncmp(req, "GET /slow ", 10) == 0) {
			sleep(2);
		} else {
			dprintf(c, "HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"no\"}");
		}
		close(c);
	}
	_exit(0);
}

static void answers(void **state)
{
	char dir[] = "/tmp/test_dget.XXXXXX", path[128];
	struct docker_get g[3] = { { .path = "/ok" }, { .path = "/missing" }, { .path = "/ok" } };
	struct cw_error err = { 0 };
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d.sock", dir);
	pid = fake_daemon(path, 3);
	assert_int_equal(docker_get_many(path, g, 3, 5000, &err), 0);
	assert_int_equal(g[0].status, 200);
	assert_int_equal(json_array_size(g[0].answer), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(g[0].answer, 1), "Id")),
			    "b");
	assert_int_equal(g[1].status, 404);
	assert_int_equal(g[2].status, 200);
	docker_get_free(g, 3);
	waitpid(pid, NULL, 0);
	unlink(path);
	rmdir(dir);
}

static void failures(void **state)
{
	char dir[] = "/tmp/test_dget.XXXXXX", path[128];
	struct docker_get g[1] = { { .path = "/slow" } };
	struct cw_error err = { 0 };
	pid_t pid;

	(void)state;
	assert_int_equal(docker_get_many("/nonexistent/d.sock", g, 1, 1000, &err), -1);
	assert_non_null(strstr(err.msg, "connecting to /nonexistent/d.sock"));
	docker_get_free(g, 1);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d.sock", dir);
	pid = fake_daemon(path, 1);
	assert_int_equal(docker_get_many(path, g, 1, 200, &err), -1);
	assert_non_null(strstr(err.msg, "GET /slow: no answer"));
	docker_get_free(g, 1);
	waitpid(pid, NULL, 0);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(answers),
		cmocka_unit_test(failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
