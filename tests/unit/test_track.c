/* test_track.c - what the tracker reads from the daemon's answers: the
 * anonymous volumes of an inspected container, the images a classic build's
 * output says its steps made, what a load did to the image list, the ID a
 * create answered with, the tag a `docker tag` put and what is kept of it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/log.h"
#include "../../proxy/track.h"
#include "../../proxy/inspect.h"
#include "llhttp.h"

#define S(lit) lit, sizeof(lit) - 1

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);

	if (v == NULL)
		fail_msg("bad test JSON: %s: %s", e.text, text);
	return v;
}

/* got (an array of strings) as one space-separated string. */
static void assert_strings(json_t *got, const char *want)
{
	char buf[1024] = "";
	json_t *v;
	size_t i;

	json_array_foreach(got, i, v)
	{
		if (i)
			strcat(buf, " ");
		strcat(buf, json_string_value(v));
	}
	if (strcmp(buf, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", buf, want);
}

static void assert_anon(const char *inspect, const char *want)
{
	json_t *in = parse(inspect), *got = track_anonymous_volumes(in);

	assert_strings(got, want);
	json_decref(got);
	json_decref(in);
}

/* docker run -v /data --mount type=volume,dst=/m -v named:/named: the two
 * generated names count, the one the client named does not. */
static void anon_plain(void **state)
{
	(void)state;
	assert_anon("{\"HostConfig\":{\"Binds\":[\"named:/named\",\"/host:/h\"],"
		    "\"Mounts\":[{\"Type\":\"volume\",\"Target\":\"/m\"}]},"
		    "\"Mounts\":[{\"Type\":\"volume\",\"Name\":\"aaa\",\"Destination\":\"/m\"},"
		    "{\"Type\":\"volume\",\"Name\":\"bbb\",\"Destination\":\"/data\"},"
		    "{\"Type\":\"volume\",\"Name\":\"named\",\"Destination\":\"/named\"},"
		    "{\"Type\":\"bind\",\"Source\":\"/host\",\"Destination\":\"/h\"}]}",
		    "aaa bbb");
	/* --mount type=volume,src=name is named too. */
	assert_anon("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"vol\","
		    "\"Target\":\"/v\"}]},\"Mounts\":[{\"Type\":\"volume\",\"Name\":\"vol\","
		    "\"Destination\":\"/v\"}]}",
		    "");
	assert_anon("{}", "");
	assert_anon("{\"Mounts\":[{\"Type\":\"volume\"}]}", "");
}

/* --volumes-from: the other container's volumes look anonymous; only what
 * the client asked for explicitly (Binds "/path", Mounts without a source)
 * replaces them at its target. */
static void anon_volumes_from(void **state)
{
	(void)state;
	assert_anon("{\"HostConfig\":{\"VolumesFrom\":[\"pre\"],\"Binds\":[\"/own\"],"
		    "\"Mounts\":[{\"Type\":\"volume\",\"Target\":\"/m\"}]},"
		    "\"Mounts\":[{\"Type\":\"volume\",\"Name\":\"theirs\",\"Destination\":\"/pre\"},"
		    "{\"Type\":\"volume\",\"Name\":\"own\",\"Destination\":\"/own\"},"
		    "{\"Type\":\"volume\",\"Name\":\"mnt\",\"Destination\":\"/m\"}]}",
		    "own mnt");
}

static void assert_steps(const char *const *lines, const char *want)
{
	struct track_build b = { 0 };
	char id[80], got[512] = "";

	for (; *lines; lines++) {
		if (track_build_step(&b, *lines, id, sizeof(id))) {
			if (got[0])
				strcat(got, " ");
			strcat(got, id);
		}
	}
	if (strcmp(got, want) != 0)
		fail_msg("steps \"%s\", want \"%s\"", got, want);
}

/* The classic builder's output (20.10): FROM's image and cache hits
 * existed before the build; COPY makes an image without "Running in". */
static void build_steps(void **state)
{
	static const char *const failed[] = {
		"Step 1/4 : FROM busybox AS a", "\n", " ---> 6fab61377fdc\n",
		"Step 2/4 : RUN echo one > /one", "\n", " ---> Using cache\n", " ---> 111111111111\n",
		"Step 3/4 : COPY x /x", "\n", " ---> 222222222222\n",
		"Step 4/4 : RUN false", "\n", " ---> Running in 333333333333\n",
		"Removing intermediate container 333333333333\n", NULL,
	};
	static const char *const stages[] = {
		"Step 1/5 : from busybox", "\n", " ---> 6fab61377fdc\n",
		"Step 2/5 : LABEL x=1", "\n", " ---> Running in 444444444444\n",
		"Removing intermediate container 444444444444\n", " ---> 555555555555\n",
		"Step 3/5 : FROM busybox", "\n", " ---> 6fab61377fdc\n",
		"Step 4/5 : RUN true", "\n", " ---> Running in 666666666666\n", " ---> 777777777777\n",
		"Successfully built 777777777777\n", NULL,
	};

	(void)state;
	assert_steps(failed, "222222222222");
	assert_steps(stages, "555555555555 777777777777");
}

static void assert_load(const char *before, const char *after, const char *named,
			const char *want_images, const char *want_untag)
{
	json_t *b = parse(before), *a = parse(after), *n = parse(named), *images, *untag;
	char *u;

	track_load_diff(b, a, n, &images, &untag);
	assert_strings(images, want_images);
	u = json_dumps(untag, JSON_COMPACT);
	if (strcmp(u, want_untag) != 0)
		fail_msg("untag %s, want %s", u, want_untag);
	free(u);
	json_decref(images);
	json_decref(untag);
	json_decref(b);
	json_decref(a);
	json_decref(n);
}

static void load_diff(void **state)
{
	(void)state;
	/* New under a new tag, and by ID: both go. */
	assert_load("[]", "[{\"Id\":\"sha256:n\",\"RepoTags\":[\"t:1\"]},{\"Id\":\"sha256:m\"}]",
		    "[\"t:1\",\"sha256:m\"]", "sha256:n sha256:m", "[]");
	/* A dangling image from before, loaded under a tag: only the tag goes. */
	assert_load("[{\"Id\":\"sha256:y\",\"RepoTags\":[]}]",
		    "[{\"Id\":\"sha256:y\",\"RepoTags\":[\"t:1\"]}]", "[\"t:1\"]", "",
		    "[{\"ref\":\"t:1\",\"image\":\"sha256:y\",\"was\":null}]");
	/* A new image under a tag that named another: the image goes, the tag
	 * goes back. */
	assert_load("[{\"Id\":\"sha256:w\",\"RepoTags\":[\"t:1\"]}]",
		    "[{\"Id\":\"sha256:w\",\"RepoTags\":[]},{\"Id\":\"sha256:x\",\"RepoTags\":[\"t:1\"]}]",
		    "[\"t:1\"]", "sha256:x",
		    "[{\"ref\":\"t:1\",\"image\":\"sha256:x\",\"was\":\"sha256:w\"}]");
	/* Loaded again as it was: nothing is the session's. */
	assert_load("[{\"Id\":\"sha256:p\",\"RepoTags\":[\"t:1\"]}]",
		    "[{\"Id\":\"sha256:p\",\"RepoTags\":[\"t:1\"]}]", "[\"t:1\",\"sha256:p\"]", "",
		    "[]");
	/* An image the load did not name is never its. */
	assert_load("[]", "[{\"Id\":\"sha256:o\",\"RepoTags\":[\"other:1\"]}]", "[]", "", "[]");
}

static void assert_removal(int method, const char *target, enum resource_kind want,
			   const char *want_name)
{
	char name[256] = "";
	enum resource_kind got =
		track_removal((uint8_t)method, target, strlen(target), name, sizeof(name));

	if (got != want)
		fail_msg("track_removal(%s) = %d, want %d", target, (int)got, (int)want);
	if (want != RESOURCE_NONE && strcmp(name, want_name) != 0)
		fail_msg("track_removal(%s) named \"%s\", want \"%s\"", target, name, want_name);
}

static void removals(void **state)
{
	(void)state;
	assert_removal(HTTP_DELETE, "/v1.41/containers/abc?force=1&v=0", RESOURCE_CONTAINER, "abc");
	assert_removal(HTTP_DELETE, "/containers/abc", RESOURCE_CONTAINER, "abc");
	assert_removal(HTTP_DELETE, "/networks/n1", RESOURCE_NETWORK, "n1");
	assert_removal(HTTP_DELETE, "/v1.24/volumes/vol?force=true", RESOURCE_VOLUME, "vol");
	assert_removal(HTTP_DELETE, "/services/s1", RESOURCE_SERVICE, "s1");
	assert_removal(HTTP_DELETE, "/v1.41/configs/c1", RESOURCE_CONFIG, "c1");
	assert_removal(HTTP_POST, "/v1.41/containers/abc/wait?condition=removed",
		       RESOURCE_CONTAINER, "abc");
	/* A wait for an exit, another object, another method: not removals. */
	assert_removal(HTTP_POST, "/containers/abc/wait?condition=next-exit", RESOURCE_NONE, "");
	assert_removal(HTTP_POST, "/containers/abc/wait", RESOURCE_NONE, "");
	assert_removal(HTTP_POST, "/networks/n1/wait?condition=removed", RESOURCE_NONE, "");
	assert_removal(HTTP_DELETE, "/containers/abc/exec", RESOURCE_NONE, "");
	assert_removal(HTTP_DELETE, "/containers/", RESOURCE_NONE, "");
	assert_removal(HTTP_DELETE, "/containersx/abc", RESOURCE_NONE, "");
	assert_removal(HTTP_DELETE, "/images/abc", RESOURCE_NONE, "");
	assert_removal(HTTP_GET, "/containers/abc", RESOURCE_NONE, "");
	assert_removal(HTTP_DELETE, "/v1.41", RESOURCE_NONE, "");
}

static void assert_tag_ref(const char *target, const char *want)
{
	char ref[256] = "";
	bool got = track_tag_ref(target, strlen(target), ref, sizeof(ref));

	if (want == NULL && got)
		fail_msg("track_tag_ref(%s) = \"%s\", want none", target, ref);
	if (want != NULL && (!got || strcmp(ref, want) != 0))
		fail_msg("track_tag_ref(%s) = \"%s\", want \"%s\"", target, got ? ref : "none",
			 want);
}

static void tag_refs(void **state)
{
	(void)state;
	assert_tag_ref("/v1.41/images/busybox/tag?repo=ciwt-x&tag=1", "ciwt-x:1");
	assert_tag_ref("/images/busybox/tag?repo=ciwt-x", "ciwt-x:latest");
	assert_tag_ref("/images/busybox/tag?tag=&repo=ciwt-x", "ciwt-x:latest");
	/* The CLI escapes '/' and ':'; a registry stays as given. */
	assert_tag_ref("/images/b/tag?repo=localhost%3A5000%2Fteam%2Fapp&tag=v2",
		       "localhost:5000/team/app:v2");
	assert_tag_ref("/images/b/tag?repo=registry.example%2Fapp", "registry.example/app:latest");
	/* Docker Hub names are listed without their registry. */
	assert_tag_ref("/images/b/tag?repo=docker.io%2Flibrary%2Fapp&tag=1", "app:1");
	assert_tag_ref("/images/b/tag?repo=docker.io/user/app&tag=1", "user/app:1");
	assert_tag_ref("/images/b/tag?repo=library/app", "app:latest");
	/* A tag in repo counts when tag= is empty; tag= wins otherwise. */
	assert_tag_ref("/images/b/tag?repo=app%3A7", "app:7");
	assert_tag_ref("/images/b/tag?repo=app:7&tag=8", "app:8");
	assert_tag_ref("/images/b/tag?repo=localhost:5000/app", "localhost:5000/app:latest");
	assert_tag_ref("/images/b/tag?repo=app%40sha256%3Aabc&tag=9", "app:9");
	/* The first repo= counts, as in Go's r.Form.Get. */
	assert_tag_ref("/images/b/tag?repo=one&repo=two", "one:latest");
	/* No tag named: the daemon refuses, or a digest is no tag. */
	assert_tag_ref("/images/b/tag", NULL);
	assert_tag_ref("/images/b/tag?tag=1", NULL);
	assert_tag_ref("/images/b/tag?repo=&tag=1", NULL);
	assert_tag_ref("/images/b/tag?repo=app%40sha256%3Aabc", NULL);
	assert_tag_ref("/images/b/tag?repo=a%zz", NULL);
	assert_tag_ref("/images/b/tag?repo=a;b", NULL);
}

/* ---- the image lists around a load or a tag, asked of a fake daemon ------- */

#define FAKE_MAX 4

/* A fake daemon on a UNIX socket, on a thread of its own so that the loop
 * under test (the proxy's, or track_answer_begin()'s private one) runs
 * freely: connection i reads a request head and gets answers[i], or with
 * a NULL answer is held until the client closes it. */
struct fake {
	char dir[64];		      /* private temp dir */
	char path[128];		      /* the socket */
	int fd;			      /* listening */
	pthread_t thread;	      /* serves it */
	const char *answers[FAKE_MAX]; /* whole HTTP answers, NULL: hold */
	int n;			      /* connections to serve */
	char req[FAKE_MAX][64];	      /* each request line */
	atomic_int served;	      /* request heads read */
	atomic_int closed;	      /* held connections the client closed */
};

static void fake_write(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return; /* the client went: its business */
		p += n;
		len -= (size_t)n;
	}
}

static void *fake_serve(void *arg)
{
	struct fake *f = arg;

	for (int i = 0; i < f->n; i++) {
		int fd = accept(f->fd, NULL, NULL);
		char buf[4096];
		size_t len = 0;
		ssize_t n;

		if (fd < 0)
			return NULL; /* shut down */
		while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
			len += (size_t)n;
			buf[len] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		buf[len] = '\0';
		snprintf(f->req[i], sizeof(f->req[i]), "%.*s", (int)strcspn(buf, "\r\n"), buf);
		f->served++;
		if (f->answers[i] != NULL) {
			fake_write(fd, f->answers[i], strlen(f->answers[i]));
		} else {
			while (read(fd, buf, sizeof(buf)) > 0)
				;
			f->closed++;
		}
		close(fd);
	}
	return NULL;
}

/* Serve n connections: bodies[i] the body of a 200, a whole answer if it
 * starts with "HTTP/", or NULL: hold. */
static struct fake *fake_start(int n, const char *const *bodies)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	strcpy(f->dir, "/tmp/cw-test-track.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/docker.sock", f->dir);
	strcpy(addr.sun_path, f->path);
	f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(f->fd, 8), 0);
	f->n = n;
	for (int i = 0; i < n; i++) {
		char *a = NULL;

		if (bodies[i] != NULL && strncmp(bodies[i], "HTTP/", 5) == 0)
			a = strdup(bodies[i]);
		else if (bodies[i] != NULL &&
			 asprintf(&a, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n%s",
			     bodies[i]) < 0)
			abort();
		f->answers[i] = a;
	}
	assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
	return f;
}

static void fake_stop(struct fake *f)
{
	shutdown(f->fd, SHUT_RDWR); /* wakes accept() */
	pthread_join(f->thread, NULL);
	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	for (int i = 0; i < f->n; i++)
		free((char *)f->answers[i]);
	free(f);
}

/* Run the loop until *cnt reaches n, for at most 5 s. */
static void spin_until(const atomic_int *cnt, int n)
{
	for (int i = 0; i < 5000 && *cnt < n; i++) {
		ev_run(EV_DEFAULT, EVRUN_NOWAIT);
		usleep(1000);
	}
	if (*cnt < n)
		fail_msg("waited 5 s for %d, got %d", n, (int)*cnt);
}

/* What a test's tracker saw, and its callbacks' results. */
struct rig {
	json_t *labels;		  /* the session's */
	struct proxy_config cfg;  /* list_images, the fake daemon's socket */
	uint64_t created;	  /* images counted */
	struct track *t;	  /* under test */
	atomic_int ready;	  /* ready() calls */
	struct track_answer *a;	  /* what ready() handed over */
	atomic_int idle;	  /* track_when_idle() callbacks */
};

static void rig_init(struct rig *r, const char *socket_path)
{
	memset(r, 0, sizeof(*r));
	r->labels = json_pack("{s:s}", "ci-wrap.session", "s1");
	r->cfg = (struct proxy_config){ .list_images = true,
					.upstream_path = socket_path,
					.rewrite = { .labels = r->labels } };
	r->t = track_new(EV_DEFAULT, &r->cfg, &r->created);
}

static void rig_free(struct rig *r)
{
	track_free(r->t);
	json_decref(r->labels);
}

static void on_ready(void *arg, struct track_answer *a)
{
	struct rig *r = arg;

	r->a = a;
	r->ready++;
}

static void on_idle(void *arg)
{
	struct rig *r = arg;

	r->idle++;
}

/* track_request() for a POST to target (routed as route): must wait, then
 * hands over an answer (or NULL). */
static struct track_answer *request_waits(struct rig *r, const char *route, const char *target)
{
	const struct route *rt = route_lookup(HTTP_POST, route);
	struct track_answer *a = NULL;
	struct track_wait *w = NULL;

	assert_int_equal(track_request(r->t, rt, HTTP_POST, target, strlen(target), on_ready, r,
				       &a, &w),
			 1);
	assert_null(a);
	assert_non_null(w);
	assert_int_equal(r->ready, 0); /* never from inside track_request() */
	spin_until(&r->ready, 1);
	return r->a;
}

/* The answer is over: the list after it runs on the loop, and the drain's
 * track_when_idle() waits for it. */
static void end_and_wait(struct rig *r, struct track_answer *a, int status)
{
	track_answer_end(r->t, a, status);
	track_when_idle(r->t, on_idle, r);
	spin_until(&r->idle, 1);
}

/* What the tracker keeps of a `docker tag` (target, HTTP status) between
 * image lists before and after, as a compact JSON "untag" array. */
static void assert_tag(const char *before, const char *after, const char *target, int status,
		       const char *want)
{
	const char *bodies[] = { before, after };
	struct fake *f = fake_start(status / 100 == 2 ? 2 : 1, bodies);
	struct track_answer *a;
	struct rig r;
	char *got;

	rig_init(&r, f->path);
	a = request_waits(&r, "/images/x/tag", target);
	assert_non_null(a);
	track_answer_bytes(r.t, a, status, "", 0);
	end_and_wait(&r, a, status);
	assert_int_equal(f->served, f->n);
	got = json_dumps(json_object_get(track_result(r.t), "untag"), JSON_COMPACT);
	if (strcmp(got, want) != 0)
		fail_msg("tag %s: kept %s, want %s", target, got, want);
	assert_int_equal(r.created, 0);
	free(got);
	rig_free(&r);
	fake_stop(f);
}

static void tags(void **state)
{
	const char *a = "{\"Id\":\"sha256:a\",\"RepoTags\":[\"a:1\"]}";
	const char *b_x = "{\"Id\":\"sha256:b\",\"RepoTags\":[\"x:1\"]}";
	char before[256], after[256];

	(void)state;
	/* A new name on an image from before: taken off at teardown. */
	snprintf(before, sizeof(before), "[%s]", a);
	assert_tag(before, "[{\"Id\":\"sha256:a\",\"RepoTags\":[\"a:1\",\"new:latest\"]}]",
		   "/v1.41/images/a:1/tag?repo=new", 201,
		   "[{\"ref\":\"new:latest\",\"image\":\"sha256:a\",\"was\":null}]");
	/* A name taken from another image: goes back there. */
	snprintf(before, sizeof(before), "[%s,%s]", a, b_x);
	assert_tag(before,
		   "[{\"Id\":\"sha256:a\",\"RepoTags\":[\"a:1\",\"x:1\"]},"
		   "{\"Id\":\"sha256:b\",\"RepoTags\":[]}]",
		   "/images/a:1/tag?repo=x&tag=1", 201,
		   "[{\"ref\":\"x:1\",\"image\":\"sha256:a\",\"was\":\"sha256:b\"}]");
	/* The session's own image: its removal takes the tag. */
	snprintf(before, sizeof(before),
		 "[{\"Id\":\"sha256:s\",\"RepoTags\":[\"s:1\"],\"Labels\":{\"ci-wrap.session\":\"s1\"}}]");
	snprintf(after, sizeof(after),
		 "[{\"Id\":\"sha256:s\",\"RepoTags\":[\"s:1\",\"n:1\"],"
		 "\"Labels\":{\"ci-wrap.session\":\"s1\"}}]");
	assert_tag(before, after, "/images/s:1/tag?repo=n&tag=1", 201, "[]");
	/* Another session's image is not ours: its tag goes like any. */
	snprintf(before, sizeof(before),
		 "[{\"Id\":\"sha256:s\",\"RepoTags\":[\"s:1\"],\"Labels\":{\"ci-wrap.session\":\"s2\"}}]");
	snprintf(after, sizeof(after),
		 "[{\"Id\":\"sha256:s\",\"RepoTags\":[\"s:1\",\"n:1\"],"
		 "\"Labels\":{\"ci-wrap.session\":\"s2\"}}]");
	assert_tag(before, after, "/images/s:1/tag?repo=n&tag=1", 201,
		   "[{\"ref\":\"n:1\",\"image\":\"sha256:s\",\"was\":null}]");
	/* A tag that already named the image changes nothing. */
	snprintf(before, sizeof(before), "[%s]", a);
	assert_tag(before, before, "/images/a/tag?repo=a&tag=1", 201, "[]");
	/* Refused by the daemon: nothing was tagged. */
	assert_tag(before, before, "/images/a/tag?repo=q", 404, "[]");
}

#define LIST_REQ "GET /images/json?all=1 HTTP/1.0"
#define LOADED "{\"stream\":\"Loaded image: t:1\\n\"}\n"

static void assert_images(struct rig *r, const char *want)
{
	assert_strings(json_object_get(track_result(r->t), "images"), want);
}

/* A load: the images are listed before it is forwarded and after its
 * answer, each on the loop; what it named and is new is the session's. */
static void load_async(void **state)
{
	const char *bodies[] = { "[{\"Id\":\"sha256:o\",\"RepoTags\":[\"o:1\"]}]",
				 "[{\"Id\":\"sha256:o\",\"RepoTags\":[\"o:1\"]},"
				 "{\"Id\":\"sha256:n\",\"RepoTags\":[\"t:1\"]}]" };
	struct fake *f = fake_start(2, bodies);
	struct track_answer *a;
	struct rig r;

	(void)state;
	rig_init(&r, f->path);
	a = request_waits(&r, "/images/load", "/v1.41/images/load?quiet=1");
	assert_non_null(a);
	assert_int_equal(f->served, 1);
	track_answer_bytes(r.t, a, 200, LOADED, strlen(LOADED));
	track_answer_end(r.t, a, 200);
	assert_images(&r, ""); /* not yet: the list after is asked on the loop */
	track_when_idle(r.t, on_idle, &r);
	assert_int_equal(r.idle, 0);
	spin_until(&r.idle, 1);
	assert_images(&r, "sha256:n");
	assert_int_equal(r.created, 1);
	assert_string_equal(f->req[0], LIST_REQ);
	assert_string_equal(f->req[1], LIST_REQ);
	rig_free(&r);
	fake_stop(f);
}

/* The connection goes while the list before is in flight: the list is
 * dropped (the daemon sees it closed), ready is never called. */
static void wait_cancel(void **state)
{
	const char *bodies[] = { NULL };
	struct fake *f = fake_start(1, bodies);
	const struct route *rt = route_lookup(HTTP_POST, "/images/load");
	struct track_answer *a = NULL;
	struct track_wait *w = NULL;
	struct rig r;

	(void)state;
	rig_init(&r, f->path);
	assert_int_equal(track_request(r.t, rt, HTTP_POST, S("/images/load"), on_ready, &r, &a, &w),
			 1);
	spin_until(&f->served, 1);
	track_wait_cancel(w);
	spin_until(&f->closed, 1);
	for (int i = 0; i < 50; i++)
		ev_run(EV_DEFAULT, EVRUN_NOWAIT);
	assert_int_equal(r.ready, 0);
	track_wait_cancel(NULL);
	rig_free(&r);
	fake_stop(f);
}

/* The list before fails: ready(NULL), the request goes untracked. The
 * daemon cannot be reached: untracked at once. */
static void list_fails(void **state)
{
	const char *bodies[] = { "HTTP/1.0 500 Internal Server Error\r\n\r\n{\"message\":\"x\"}",
				 "{\"not\":\"a list\"}" };
	struct fake *f = fake_start(2, bodies);
	const struct route *rt = route_lookup(HTTP_POST, "/images/load");
	struct track_answer *a = NULL;
	struct track_wait *w = NULL;
	struct rig r;

	(void)state;
	rig_init(&r, f->path);
	assert_null(request_waits(&r, "/images/load", "/images/load"));
	r.ready = 0;
	assert_null(request_waits(&r, "/images/x/tag", "/images/x/tag?repo=y"));
	rig_free(&r);
	fake_stop(f);

	rig_init(&r, "/nonexistent/docker.sock");
	assert_int_equal(track_request(r.t, rt, HTTP_POST, S("/images/load"), on_ready, &r, &a, &w),
			 0);
	assert_null(a);
	assert_null(w);
	assert_int_equal(r.ready, 0);
	rig_free(&r);
}

/* The drain times out while the list after a load is in flight: it is cut
 * (the daemon sees it closed), nothing is recorded, and track_free() after
 * an uncut one leaks nothing. */
static void after_list_cut(void **state)
{
	const char *bodies[] = { "[]", NULL };
	struct fake *f;
	struct track_answer *a;
	struct rig r;

	(void)state;
	for (int cut = 0; cut < 2; cut++) {
		f = fake_start(2, bodies);
		rig_init(&r, f->path);
		a = request_waits(&r, "/images/load", "/images/load");
		track_answer_bytes(r.t, a, 200, LOADED, strlen(LOADED));
		track_answer_end(r.t, a, 200);
		track_when_idle(r.t, on_idle, &r);
		spin_until(&f->served, 2);
		assert_int_equal(r.idle, 0);
		if (cut)
			track_cancel(r.t);
		else
			track_free(r.t);
		spin_until(&f->closed, 1);
		assert_int_equal(r.idle, 0);
		if (cut) {
			assert_images(&r, "");
			track_when_idle(r.t, on_idle, &r);
			assert_int_equal(r.idle, 1); /* nothing left in flight */
			track_free(r.t);
		}
		json_decref(r.labels);
		fake_stop(f);
	}
}

/* Without list_images, loads and tags are not tracked and nothing is
 * asked; other answers are ready at once. */
static void not_listed(void **state)
{
	const struct route *load = route_lookup(HTTP_POST, "/images/load");
	const struct route *create = route_lookup(HTTP_POST, "/containers/create");
	struct track_answer *a = NULL;
	struct track_wait *w = NULL;
	struct rig r;

	(void)state;
	rig_init(&r, "/nonexistent/docker.sock");
	r.cfg.list_images = false;
	assert_int_equal(track_request(r.t, load, HTTP_POST, S("/images/load"), on_ready, &r, &a, &w),
			 0);
	assert_null(a);
	assert_null(w);
	assert_int_equal(track_request(r.t, create, HTTP_POST, S("/containers/create"), on_ready, &r,
				       &a, &w),
			 0);
	assert_non_null(a);
	assert_null(w);
	track_answer_end(r.t, a, 500);
	assert_int_equal(r.ready, 0);
	rig_free(&r);
}

/* An image list longer than an inspect's cap (INSPECT_ANSWER_MAX) is read
 * whole. */
static void big_list(void **state)
{
	size_t n = 100000, len = 0;
	char *after = malloc(n * 110 + 64);
	const char *bodies[2] = { "[]", after };
	struct fake *f;
	struct track_answer *a;
	struct rig r;

	(void)state;
	after[len++] = '[';
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(after + len, "{\"Id\":\"sha256:%064zx\",\"RepoTags\":[\"r%zu:1\"]},",
				       i + 1, i);
	len += (size_t)sprintf(after + len, "{\"Id\":\"sha256:n\",\"RepoTags\":[\"t:1\"]}]");
	assert_true(len > INSPECT_ANSWER_MAX);
	f = fake_start(2, bodies);
	free(after); /* copied */
	rig_init(&r, f->path);
	a = request_waits(&r, "/images/load", "/images/load");
	track_answer_bytes(r.t, a, 200, LOADED, strlen(LOADED));
	end_and_wait(&r, a, 200);
	assert_images(&r, "sha256:n");
	rig_free(&r);
	fake_stop(f);
}

static void created_id(void **state)
{
	json_t *c = parse("{\"Id\":\"abc\",\"Warnings\":[]}"), *s = parse("{\"ID\":\"svc\"}");
	json_t *v = parse("{\"Name\":\"vol\",\"Driver\":\"local\"}"), *e = parse("{\"Id\":\"\"}");

	(void)state;
	assert_string_equal(track_created_id(c), "abc");
	assert_string_equal(track_created_id(s), "svc");
	assert_string_equal(track_created_id(v), "vol");
	assert_null(track_created_id(e));
	assert_null(track_created_id(NULL));
	json_decref(c);
	json_decref(s);
	json_decref(v);
	json_decref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(anon_plain), cmocka_unit_test(anon_volumes_from),
		cmocka_unit_test(build_steps), cmocka_unit_test(load_diff),
		cmocka_unit_test(created_id),  cmocka_unit_test(removals),
		cmocka_unit_test(tag_refs),    cmocka_unit_test(tags),
		cmocka_unit_test(load_async),  cmocka_unit_test(wait_cancel),
		cmocka_unit_test(list_fails),  cmocka_unit_test(after_list_cut),
		cmocka_unit_test(not_listed),  cmocka_unit_test(big_list),
	};

	cw_log_level = CW_LOG_QUIET; /* the failures tested warn */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
