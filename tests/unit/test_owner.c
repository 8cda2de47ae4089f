/* Unit tests for proxy/owner.c (subjects, classes, list filtering) and
 * proxy/label-filter.c (a label added to filters, both encodings). The
 * checks against the daemon are tests/integration/26-ownership.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../proxy/label-filter.h"
#include "../../proxy/owner.h"
#include "../../proxy/refs.h"
#include "../../proxy/route.h"
#include "llhttp.h"

static void assert_subject(uint8_t method, const char *target, enum resource_kind kind,
			   bool exec, const char *name)
{
	char canonical[ROUTE_PATH_MAX + 2], decoded[ROUTE_PATH_MAX + 2];
	struct owner_subject s;

	assert_int_equal(route_canonical_path(target, strlen(target), canonical,
					      sizeof(canonical)), 0);
	assert_int_equal(route_decoded_path(target, strlen(target), decoded, sizeof(decoded)), 0);
	owner_subject(method, canonical, decoded, &s);
	if (s.kind != kind || s.via_exec != exec || (name && strcmp(s.name, name) != 0))
		fail_msg("%s %s: kind %d exec %d name '%s', want %d %d '%s'",
			 llhttp_method_name(method), target, s.kind, s.via_exec, s.name, kind,
			 exec, name ? name : "");
}

static void subjects(void **state)
{
	(void)state;
	assert_subject(HTTP_GET, "/v1.41/containers/Web_1/json", RESOURCE_CONTAINER, false,
		       "Web_1");
	assert_subject(HTTP_POST, "/containers/abc/kill?signal=KILL", RESOURCE_CONTAINER, false,
		       "abc");
	assert_subject(HTTP_DELETE, "/containers/abc?force=1", RESOURCE_CONTAINER, false, "abc");
	assert_subject(HTTP_GET, "/containers/abc/attach/ws", RESOURCE_CONTAINER, false, "abc");
	assert_subject(HTTP_GET, "/V1.30/containers/%41bc/logs", RESOURCE_CONTAINER, false, "Abc");
	assert_subject(HTTP_GET, "/images/Reg:5000/My/img:Tag/json", RESOURCE_IMAGE, false,
		       "Reg:5000/My/img:Tag");
	assert_subject(HTTP_DELETE, "/images/a/b:c", RESOURCE_IMAGE, false, "a/b:c");
	assert_subject(HTTP_POST, "/images/a/b/tag?repo=x", RESOURCE_IMAGE, false, "a/b");
	assert_subject(HTTP_GET, "/networks/Net1", RESOURCE_NETWORK, false, "Net1");
	assert_subject(HTTP_POST, "/networks/n/disconnect", RESOURCE_NETWORK, false, "n");
	assert_subject(HTTP_GET, "/volumes/v", RESOURCE_VOLUME, false, "v");
	assert_subject(HTTP_DELETE, "/volumes/v", RESOURCE_VOLUME, false, "v");
	assert_subject(HTTP_GET, "/services/s/logs", RESOURCE_SERVICE, false, "s");
	assert_subject(HTTP_POST, "/exec/e1/start", RESOURCE_CONTAINER, true, "e1");
	assert_subject(HTTP_GET, "/exec/e1/json", RESOURCE_CONTAINER, true, "e1");
	/* Collections name no object. */
	assert_subject(HTTP_GET, "/containers/json", RESOURCE_NONE, false, NULL);
	assert_subject(HTTP_POST, "/containers/create?name=x", RESOURCE_NONE, false, NULL);
	assert_subject(HTTP_POST, "/containers/prune", RESOURCE_NONE, false, NULL);
	assert_subject(HTTP_GET, "/images/json", RESOURCE_NONE, false, NULL);
	assert_subject(HTTP_GET, "/images/get?names=a", RESOURCE_NONE, false, NULL);
	assert_subject(HTTP_POST, "/networks/create", RESOURCE_NONE, false, NULL);
	assert_subject(HTTP_GET, "/networks", RESOURCE_NONE, false, NULL);
	assert_subject(HTTP_GET, "/_ping", RESOURCE_NONE, false, NULL);
	assert_subject(HTTP_GET, "/events", RESOURCE_NONE, false, NULL);
}

static void classes(void **state)
{
	json_t *ours = json_pack("{s:s}", "ci-wrap.session", "s1");
	json_t *other = json_pack("{s:s}", "ci-wrap.session", "s2");
	json_t *plain = json_pack("{s:s}", "a", "b");

	(void)state;
	assert_int_equal(owner_class_of("s1", ours), OWNER_OURS);
	assert_int_equal(owner_class_of("s1", other), OWNER_OTHER);
	assert_int_equal(owner_class_of("s1", plain), OWNER_FOREIGN);
	assert_int_equal(owner_class_of("s1", NULL), OWNER_FOREIGN);
	json_decref(ours);
	json_decref(other);
	json_decref(plain);
}

static void lists(void **state)
{
	json_t *ctrs = json_loads("[{\"Id\":\"a\",\"Labels\":{\"ci-wrap.session\":\"s1\"}},"
				  "{\"Id\":\"b\",\"Labels\":{\"ci-wrap.session\":\"s2\"}},"
				  "{\"Id\":\"c\",\"Labels\":null},{\"Id\":\"d\"}]",
				  0, NULL);
	json_t *vols = json_loads("{\"Volumes\":[{\"Name\":\"x\",\"Labels\":{\"ci-wrap.session\":"
				  "\"s2\"}},{\"Name\":\"y\"}],\"Warnings\":null}",
				  0, NULL);
	json_t *svcs = json_loads("[{\"ID\":\"a\",\"Spec\":{\"Labels\":{\"ci-wrap.session\":\"s2\"}}}]",
				  0, NULL);

	(void)state;
	assert_int_equal(owner_list_kind(HTTP_GET, "/containers/json"), RESOURCE_CONTAINER);
	assert_int_equal(owner_list_kind(HTTP_GET, "/volumes"), RESOURCE_VOLUME);
	assert_int_equal(owner_list_kind(HTTP_HEAD, "/volumes"), RESOURCE_NONE);
	assert_int_equal(owner_list_kind(HTTP_GET, "/containers/x/json"), RESOURCE_NONE);
	owner_list_filter("s1", RESOURCE_CONTAINER, ctrs);
	assert_int_equal(json_array_size(ctrs), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ctrs, 1), "Id")), "c");
	owner_list_filter("s1", RESOURCE_VOLUME, vols);
	assert_int_equal(json_array_size(json_object_get(vols, "Volumes")), 1);
	owner_list_filter("s1", RESOURCE_SERVICE, svcs);
	assert_int_equal(json_array_size(svcs), 0);
	json_decref(ctrs);
	json_decref(vols);
	json_decref(svcs);
}

static void assert_filters(const char *given, const char *want)
{
	struct cw_error err = { 0 };
	char *out = NULL;

	assert_int_equal(label_filter_add(given, strlen(given), "ci-wrap.session=s1", &out, &err),
			 0);
	if (strcmp(out, want) != 0)
		fail_msg("filters %s became %s, want %s", given, out, want);
	free(out);
}

static void label_filters(void **state)
{
	struct cw_error err = { 0 };
	char *out = NULL;

	(void)state;
	assert_filters("", "{\"label\":{\"ci-wrap.session=s1\":true}}");
	assert_filters("null", "{\"label\":{\"ci-wrap.session=s1\":true}}");
	assert_filters("{\"until\":{\"24h\":true}}",
		       "{\"until\":{\"24h\":true},\"label\":{\"ci-wrap.session=s1\":true}}");
	assert_filters("{\"label\":{\"a=b\":true}}",
		       "{\"label\":{\"a=b\":true,\"ci-wrap.session=s1\":true}}");
	/* The older encoding stays the older one, or the daemon reads neither. */
	assert_filters("{\"label\":[\"a=b\"]}", "{\"label\":[\"a=b\",\"ci-wrap.session=s1\"]}");
	assert_filters("{\"until\":[\"24h\"]}",
		       "{\"until\":[\"24h\"],\"label\":[\"ci-wrap.session=s1\"]}");
	/* A client cannot replace ours with a later duplicate key. */
	assert_filters("{\"label\":{\"a\":true},\"label\":{\"b\":true}}",
		       "{\"label\":{\"b\":true,\"ci-wrap.session=s1\":true}}");
	assert_int_equal(label_filter_add("[1]", 3, "x", &out, &err), -400);
	assert_int_equal(label_filter_add("{", 1, "x", &out, &err), -400);
}

/* refs as "kind:name:alters" joined with spaces. */
static void assert_refs(enum rewrite_kind kind, const char *body, const char *want)
{
	json_t *refs = refs_of_body(kind, body, strlen(body)), *r;
	char got[1024] = "";
	size_t i, n = 0;

	json_array_foreach(refs, i, r)
	{
		n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s:%s:%d", n ? " " : "",
				      json_string_value(json_object_get(r, "kind")),
				      json_string_value(json_object_get(r, "name")),
				      json_is_true(json_object_get(r, "alters")));
	}
	json_decref(refs);
	if (strcmp(got, want) != 0)
		fail_msg("refs of %s: '%s', want '%s'", body, got, want);
}

static void body_refs(void **state)
{
	(void)state;
	assert_refs(REWRITE_CONTAINER_CREATE, "{\"Image\":\"img\"}", "image:img:0");
	assert_refs(REWRITE_CONTAINER_CREATE,
		    "{\"image\":\"a\",\"HostConfig\":{\"NetworkMode\":\"net1\","
		    "\"PidMode\":\"container:c1\",\"VolumesFrom\":[\"c2:ro\"],"
		    "\"Links\":[\"/c3:alias\"],\"Binds\":[\"vol:/x\",\"/host:/y\",\"/anon\"],"
		    "\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v2\"},"
		    "{\"Type\":\"bind\",\"Source\":\"/h\"}]},"
		    "\"NetworkingConfig\":{\"EndpointsConfig\":{\"net2\":{},\"bridge\":{}}}}",
		    "image:a:0 network:net1:0 container:c1:0 container:c2:0 container:c3:0 "
		    "volume:vol:0 volume:v2:0 network:net2:0");
	/* Built-in networks and a container's own namespace name nothing. */
	assert_refs(REWRITE_CONTAINER_CREATE,
		    "{\"HostConfig\":{\"NetworkMode\":\"host\",\"IpcMode\":\"shareable\"}}", "");
	assert_refs(REWRITE_CONTAINER_CREATE, "{\"HostConfig\":{\"NetworkMode\":\"container:x\"}}",
		    "container:x:0");
	assert_refs(REWRITE_NETWORK_CONNECT, "{\"Container\":\"c\"}", "container:c:1");
	/* Every spelling, not only the one Go keeps: jansson keeps a repeated
	 * key where it first stood, so the document order is lost. */
	assert_refs(REWRITE_NETWORK_CONNECT, "{\"container\":\"a\",\"CONTAINER\":\"b\"}",
		    "container:a:1 container:b:1");
	assert_refs(REWRITE_CONTAINER_CREATE, "{\"image\":\"b\",\"Image\":\"x\",\"image\":\"b\"}",
		    "image:b:0 image:x:0");
	/* HostConfig fields promoted to the top level count too. */
	assert_refs(REWRITE_CONTAINER_CREATE, "{\"NetworkMode\":\"n\",\"Binds\":[\"v:/x\"]}",
		    "network:n:0 volume:v:0");
	assert_refs(REWRITE_NETWORK_CONNECT, "[1]", "");
	/* Each object once, however often a body names it. */
	assert_refs(REWRITE_CONTAINER_CREATE,
		    "{\"HostConfig\":{\"Binds\":[\"v:/a\",\"v:/b\",\"w:/c\",\"v:/d\"]}}",
		    "volume:v:0 volume:w:0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(subjects),
		cmocka_unit_test(classes),
		cmocka_unit_test(lists),
		cmocka_unit_test(label_filters),
		cmocka_unit_test(body_refs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
