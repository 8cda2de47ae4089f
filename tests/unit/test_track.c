/* test_track.c - what the tracker reads from the daemon's answers: the
 * anonymous volumes of an inspected container, the images a classic build's
 * output says its steps made, what a load did to the image list, the ID a
 * create answered with, the tag a `docker tag` put and what is kept of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../proxy/track.h"
#include "llhttp.h"

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

/* The image lists a fake daemon answers with, one per call. */
static const char *images_answers[2];
static int images_calls;

static json_t *fake_images_now(void *arg)
{
	(void)arg;
	return images_calls < 2 ? parse(images_answers[images_calls++]) : NULL;
}

/* What the tracker keeps of a `docker tag` (target, HTTP status) between
 * image lists before and after, as a compact JSON "untag" array. */
static void assert_tag(const char *before, const char *after, const char *target, int status,
		       const char *want)
{
	json_t *labels = json_pack("{s:s}", "ci-wrap.session", "s1");
	struct proxy_config cfg = { .images_now = fake_images_now,
				    .rewrite = { .labels = labels } };
	uint64_t created = 0;
	struct track *t = track_new(EV_DEFAULT, &cfg, &created);
	const struct route *r = route_lookup(HTTP_POST, "/images/x/tag");
	struct track_answer *a;
	char *got;

	images_answers[0] = before;
	images_answers[1] = after;
	images_calls = 0;
	a = track_answer_begin(t, r, HTTP_POST, target, strlen(target));
	assert_non_null(a);
	track_answer_bytes(t, a, status, "", 0);
	track_answer_end(t, a, status);
	got = json_dumps(json_object_get(track_result(t), "untag"), JSON_COMPACT);
	if (strcmp(got, want) != 0)
		fail_msg("tag %s: kept %s, want %s", target, got, want);
	assert_int_equal(created, 0);
	free(got);
	track_free(t);
	json_decref(labels);
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
