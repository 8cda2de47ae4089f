/* test_rewrite.c - the body and query rewrites of create calls: whatever the
 * client sends, what reaches the daemon carries our labels (and our cgroup
 * parent), read the way the daemon's Go decoder reads it.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../proxy/rewrite.h"

#define S(lit) lit, sizeof(lit) - 1

#define OUR_PARENT "/ci-wrap/sess-1"

static json_t *our_labels;
static struct rewrite_spec spec;

static int setup(void **state)
{
	(void)state;
	our_labels = json_pack("{s:s,s:s,s:s,s:s}", "ci-wrap.session", "sess-1", "ci-wrap.job",
			       "job-1", "ci-wrap.owner", "host/boot/42/1000", "team", "infra");
	if (our_labels == NULL)
		return -1;
	spec.labels = our_labels;
	spec.cgroup_parent = OUR_PARENT;
	spec.max_body = 1 << 20;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(our_labels);
	return 0;
}

/* Encode r as UTF-8 into buf, NUL-terminated. */
static void utf8_encode(uint32_t r, char *buf)
{
	unsigned char *b = (unsigned char *)buf;

	if (r < 0x80) {
		*b++ = (unsigned char)r;
	} else if (r < 0x800) {
		*b++ = (unsigned char)(0xc0 | r >> 6);
		*b++ = (unsigned char)(0x80 | (r & 0x3f));
	} else if (r < 0x10000) {
		*b++ = (unsigned char)(0xe0 | r >> 12);
		*b++ = (unsigned char)(0x80 | ((r >> 6) & 0x3f));
		*b++ = (unsigned char)(0x80 | (r & 0x3f));
	} else {
		*b++ = (unsigned char)(0xf0 | r >> 18);
		*b++ = (unsigned char)(0x80 | ((r >> 12) & 0x3f));
		*b++ = (unsigned char)(0x80 | ((r >> 6) & 0x3f));
		*b++ = (unsigned char)(0x80 | (r & 0x3f));
	}
	*b = '\0';
}

/* Go 1.21+ folds every key rune to the smallest of its SimpleFold orbit;
 * tests/unit/go-folds.go walks every orbit: only U+017F ('s') and U+212A
 * ('k') reach an ASCII letter. Every rune, inside a field name, folds to
 * exactly the letters that list says. */
static void key_folds_every_rune(void **state)
{
	char key[16];

	(void)state;
	for (uint32_t r = 0x80; r <= 0x10ffff; r++) {
		if (r >= 0xd800 && r <= 0xdfff)
			continue;
		key[0] = 'a';
		utf8_encode(r, key + 1);
		strcat(key, "b");
		for (char c = 'a'; c <= 'z'; c++) {
			char name[4] = { 'a', c, 'b', '\0' };
			bool want = (r == 0x17f && c == 's') || (r == 0x212a && c == 'k');

			if (rewrite_key_folds_to(key, name) != want)
				fail_msg("U+%04X against '%c': Go %s", (unsigned)r, c,
					 want ? "matches it" : "does not match it");
		}
	}
	/* ASCII: letters fold with their case, nothing else folds. */
	for (int c = 1; c < 0x80; c++) {
		char k[2] = { (char)c, '\0' };

		for (char t = 'a'; t <= 'z'; t++) {
			char name[2] = { t, '\0' };

			assert_int_equal(rewrite_key_folds_to(k, name), tolower(c) == t);
		}
	}
}

/* ---- oracles ------------------------------------------------------------------ */

/* Go's encoding/json key match, written out independently of rewrite.c:
 * ASCII case folds, U+017F folds to 's', U+212A to 'k', nothing else. */
static bool go_folds(const char *key, const char *lower)
{
	const unsigned char *k = (const unsigned char *)key;

	for (; *lower != '\0'; lower++) {
		if (*k < 0x80 && *k != '\0' && tolower(*k) == *lower)
			k++;
		else if (*lower == 's' && k[0] == 0xc5 && k[1] == 0xbf)
			k += 2;
		else if (*lower == 'k' && k[0] == 0xe2 && k[1] == 0x84 && k[2] == 0xaa)
			k += 3;
		else
			return false;
	}
	return *k == '\0';
}

/* The one key of obj that folds to lower, spelled want; NULL if none.
 * Fails if there are several, or it is spelled otherwise. */
static json_t *only_key(json_t *obj, const char *lower, const char *want)
{
	const char *key;
	json_t *value, *found = NULL;

	assert_true(json_is_object(obj));
	json_object_foreach(obj, key, value)
	{
		if (!go_folds(key, lower))
			continue;
		if (found != NULL)
			fail_msg("two keys fold to \"%s\" in %s", lower,
				 json_dumps(obj, JSON_COMPACT));
		if (strcmp(key, want) != 0)
			fail_msg("key \"%s\" left, want \"%s\"", key, want);
		found = value;
	}
	return found;
}

/* obj carries exactly one Labels, with every one of ours. */
static json_t *assert_our_labels(json_t *obj)
{
	json_t *labels = only_key(obj, "labels", "Labels");
	const char *key;
	json_t *value;

	if (labels == NULL)
		fail_msg("no Labels in %s", json_dumps(obj, JSON_COMPACT));
	assert_true(json_is_object(labels));
	json_object_foreach(our_labels, key, value)
	{
		json_t *got = json_object_get(labels, key);

		if (!json_equal(got, value))
			fail_msg("label %s is %s, want %s", key,
				 got ? json_dumps(got, JSON_ENCODE_ANY) : "missing",
				 json_string_value(value));
	}
	return labels;
}

static const char *label(json_t *labels, const char *key)
{
	return json_string_value(json_object_get(labels, key));
}

/* Run rewrite_body(); on success the output must be exactly one JSON object
 * (nothing after it) of the length reported. Returns the status, and the
 * parsed output in *root (NULL on refusal). */
static int rewrite(enum rewrite_kind kind, const struct rewrite_spec *sp, const char *body,
		   size_t len, json_t **root, struct cw_error *err)
{
	char *out = NULL;
	size_t outlen = 12345;
	json_error_t jerr;
	int rc;

	memset(err, 0, sizeof(*err));
	*root = NULL;
	rc = rewrite_body(kind, sp, body, len, &out, &outlen, NULL, err);
	if (rc < 0) {
		assert_null(out);
		assert_true(err->msg[0] != '\0');
		return rc;
	}
	assert_int_equal(rc, 0);
	assert_non_null(out);
	assert_int_equal(outlen, strlen(out));
	*root = json_loadb(out, outlen, JSON_ALLOW_NUL, &jerr);
	if (*root == NULL)
		fail_msg("rewritten body is not one JSON value (%s): %s", jerr.text, out);
	assert_true(json_is_object(*root));
	free(out);
	return rc;
}

/* Rewrite that must succeed; returns the parsed output (caller decrefs). */
static json_t *rewrite_ok(enum rewrite_kind kind, const char *body, size_t len)
{
	struct cw_error err;
	json_t *root;
	int rc = rewrite(kind, &spec, body, len, &root, &err);

	if (rc != 0)
		fail_msg("rewrite of %.*s refused with %d: %s", (int)(len > 200 ? 200 : len), body,
			 rc, err.msg);
	return root;
}

static void assert_refused(enum rewrite_kind kind, const char *body, size_t len, int want)
{
	struct cw_error err;
	json_t *root;
	int rc = rewrite(kind, &spec, body, len, &root, &err);

	if (rc != want)
		fail_msg("rewrite of %.*s: %d, want %d (%s)", (int)(len > 200 ? 200 : len), body,
			 rc, want, root ? json_dumps(root, JSON_COMPACT) : err.msg);
}

/* Every HostConfig spelling left carries our CgroupParent, once; the top
 * level (the deprecated promoted HostConfig fields) too. */
static void assert_our_parent(json_t *root)
{
	const char *key;
	json_t *value, *cp;
	int host_configs = 0;

	json_object_foreach(root, key, value)
	{
		if (!go_folds(key, "hostconfig"))
			continue;
		host_configs++;
		if (!json_is_object(value))
			fail_msg("%s is not an object: %s", key, json_dumps(root, JSON_COMPACT));
		cp = only_key(value, "cgroupparent", "CgroupParent");
		if (!json_is_string(cp) || strcmp(json_string_value(cp), OUR_PARENT) != 0)
			fail_msg("%s.CgroupParent is not ours: %s", key,
				 json_dumps(root, JSON_COMPACT));
	}
	if (host_configs == 0)
		fail_msg("no HostConfig: %s", json_dumps(root, JSON_COMPACT));
	cp = only_key(root, "cgroupparent", "CgroupParent");
	if (cp != NULL && strcmp(json_string_value(cp), OUR_PARENT) != 0)
		fail_msg("top-level CgroupParent is not ours: %s", json_dumps(root, JSON_COMPACT));
}

/* ---- rewrite_key_folds_to ---------------------------------------------------- */

static void key_folds(void **state)
{
	(void)state;
	assert_true(rewrite_key_folds_to("Labels", "labels"));
	assert_true(rewrite_key_folds_to("labels", "labels"));
	assert_true(rewrite_key_folds_to("LABELS", "labels"));
	assert_true(rewrite_key_folds_to("lAbElS", "labels"));
	assert_true(rewrite_key_folds_to("Label\xc5\xbf", "labels"));	 /* Labelſ */
	assert_true(rewrite_key_folds_to("Ho\xc5\xbftConfig", "hostconfig"));
	assert_true(rewrite_key_folds_to("\xe2\x84\xaa" "ey", "key"));	 /* Kelvin sign */
	assert_true(rewrite_key_folds_to("CgroupParent", "cgroupparent"));
	assert_true(rewrite_key_folds_to("", ""));
	assert_false(rewrite_key_folds_to("Label", "labels"));
	assert_false(rewrite_key_folds_to("Labelss", "labels"));
	assert_false(rewrite_key_folds_to("Labels ", "labels"));
	assert_false(rewrite_key_folds_to(" Labels", "labels"));
	assert_false(rewrite_key_folds_to("", "labels"));
	assert_false(rewrite_key_folds_to("Labels", ""));
	assert_false(rewrite_key_folds_to("Lab_els", "labels"));
	/* The special folds apply to their letter only. */
	assert_false(rewrite_key_folds_to("\xc5\xbf" "abels", "labels"));
	assert_false(rewrite_key_folds_to("Lab\xe2\x84\xaals", "labels"));
	/* Other look-alikes do not fold: U+0130, U+0131, fullwidth S. */
	assert_false(rewrite_key_folds_to("\xc4\xb0mage", "image"));
	assert_false(rewrite_key_folds_to("\xc4\xb1mage", "image"));
	assert_false(rewrite_key_folds_to("Label\xef\xbc\xb3", "labels"));
	/* A truncated long s is no s. */
	assert_false(rewrite_key_folds_to("Label\xc5", "labels"));
	assert_false(rewrite_key_folds_to("Label\xc5\xbf\xbf", "labels"));
	/* High bytes that lower-case in some locale are not ASCII letters. */
	assert_false(rewrite_key_folds_to("Label\xd3", "labels"));
}

/* ---- bodies: labels ----------------------------------------------------------- */

static void labels_added(void **state)
{
	json_t *root;

	(void)state;
	root = rewrite_ok(REWRITE_CONTAINER_CREATE, S("{\"Image\":\"alpine\",\"Cmd\":[\"true\"]}"));
	assert_our_labels(root);
	assert_string_equal(json_string_value(json_object_get(root, "Image")), "alpine");
	assert_true(json_is_array(json_object_get(root, "Cmd")));
	assert_int_equal(json_object_size(assert_our_labels(root)), json_object_size(our_labels));
	json_decref(root);

	root = rewrite_ok(REWRITE_LABELS, S("{\"Name\":\"net1\",\"Driver\":\"bridge\"}"));
	assert_our_labels(root);
	assert_string_equal(json_string_value(json_object_get(root, "Name")), "net1");
	/* Networks and volumes have no cgroup parent. */
	assert_null(json_object_get(root, "HostConfig"));
	assert_null(json_object_get(root, "CgroupParent"));
	json_decref(root);

	root = rewrite_ok(REWRITE_LABELS, S("{}"));
	assert_int_equal(json_object_size(root), 1);
	assert_int_equal(json_object_size(assert_our_labels(root)), json_object_size(our_labels));
	json_decref(root);
}

static void client_labels_kept(void **state)
{
	json_t *root, *labels;

	(void)state;
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"Labels\":{\"com.example\":\"x\",\"empty\":\"\",\"u\":\"caf\xc3\xa9\"}}"));
	labels = assert_our_labels(root);
	assert_string_equal(label(labels, "com.example"), "x");
	assert_string_equal(label(labels, "empty"), "");
	assert_string_equal(label(labels, "u"), "caf\xc3\xa9");
	assert_int_equal(json_object_size(labels), json_object_size(our_labels) + 3);
	json_decref(root);
}

static void client_cannot_override(void **state)
{
	json_t *root, *labels;

	(void)state;
	root = rewrite_ok(REWRITE_LABELS,
			  S("{\"Labels\":{\"ci-wrap.session\":\"evil\",\"ci-wrap.job\":\"evil\","
			    "\"ci-wrap.owner\":\"evil\",\"team\":\"evil\",\"mine\":\"1\"}}"));
	labels = assert_our_labels(root);
	assert_string_equal(label(labels, "mine"), "1");
	json_decref(root);
	/* Through every other spelling and an escape in the label key. */
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"labels\":{\"ci-wrap.session\":\"evil\"},"
			    "\"LABEL\\u017f\":{\"ci-wrap.job\":\"evil\"},"
			    "\"Labels\":{\"ci-wrap\\u002eowner\":\"evil\"}}"));
	assert_our_labels(root);
	json_decref(root);
}

static void labels_spellings(void **state)
{
	static const char *const bodies[] = {
		"{\"labels\":{\"mine\":\"1\"}}",
		"{\"LABELS\":{\"mine\":\"1\"}}",
		"{\"lAbElS\":{\"mine\":\"1\"}}",
		"{\"Label\xc5\xbf\":{\"mine\":\"1\"}}",	      /* raw U+017F */
		"{\"LABEL\\u017F\":{\"mine\":\"1\"}}",	      /* escaped U+017F */
		"{\"\\u004cabels\":{\"mine\":\"1\"}}",	      /* escaped L */
		"{\"\\u006c\\u0061\\u0062\\u0065\\u006c\\u0073\":{\"mine\":\"1\"}}",
		"{\"Image\":\"x\",\"labelſ\":{\"mine\":\"1\"},\"Cmd\":null}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		for (int kind = REWRITE_CONTAINER_CREATE; kind <= REWRITE_COMMIT; kind++) {
			json_t *root = rewrite_ok(kind, bodies[i], strlen(bodies[i]));
			json_t *labels = assert_our_labels(root);

			if (label(labels, "mine") == NULL ||
			    strcmp(label(labels, "mine"), "1") != 0)
				fail_msg("client label lost from %s", bodies[i]);
			json_decref(root);
		}
	}
}

static void labels_duplicates(void **state)
{
	json_t *root, *labels;

	(void)state;
	/* Go decodes every spelling into the same map: all merged, one left. */
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"Labels\":{\"a\":\"1\"},\"labels\":{\"b\":\"2\"},"
			    "\"LABELS\":{\"c\":\"3\",\"a\":\"4\"},\"Label\xc5\xbf\":{\"d\":\"5\"}}"));
	labels = assert_our_labels(root);
	assert_string_equal(label(labels, "a"), "4");
	assert_string_equal(label(labels, "b"), "2");
	assert_string_equal(label(labels, "c"), "3");
	assert_string_equal(label(labels, "d"), "5");
	json_decref(root);
	/* The same key twice: the last one's labels are there. */
	root = rewrite_ok(REWRITE_LABELS,
			  S("{\"Labels\":{\"a\":\"1\"},\"Labels\":{\"b\":\"2\",\"ci-wrap.job\":\"x\"}}"));
	labels = assert_our_labels(root);
	assert_string_equal(label(labels, "b"), "2");
	json_decref(root);
}

static void labels_null(void **state)
{
	json_t *root, *labels;

	(void)state;
	root = rewrite_ok(REWRITE_CONTAINER_CREATE, S("{\"Labels\":null,\"Image\":\"x\"}"));
	labels = assert_our_labels(root);
	assert_true(json_equal(labels, our_labels));
	json_decref(root);
	root = rewrite_ok(REWRITE_LABELS, S("{\"labels\":null,\"LABELS\":{\"a\":\"b\"}}"));
	labels = assert_our_labels(root);
	assert_string_equal(label(labels, "a"), "b");
	json_decref(root);
}

static void labels_wrong_type(void **state)
{
	static const char *const bodies[] = {
		"{\"Labels\":\"a=b\"}",
		"{\"Labels\":[\"a=b\"]}",
		"{\"Labels\":1}",
		"{\"Labels\":true}",
		"{\"labels\":\"x\"}",
		"{\"Label\xc5\xbf\":[]}",
		"{\"Labels\":{\"a\":\"b\"},\"LABELS\":\"x\"}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		for (int kind = REWRITE_CONTAINER_CREATE; kind <= REWRITE_COMMIT; kind++)
			assert_refused(kind, bodies[i], strlen(bodies[i]), -400);
}

/* ---- bodies: what Go's decoder does that a JSON parser might not ------------ */

static void trailing_garbage(void **state)
{
	static const char *const bodies[] = {
		"{\"Image\":\"a\"} {\"Labels\":{\"smuggled\":\"1\"}}",
		"{\"Image\":\"a\"}{\"Labels\":{\"smuggled\":\"1\"}}",
		"{\"Image\":\"a\"}\n\"Labels\":{\"smuggled\":\"1\"}}",
		"{\"Image\":\"a\"}garbage smuggled",
		"{\"Image\":\"a\"}}}]]",
		"{\"Image\":\"a\"}\xff\xfe smuggled",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		json_t *root = rewrite_ok(REWRITE_CONTAINER_CREATE, bodies[i], strlen(bodies[i]));
		char *text = json_dumps(root, JSON_COMPACT);

		assert_our_labels(root);
		assert_string_equal(json_string_value(json_object_get(root, "Image")), "a");
		if (strstr(text, "smuggled") != NULL || strstr(text, "garbage") != NULL)
			fail_msg("bytes after the first value were forwarded: %s", text);
		free(text);
		json_decref(root);
	}
	/* With a NUL after the value too. */
	{
		static const char body[] = "{\"Image\":\"a\"}\0{\"x\":1}";
		json_t *root = rewrite_ok(REWRITE_LABELS, body, sizeof(body) - 1);

		assert_null(json_object_get(root, "x"));
		json_decref(root);
	}
}

static void invalid_utf8(void **state)
{
	json_t *root, *labels;

	(void)state;
	/* Each invalid byte becomes U+FFFD, as Go does; the result is valid
	 * JSON that jansson (which refuses invalid UTF-8) could parse. */
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"Image\":\"a\xff" "b\",\"Labels\":{\"k\xc3\":\"v\xed\xa0\x80\","
			    "\"ok\":\"caf\xc3\xa9\"},\"Env\":[\"\xc0\xaf\",\"\xf4\x90\x80\x80\"]}"));
	labels = assert_our_labels(root);
	assert_string_equal(json_string_value(json_object_get(root, "Image")),
			    "a\xef\xbf\xbd" "b");
	assert_string_equal(label(labels, "k\xef\xbf\xbd"),
			    "v\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(label(labels, "ok"), "caf\xc3\xa9");
	assert_string_equal(json_string_value(json_array_get(json_object_get(root, "Env"), 0)),
			    "\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(json_string_value(json_array_get(json_object_get(root, "Env"), 1)),
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(root);
	/* A Labels key hidden behind an invalid byte is not Labels to Go
	 * either; ours are there, and the output is still valid. */
	root = rewrite_ok(REWRITE_LABELS, S("{\"Labels\xff\":{\"a\":\"b\"}}"));
	assert_our_labels(root);
	assert_non_null(json_object_get(root, "Labels\xef\xbf\xbd"));
	json_decref(root);
	/* Truncated sequence at the very end of the body. */
	root = rewrite_ok(REWRITE_LABELS, S("{\"a\":\"b\"} \xe2\x84"));
	assert_our_labels(root);
	json_decref(root);
}

static void nul_in_strings(void **state)
{
	json_t *root;
	json_t *v;

	(void)state;
	root = rewrite_ok(REWRITE_CONTAINER_CREATE, S("{\"Image\":\"a\\u0000b\"}"));
	v = json_object_get(root, "Image");
	assert_int_equal(json_string_length(v), 3);
	assert_memory_equal(json_string_value(v), "a\0b", 3);
	json_decref(root);
}

static void body_too_large(void **state)
{
	struct rewrite_spec small = spec;
	static const char body[] = "{\"Image\":\"alpine\",\"Cmd\":[\"sh\"]}";
	struct cw_error err;
	json_t *root;

	(void)state;
	small.max_body = sizeof(body) - 1;
	assert_int_equal(rewrite(REWRITE_CONTAINER_CREATE, &small, S(body), &root, &err), 0);
	assert_our_labels(root);
	json_decref(root);
	small.max_body = sizeof(body) - 2;
	for (int kind = REWRITE_CONTAINER_CREATE; kind <= REWRITE_COMMIT; kind++) {
		assert_int_equal(rewrite(kind, &small, S(body), &root, &err), -413);
		assert_null(root);
	}
	/* Counted before any repair or parse: garbage over the limit is 413. */
	small.max_body = 4;
	assert_int_equal(rewrite(REWRITE_LABELS, &small, S("{}   \xff\xff"), &root, &err), -413);
}

static void not_an_object(void **state)
{
	static const char *const bodies[] = {
		"[]",	   "[{\"Labels\":{}}]", "\"x\"", "1",   "true", "{",	   "{\"a\":}",
		"nul",	   "{'a':1}",		"{a:1}", "\xef\xbb\xbf{}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		for (int kind = REWRITE_CONTAINER_CREATE; kind <= REWRITE_COMMIT; kind++)
			assert_refused(kind, bodies[i], strlen(bodies[i]), -400);
	/* Empty and null are objects for commit only. */
	assert_refused(REWRITE_CONTAINER_CREATE, S(""), -400);
	assert_refused(REWRITE_CONTAINER_CREATE, S("null"), -400);
	assert_refused(REWRITE_CONTAINER_CREATE, S("  \n"), -400);
	assert_refused(REWRITE_LABELS, S(""), -400);
	assert_refused(REWRITE_LABELS, S("null"), -400);
	assert_refused(REWRITE_CONTAINER_CREATE, NULL, 0, -400);
}

static void deep_nesting(void **state)
{
	size_t depth = 100000, n = 0;
	char *body = malloc(depth * 6 + 64);
	struct rewrite_spec big = spec;

	(void)state;
	big.max_body = depth * 6 + 64;
	/* Arrays beyond jansson's depth limit: refused, not a stack overflow. */
	n = (size_t)sprintf(body, "{\"Cmd\":");
	memset(body + n, '[', depth);
	n += depth;
	memset(body + n, ']', depth);
	n += depth;
	body[n++] = '}';
	{
		struct cw_error err;
		json_t *root;

		assert_int_equal(rewrite(REWRITE_CONTAINER_CREATE, &big, body, n, &root, &err),
				 -400);
	}
	/* Objects, and unterminated. */
	n = 0;
	for (size_t i = 0; i < 5000; i++)
		n += (size_t)sprintf(body + n, "{\"Labels\":");
	{
		struct cw_error err;
		json_t *root;

		assert_int_equal(rewrite(REWRITE_LABELS, &big, body, n, &root, &err), -400);
	}
	/* Nesting jansson does take is rewritten and dumped whole. */
	n = (size_t)sprintf(body, "{\"HostConfig\":{\"x\":");
	for (size_t i = 0; i < 1000; i++)
		n += (size_t)sprintf(body + n, "{\"a\":");
	body[n++] = '1';
	memset(body + n, '}', 1002);
	n += 1002;
	{
		json_t *root = rewrite_ok(REWRITE_CONTAINER_CREATE, body, n);

		assert_our_labels(root);
		assert_our_parent(root);
		json_decref(root);
	}
	free(body);
}

/* ---- container create: the cgroup parent ------------------------------------- */

static void parent_variants(void **state)
{
	static const char *const bodies[] = {
		"{\"Image\":\"a\"}",
		"{\"HostConfig\":null}",
		"{\"HostConfig\":{}}",
		"{\"HostConfig\":{\"Memory\":1048576,\"CgroupParent\":\"/evil\"}}",
		"{\"HostConfig\":{\"cgroupparent\":\"/evil\"}}",
		"{\"HostConfig\":{\"CGROUPPARENT\":\"/a\",\"cgroupParent\":\"/b\",\"CgroupParent\":\"/c\"}}",
		"{\"HostConfig\":{\"CgroupParent\":\"/evil\",\"CgroupParent\":\"/evil2\"}}",
		"{\"HostConfig\":{\"CgroupParent\":null}}",
		"{\"HostConfig\":{\"CgroupParent\":1}}",
		"{\"HostConfig\":{\"\\u0043groupParent\":\"/evil\"}}",
		"{\"hostconfig\":{\"CgroupParent\":\"/evil\"}}",
		"{\"HOSTCONFIG\":null}",
		"{\"Ho\xc5\xbftConfig\":{\"cgroupparent\":\"/evil\"}}",
		"{\"HostConfig\":{\"Memory\":1},\"hostconfig\":{\"CgroupParent\":\"/evil\"}}",
		"{\"HostConfig\":{\"CgroupParent\":\"/evil\"},\"hostconfig\":null}",
		"{\"hostConfig\":null,\"HostConfig\":{\"cgroupparent\":\"/evil\"}}",
		"{\"CgroupParent\":\"/evil\"}",
		"{\"cgroupparent\":\"/evil\",\"HostConfig\":{}}",
		"{\"CgroupParent\":\"/evil\",\"Memory\":1,\"HostConfig\":null}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		json_t *root = rewrite_ok(REWRITE_CONTAINER_CREATE, bodies[i], strlen(bodies[i]));

		assert_our_labels(root);
		assert_our_parent(root);
		json_decref(root);
	}
}

static void parent_keeps_other_fields(void **state)
{
	json_t *root, *hc;

	(void)state;
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"Image\":\"a\",\"HostConfig\":{\"Memory\":1048576,"
			    "\"Binds\":[\"/a:/b\"],\"CgroupParent\":\"/evil\"},"
			    "\"NetworkingConfig\":{\"EndpointsConfig\":{}}}"));
	assert_our_parent(root);
	hc = json_object_get(root, "HostConfig");
	assert_int_equal(json_integer_value(json_object_get(hc, "Memory")), 1048576);
	assert_string_equal(json_string_value(json_array_get(json_object_get(hc, "Binds"), 0)),
			    "/a:/b");
	assert_non_null(json_object_get(root, "NetworkingConfig"));
	json_decref(root);
}

static void parent_wrong_type(void **state)
{
	(void)state;
	assert_refused(REWRITE_CONTAINER_CREATE, S("{\"HostConfig\":\"x\"}"), -400);
	assert_refused(REWRITE_CONTAINER_CREATE, S("{\"HostConfig\":[]}"), -400);
	assert_refused(REWRITE_CONTAINER_CREATE, S("{\"HostConfig\":{},\"hostconfig\":1}"), -400);
}

static void parent_unset(void **state)
{
	struct rewrite_spec none = spec;
	struct cw_error err;
	json_t *root;

	(void)state;
	none.cgroup_parent = NULL;
	assert_int_equal(rewrite(REWRITE_CONTAINER_CREATE, &none,
				 S("{\"HostConfig\":{\"CgroupParent\":\"/theirs\"}}"), &root, &err),
			 0);
	assert_our_labels(root);
	assert_string_equal(json_string_value(json_object_get(json_object_get(root, "HostConfig"),
							      "CgroupParent")),
			    "/theirs");
	assert_null(json_object_get(root, "CgroupParent"));
	json_decref(root);
	assert_int_equal(rewrite(REWRITE_CONTAINER_CREATE, &none, S("{}"), &root, &err), 0);
	assert_null(json_object_get(root, "HostConfig"));
	json_decref(root);
}

/* SPEC: named volumes that a container create would make implicitly are
 * labelled too. For a volume mount the daemon creates a missing volume with
 * Mounts[].VolumeOptions.Labels, so that is where ours belong. */
static void mounts_volume_labelled(void **state)
{
	json_t *root, *mounts, *m, *labels;
	size_t i;

	(void)state;
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"Image\":\"a\",\"HostConfig\":{\"Mounts\":["
			    "{\"Type\":\"volume\",\"Source\":\"data\",\"Target\":\"/data\"},"
			    "{\"Type\":\"volume\",\"Source\":\"cache\",\"Target\":\"/c\","
			    "\"VolumeOptions\":{\"Labels\":{\"mine\":\"1\"}}},"
			    "{\"Type\":\"bind\",\"Source\":\"/tmp\",\"Target\":\"/t\"}]}}"));
	mounts = json_object_get(json_object_get(root, "HostConfig"), "Mounts");
	assert_int_equal(json_array_size(mounts), 3);
	json_array_foreach(mounts, i, m)
	{
		if (strcmp(json_string_value(json_object_get(m, "Type")), "volume") != 0)
			continue;
		labels = json_object_get(json_object_get(m, "VolumeOptions"), "Labels");
		if (!json_is_object(labels) ||
		    !json_equal(json_object_get(labels, "ci-wrap.session"),
				json_object_get(our_labels, "ci-wrap.session")))
			fail_msg("volume mount %s would be created unlabelled: %s",
				 json_string_value(json_object_get(m, "Source")),
				 json_dumps(m, JSON_COMPACT));
	}
	labels = json_object_get(json_object_get(json_array_get(mounts, 1), "VolumeOptions"),
				 "Labels");
	assert_string_equal(label(labels, "mine"), "1");
	json_decref(root);
}

/* The Mounts of root's HostConfig spellings: one "Mounts" key in those that
 * have any, all equal to want (a JSON text). */
static void assert_mounts(json_t *root, const char *want)
{
	json_auto_t *w = json_loads(want, 0, NULL);
	const char *key, *hkey;
	json_t *hc, *v;
	int n = 0;

	assert_non_null(w);
	json_object_foreach(root, key, hc)
	{
		if (!go_folds(key, "hostconfig"))
			continue;
		json_object_foreach(hc, hkey, v)
		{
			if (go_folds(hkey, "mounts") && strcmp(hkey, "Mounts") != 0)
				fail_msg("a second spelling of Mounts survived: %s", hkey);
		}
		v = json_object_get(hc, "Mounts");
		if (v == NULL)
			continue; /* decodes into what the others left: the same */
		if (!json_equal(v, w))
			fail_msg("%s.Mounts = %s, want %s", key, json_dumps(v, JSON_COMPACT), want);
		n++;
	}
	if (json_array_size(w) > 0 && n == 0)
		fail_msg("no HostConfig spelling has the Mounts %s", want);
}

#define OURS                                                                                \
	"{\"ci-wrap.session\":\"sess-1\",\"ci-wrap.job\":\"job-1\",\"ci-wrap.owner\":"     \
	"\"host/boot/42/1000\",\"team\":\"infra\"}"

/* issue 15 item 4: spellings of Mounts and of its fields decode as Go 1.19's
 * decoder does (the last spelling wins, a null pointer or map resets, a later
 * array decodes into the elements an earlier one left), and what is written
 * is that one result, each volume mount labelled. */
static void mounts_go_decoding(void **state)
{
	json_t *root;

	(void)state;
	/* Two spellings of VolumeOptions, the last null: labelled anyway. */
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v\","
			    "\"Target\":\"/d\",\"VolumeOptions\":{\"Labels\":{\"a\":\"1\"}},"
			    "\"volumeoptions\":null}]}}"));
	assert_mounts(root, "[{\"Type\":\"volume\",\"Source\":\"v\",\"Target\":\"/d\","
			    "\"VolumeOptions\":{\"Labels\":" OURS "}}]");
	json_decref(root);
	/* Labels spelled twice inside, the last null; NoCopy and DriverConfig
	 * merged field by field; unknown keys dropped as Go ignores them. */
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"HostConfig\":{\"Mounts\":[{\"tYpe\":\"volume\",\"\xc5\xbfource\":\"v\","
			    "\"VolumeOptions\":{\"labels\":{\"a\":\"1\"},\"NoCopy\":true,"
			    "\"DriverConfig\":{\"Name\":\"local\"},\"x\":1},"
			    "\"VOLUMEOPTIONS\":{\"LABELS\":null,\"NoCopy\":null,"
			    "\"driverconfig\":{\"Options\":{\"o\":\"1\"}}}}]}}"));
	assert_mounts(root, "[{\"Type\":\"volume\",\"Source\":\"v\",\"VolumeOptions\":{"
			    "\"NoCopy\":true,\"DriverConfig\":{\"Name\":\"local\",\"Options\":{\"o\":"
			    "\"1\"}},\"Labels\":" OURS "}}]");
	json_decref(root);
	/* A second Mounts spelling decodes into the first one's element. */
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v1\","
			    "\"Target\":\"/a\"}],\"mounts\":[{\"Source\":\"v2\","
			    "\"VolumeOptions\":null}]}}"));
	assert_mounts(root, "[{\"Type\":\"volume\",\"Source\":\"v2\",\"Target\":\"/a\","
			    "\"VolumeOptions\":{\"Labels\":" OURS "}}]");
	json_decref(root);
	/* Past len but within cap: a stale element is decoded into. */
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"HostConfig\":{\"Mounts\":[{\"Target\":\"/a\"},{\"Type\":\"volume\","
			    "\"Source\":\"b\"},{}],\"mounts\":[{}],\"MOUNTS\":[{},{\"Target\":\"/z\"}]}}"));
	assert_mounts(root, "[{\"Target\":\"/a\"},{\"Type\":\"volume\",\"Source\":\"b\","
			    "\"Target\":\"/z\",\"VolumeOptions\":{\"Labels\":" OURS "}}]");
	json_decref(root);
	/* Every element up to cap is revived before the array grows. */
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"HostConfig\":{\"Mounts\":[{},{},{},{\"Type\":\"volume\"}],"
			    "\"mounts\":[{}],\"MOUNTS\":[{},{},{},{},{\"Target\":\"/e\"}]}}"));
	assert_mounts(root, "[{},{},{},{\"Type\":\"volume\",\"VolumeOptions\":{\"Labels\":" OURS
			    "}},{\"Target\":\"/e\"}]");
	json_decref(root);
	/* An empty array or null empties it; a null HostConfig resets it. */
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"volume\"}],\"mounts\":[]}}"));
	assert_mounts(root, "[]");
	json_decref(root);
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"x\"}]},"
			    "\"hostconfig\":null,\"HOSTCONFIG\":{\"Mounts\":[{\"Target\":\"/t\"}]}}"));
	assert_mounts(root, "[{\"Target\":\"/t\"}]");
	json_decref(root);
	/* A null element leaves the element as it was. */
	root = rewrite_ok(REWRITE_CONTAINER_CREATE,
			  S("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"volume\"}],\"mounts\":[null]}}"));
	assert_mounts(root, "[{\"Type\":\"volume\",\"VolumeOptions\":{\"Labels\":" OURS "}}]");
	json_decref(root);
	/* Types the daemon refuses are refused here. */
	assert_refused(REWRITE_CONTAINER_CREATE, S("{\"HostConfig\":{\"Mounts\":{}}}"), -400);
	assert_refused(REWRITE_CONTAINER_CREATE, S("{\"HostConfig\":{\"Mounts\":[1]}}"), -400);
	assert_refused(REWRITE_CONTAINER_CREATE,
		       S("{\"HostConfig\":{\"Mounts\":[{\"VolumeOptions\":[]}]}}"), -400);
	assert_refused(REWRITE_CONTAINER_CREATE,
		       S("{\"HostConfig\":{\"Mounts\":[{\"VolumeOptions\":{\"Labels\":{\"a\":1}}}]}}"),
		       -400);
}

/* A create body whose Binds are n entries over `distinct` volume names. */
static char *binds_body(size_t n, size_t distinct, size_t *len)
{
	char *buf = NULL;
	size_t cap = 0;
	FILE *f = open_memstream(&buf, &cap);

	fputs("{\"Image\":\"a\",\"HostConfig\":{\"Binds\":[", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\"vol-%zu:/d%zu\"", i ? "," : "", i % distinct, i);
	fputs("]}}", f);
	fclose(f);
	*len = strlen(buf);
	return buf;
}

/* issue 15 item 9: implicit volumes per create are capped, and their
 * creates count against the body budget. */
static void binds_capped(void **state)
{
	struct rewrite_spec sp = spec;
	struct cw_error err;
	json_t *root, *volumes = NULL;
	char *body, *out = NULL;
	size_t len, outlen;

	(void)state;
	sp.max_body = 16u << 20;
	body = binds_body(REWRITE_MAX_IMPLICIT_VOLUMES, REWRITE_MAX_IMPLICIT_VOLUMES, &len);
	assert_int_equal(rewrite_body(REWRITE_CONTAINER_CREATE, &sp, body, len, &out, &outlen,
				      &volumes, &err),
			 0);
	assert_int_equal(json_array_size(volumes), REWRITE_MAX_IMPLICIT_VOLUMES);
	json_decref(volumes);
	free(out);
	free(body);
	body = binds_body(REWRITE_MAX_IMPLICIT_VOLUMES + 1, REWRITE_MAX_IMPLICIT_VOLUMES + 1, &len);
	assert_int_equal(rewrite_body(REWRITE_CONTAINER_CREATE, &sp, body, len, &out, &outlen,
				      &volumes, &err),
			 -403);
	assert_non_null(strstr(err.msg, "256"));
	assert_null(volumes);
	free(body);
	/* 200,000 binds of a few names: one volume create per name. */
	body = binds_body(200000, 3, &len);
	assert_int_equal(rewrite_body(REWRITE_CONTAINER_CREATE, &sp, body, len, &out, &outlen,
				      &volumes, &err),
			 0);
	assert_int_equal(json_array_size(volumes), 3);
	json_decref(volumes);
	free(out);
	free(body);
	/* The volume creates count with the body against max_body. */
	body = binds_body(200, 200, &len);
	assert_int_equal(rewrite(REWRITE_CONTAINER_CREATE, &sp, body, len, &root, &err), 0);
	json_decref(root);
	sp.max_body = len + 1000;
	assert_int_equal(rewrite_body(REWRITE_CONTAINER_CREATE, &sp, body, len, &out, &outlen,
				      &volumes, &err),
			 -413);
	assert_null(volumes);
	free(body);
}

/* ---- commit --------------------------------------------------------------------- */

/* Rewrite a container create and return the volume creates it asks for
 * (NULL for none); the rewritten body is checked and dropped. */
static json_t *bind_volumes(const char *body, size_t len)
{
	struct cw_error err = { 0 };
	json_t *volumes = (json_t *)1;
	char *out = NULL;
	size_t outlen;

	assert_int_equal(rewrite_body(REWRITE_CONTAINER_CREATE, &spec, body, len, &out, &outlen,
				      &volumes, &err),
			 0);
	free(out);
	return volumes;
}

static void assert_volume(json_t *v, const char *name, const char *driver)
{
	assert_string_equal(json_string_value(json_object_get(v, "Name")), name);
	assert_true(json_equal(json_object_get(v, "Labels"), our_labels));
	if (driver)
		assert_string_equal(json_string_value(json_object_get(v, "Driver")), driver);
	else
		assert_null(json_object_get(v, "Driver"));
}

/* "name:/path" binds name volumes the daemon would create unlabelled; host
 * paths and anonymous volumes ask for nothing; a name used twice, once. */
static void binds_name_volumes(void **state)
{
	json_t *v;

	(void)state;
	v = bind_volumes(S("{\"HostConfig\":{\"Binds\":[\"cache:/c\",\"/tmp:/t\",\"/anon\","
			   "\"cache:/c2:ro\",\"data:/d:rw,z\",7]}}"));
	assert_int_equal(json_array_size(v), 2);
	assert_volume(json_array_get(v, 0), "cache", NULL);
	assert_volume(json_array_get(v, 1), "data", NULL);
	json_decref(v);
	assert_null(bind_volumes(S("{\"HostConfig\":{\"Binds\":[\"/a:/b\",\"/only\"]}}")));
	assert_null(bind_volumes(S("{\"Image\":\"x\"}")));
	assert_null(bind_volumes(S("{\"HostConfig\":{\"Binds\":\"vol:/x\"}}")));
}

/* Any spelling Go would read counts (a superset is harmless), the top-level
 * HostConfig fields of old clients too, with the container's VolumeDriver. */
static void binds_spellings_and_driver(void **state)
{
	json_t *v;

	(void)state;
	v = bind_volumes(S("{\"hostconfig\":{\"BINDS\":[\"a:/a\"],\"volumedriver\":\"local\"},"
			   "\"Binds\":[\"b:/b\"]}"));
	assert_int_equal(json_array_size(v), 2);
	assert_volume(json_array_get(v, 0), "b", NULL);
	assert_volume(json_array_get(v, 1), "a", "local");
	json_decref(v);
}

static void commit_empty(void **state)
{
	static const char *const bodies[] = { "", "null", "  ", "\r\n\t ", " null ", "{}" };

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		json_t *root = rewrite_ok(REWRITE_COMMIT, bodies[i], strlen(bodies[i]));

		assert_int_equal(json_object_size(root), 1);
		assert_true(json_equal(assert_our_labels(root), our_labels));
		json_decref(root);
	}
	{
		json_t *root = rewrite_ok(REWRITE_COMMIT, NULL, 0);

		assert_int_equal(json_object_size(root), 1);
		assert_our_labels(root);
		json_decref(root);
	}
}

static void commit_config(void **state)
{
	json_t *root, *labels;

	(void)state;
	root = rewrite_ok(REWRITE_COMMIT,
			  S("{\"Cmd\":[\"sh\"],\"Labels\":{\"a\":\"b\",\"ci-wrap.session\":\"x\"}}"));
	labels = assert_our_labels(root);
	assert_string_equal(label(labels, "a"), "b");
	assert_non_null(json_object_get(root, "Cmd"));
	/* No cgroup parent on an image config. */
	assert_null(json_object_get(root, "HostConfig"));
	json_decref(root);
}

/* ---- queries ------------------------------------------------------------------- */

struct pair {
	char *raw; /* as sent */
	char *key; /* decoded */
	char *val; /* decoded */
};

struct query {
	struct pair p[32]; /* the pairs in order */
	int n;		   /* how many */
};

static char *qdecode(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			unsigned v;

			assert_true(i + 2 < len);
			assert_int_equal(sscanf(s + i + 1, "%2x", &v), 1);
			out[n++] = (char)v;
			i += 2;
		} else {
			out[n++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	out[n] = '\0';
	return out;
}

static void query_split(const char *q, size_t len, struct query *out)
{
	size_t i = 0;

	out->n = 0;
	while (i < len) {
		const char *amp = memchr(q + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - q) : len;
		const char *eq = memchr(q + i, '=', end - i);
		struct pair *p = &out->p[out->n++];

		assert_true(out->n < 32);
		assert_true(end > i); /* no empty pairs in what we send */
		p->raw = strndup(q + i, end - i);
		p->key = qdecode(q + i, (eq ? (size_t)(eq - q) : end) - i);
		p->val = eq ? qdecode(eq + 1, end - (size_t)(eq + 1 - q)) : strdup("");
		i = end + 1;
	}
}

static void query_free(struct query *q)
{
	for (int i = 0; i < q->n; i++) {
		free(q->p[i].raw);
		free(q->p[i].key);
		free(q->p[i].val);
	}
	q->n = 0;
}

static int count_key(const struct query *q, const char *key)
{
	int n = 0;

	for (int i = 0; i < q->n; i++)
		n += strcmp(q->p[i].key, key) == 0;
	return n;
}

static const char *value_of(const struct query *q, const char *key)
{
	for (int i = 0; i < q->n; i++)
		if (strcmp(q->p[i].key, key) == 0)
			return q->p[i].val;
	return NULL;
}

/* Run rewrite_query(); returns its status, and the new query split. */
static int rewrite_q(enum rewrite_kind kind, const struct rewrite_spec *sp, const char *query,
		     size_t len, struct query *out, struct cw_error *err)
{
	char *text = NULL;
	size_t tlen = 12345;
	int rc;

	memset(err, 0, sizeof(*err));
	out->n = 0;
	rc = rewrite_query(kind, sp, query, len, &text, &tlen, err);
	if (rc == 1) {
		assert_non_null(text);
		assert_int_equal(tlen, strlen(text));
		for (size_t i = 0; i < tlen; i++)
			if (!isgraph((unsigned char)text[i]) || text[i] == '#')
				fail_msg("byte 0x%02x unescaped in query %s", text[i], text);
		query_split(text, tlen, out);
		free(text);
	} else {
		assert_null(text);
		if (rc < 0)
			assert_true(err->msg[0] != '\0');
	}
	return rc;
}

/* The labels= JSON of a build query: exactly one, an object with ours. */
static json_t *build_labels(const struct query *q)
{
	json_error_t jerr;
	json_t *labels;
	const char *key;
	json_t *value;

	assert_int_equal(count_key(q, "labels"), 1);
	labels = json_loads(value_of(q, "labels"), 0, &jerr);
	if (labels == NULL)
		fail_msg("labels= is not JSON (%s): %s", jerr.text, value_of(q, "labels"));
	assert_true(json_is_object(labels));
	json_object_foreach(our_labels, key, value)
	{
		if (!json_equal(json_object_get(labels, key), value))
			fail_msg("label %s missing or not ours in %s", key, value_of(q, "labels"));
	}
	return labels;
}

static void build_query_merges(void **state)
{
	static const char q[] = "t=img%3Alatest&labels=%7B%22a%22%3A%22b+c%22%2C%22ci-wrap.job%22"
				"%3A%22evil%22%7D&cgroupparent=%2Fevil&q=1&forcerm=0&dockerfile=Dockerfile";
	struct query out;
	struct cw_error err;
	json_t *labels;

	(void)state;
	assert_int_equal(rewrite_q(REWRITE_BUILD_QUERY, &spec, S(q), &out, &err), 1);
	labels = build_labels(&out);
	assert_string_equal(json_string_value(json_object_get(labels, "a")), "b c");
	json_decref(labels);
	assert_int_equal(count_key(&out, "cgroupparent"), 1);
	assert_string_equal(value_of(&out, "cgroupparent"), OUR_PARENT);
	/* A failed build's intermediate container is removed, whatever the
	 * client asked: it could not be labelled. */
	assert_int_equal(count_key(&out, "forcerm"), 1);
	assert_string_equal(value_of(&out, "forcerm"), "1");
	/* The client's other parameters, as sent and in order. */
	{
		static const char *const kept[] = { "t=img%3Alatest", "q=1",
						    "dockerfile=Dockerfile" };
		int k = 0;

		for (int i = 0; i < out.n; i++) {
			if (strcmp(out.p[i].key, "labels") == 0 ||
			    strcmp(out.p[i].key, "cgroupparent") == 0 ||
			    strcmp(out.p[i].key, "forcerm") == 0)
				continue;
			assert_true(k < 3);
			assert_string_equal(out.p[i].raw, kept[k++]);
		}
		assert_int_equal(k, 3);
	}
	query_free(&out);
}

static void build_query_spellings(void **state)
{
	static const char *const queries[] = {
		"lab%65ls=%7B%22x%22%3A%22y%22%7D",
		"%6Cabels=%7B%22x%22%3A%22y%22%7D&t=a",
		"labels=%7B%7D&labels=%7B%22x%22%3A%22y%22%7D",
		"labels=%7B%22x%22%3A%22y%22%7D&lab%65ls=%7B%7D&%6c%61%62%65%6c%73=",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct query out;
		struct cw_error err;
		json_t *labels;

		assert_int_equal(rewrite_q(REWRITE_BUILD_QUERY, &spec, queries[i],
					   strlen(queries[i]), &out, &err),
				 1);
		labels = build_labels(&out);
		if (json_object_get(labels, "x") == NULL)
			fail_msg("client label lost from %s", queries[i]);
		json_decref(labels);
		/* No raw spelling of labels survives either. */
		for (int p = 0; p < out.n; p++)
			if (strcmp(out.p[p].key, "labels") == 0)
				assert_memory_equal(out.p[p].raw, "labels=", 7);
		query_free(&out);
	}
}

static void build_query_cgroupparent(void **state)
{
	static const char *const queries[] = {
		"cgroupparent=%2Fevil",
		"cgroupparent=%2Fa&cgroupparent=%2Fb",
		"cgroup%70arent=%2Fevil",
		"cgroupparent",
		"",
	};
	struct rewrite_spec none = spec;

	(void)state;
	none.cgroup_parent = NULL;
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct query out;
		struct cw_error err;
		json_t *labels;

		assert_int_equal(rewrite_q(REWRITE_BUILD_QUERY, &spec, queries[i],
					   strlen(queries[i]), &out, &err),
				 1);
		assert_int_equal(count_key(&out, "cgroupparent"), 1);
		assert_string_equal(value_of(&out, "cgroupparent"), OUR_PARENT);
		labels = build_labels(&out);
		json_decref(labels);
		query_free(&out);
	}
	/* Without a pool, the client's cgroup parent stays. */
	{
		struct query out;
		struct cw_error err;

		assert_int_equal(rewrite_q(REWRITE_BUILD_QUERY, &none, S("cgroupparent=%2Fmine"),
					   &out, &err),
				 1);
		assert_int_equal(count_key(&out, "cgroupparent"), 1);
		assert_string_equal(value_of(&out, "cgroupparent"), "/mine");
		json_decref(build_labels(&out));
		query_free(&out);
	}
}

static void build_query_invalid_labels(void **state)
{
	static const char *const queries[] = {
		"labels=%7Bnot",
		"labels=not-json",
		"labels=%5B%5D",
		"labels=1",
		"labels=%22x%22",
		"t=x&labels=%7B%22a%22%3A%22b%22%7D%7D",
		"labels=%7B%7D&lab%65ls=%5B%5D",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct query out;
		struct cw_error err;
		int rc = rewrite_q(REWRITE_BUILD_QUERY, &spec, queries[i], strlen(queries[i]), &out,
				   &err);

		if (rc != -400)
			fail_msg("build query %s: %d, want -400", queries[i], rc);
	}
}

/* Parse the decoded changes=LABEL "k"="v" ... instruction the way the
 * Dockerfile parser reads a double-quoted word: \ escapes the next byte,
 * and an unescaped $ would expand. Returns the labels as an object. */
static json_t *parse_label_change(const char *change)
{
	json_t *labels = json_object();
	const char *s = change;

	assert_memory_equal(s, "LABEL", 5);
	s += 5;
	while (*s != '\0') {
		char word[2][256];

		assert_int_equal(*s++, ' ');
		for (int w = 0; w < 2; w++) {
			size_t n = 0;

			assert_int_equal(*s++, '"');
			while (*s != '"') {
				assert_true(*s != '\0');
				if (*s == '$')
					fail_msg("unescaped $ in %s", change);
				if (*s == '\\') {
					s++;
					assert_true(*s == '"' || *s == '\\' || *s == '$');
				}
				word[w][n++] = *s++;
				assert_true(n < sizeof(word[w]));
			}
			word[w][n] = '\0';
			s++;
			if (w == 0)
				assert_int_equal(*s++, '=');
		}
		json_object_set_new(labels, word[0], json_string(word[1]));
	}
	return labels;
}

static void import_query(void **state)
{
	json_t *tricky = json_pack("{s:s,s:s,s:s}", "ci-wrap.session", "sess \"1\"", "ci-wrap.job",
				   "C:\\jobs\\$HOME", "ci-wrap.owner", "${x}$(y)`z`");
	struct rewrite_spec sp = spec;
	struct query out;
	struct cw_error err;
	json_t *labels;

	(void)state;
	sp.labels = tricky;
	/* A pull: no fromSrc, nothing to label. */
	assert_int_equal(rewrite_q(REWRITE_IMPORT_QUERY, &sp, S("fromImage=alpine&tag=3"), &out,
				   &err),
			 0);
	assert_int_equal(rewrite_q(REWRITE_IMPORT_QUERY, &sp, S(""), &out, &err), 0);
	assert_int_equal(rewrite_q(REWRITE_IMPORT_QUERY, &sp, S("fromSrcX=-"), &out, &err), 0);
	/* An import: one changes= appended, quoting what the parser expands. */
	assert_int_equal(rewrite_q(REWRITE_IMPORT_QUERY, &sp, S("fromSrc=-&repo=x&tag=y"), &out,
				   &err),
			 1);
	assert_string_equal(out.p[0].raw, "fromSrc=-");
	assert_string_equal(out.p[1].raw, "repo=x");
	assert_string_equal(out.p[2].raw, "tag=y");
	assert_int_equal(out.n, 4);
	assert_string_equal(out.p[3].key, "changes");
	labels = parse_label_change(out.p[3].val);
	assert_true(json_equal(labels, tricky));
	json_decref(labels);
	query_free(&out);
	/* fromSrc spelled with an escape is still an import. */
	assert_int_equal(rewrite_q(REWRITE_IMPORT_QUERY, &sp, S("from%53rc=http%3A%2F%2Fx%2Fa.tar"),
				   &out, &err),
			 1);
	assert_int_equal(count_key(&out, "changes"), 1);
	query_free(&out);
	/* Client changes come first, ours last (the daemon applies in order). */
	assert_int_equal(rewrite_q(REWRITE_IMPORT_QUERY, &sp,
				   S("changes=LABEL%20ci-wrap.session%3Devil&fromSrc=-"), &out, &err),
			 1);
	assert_int_equal(out.n, 3);
	assert_string_equal(out.p[0].val, "LABEL ci-wrap.session=evil");
	labels = parse_label_change(out.p[2].val);
	assert_true(json_equal(labels, tricky));
	json_decref(labels);
	query_free(&out);
	json_decref(tricky);
}

static void changes_query(void **state)
{
	struct query out;
	struct cw_error err;
	json_t *labels;

	(void)state;
	assert_int_equal(rewrite_q(REWRITE_CHANGES_QUERY, &spec,
				   S("container=abc&changes=CMD%20%5B%22sh%22%5D&repo=r&"
				     "changes=LABEL%20ci-wrap.job%3Devil"),
				   &out, &err),
			 1);
	assert_int_equal(out.n, 5);
	assert_string_equal(out.p[0].raw, "container=abc");
	assert_string_equal(out.p[1].val, "CMD [\"sh\"]");
	assert_string_equal(out.p[2].raw, "repo=r");
	assert_string_equal(out.p[3].val, "LABEL ci-wrap.job=evil");
	assert_string_equal(out.p[4].key, "changes");
	labels = parse_label_change(out.p[4].val);
	assert_true(json_equal(labels, our_labels));
	json_decref(labels);
	query_free(&out);
	/* Also with no query at all. */
	assert_int_equal(rewrite_q(REWRITE_CHANGES_QUERY, &spec, S(""), &out, &err), 1);
	assert_int_equal(out.n, 1);
	labels = parse_label_change(value_of(&out, "changes"));
	assert_true(json_equal(labels, our_labels));
	json_decref(labels);
	query_free(&out);
	/* Empty pairs are dropped, nothing else is touched. */
	assert_int_equal(rewrite_q(REWRITE_CHANGES_QUERY, &spec, S("&&container=a&"), &out, &err),
			 1);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.p[0].raw, "container=a");
	query_free(&out);
}

/* issue 15 item 1: the daemon joins changes= with newlines and parses them as
 * a Dockerfile; a client line that continues (or a directive) would swallow
 * or reinterpret the LABEL appended last. */
static void changes_continuation_refused(void **state)
{
	static const char *bad[] = {
		"changes=CMD%20echo%20%5C",		   /* CMD echo \ */
		"changes=CMD%20echo%20%5C%20%09",	   /* trailing blanks after it */
		"changes=CMD%20echo%20%5C%0D",		   /* \r before the newline */
		"changes=LABEL%20ci-wrap.session%3Dforged&changes=CMD%20%60",
		"changes=ENV%20A%3D1%20%5C%0A%23%20c",	   /* a comment line after it */
		"changes=%23%20escape%3D%60%0ACMD%20x",	   /* a parser directive */
		"changes=%20%20%23%20syntax%3Dx",
		"changes=CMD+echo+%5C",			   /* '+' is a space */
	};
	struct query out;
	struct cw_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int k = 0; k < 2; k++) {
			enum rewrite_kind kind = k ? REWRITE_IMPORT_QUERY : REWRITE_CHANGES_QUERY;
			char q[256];

			snprintf(q, sizeof(q), "fromSrc=-&%s", bad[i]);
			if (rewrite_q(kind, &spec, q, strlen(q), &out, &err) != -403)
				fail_msg("not refused: %s", q);
			assert_non_null(strstr(err.msg, "changes"));
		}
	}
	/* Even a continuation inside the client's own text is refused (simpler
	 * than tracking which line comes last); '#' and '\\' inside a line are
	 * kept. */
	assert_int_equal(rewrite_q(REWRITE_CHANGES_QUERY, &spec,
				   S("changes=ENV%20A%3D1%20%5C%0A%20B%3D2"), &out, &err),
			 -403);
	assert_int_equal(rewrite_q(REWRITE_CHANGES_QUERY, &spec,
				   S("changes=LABEL%20a%3D%23%5Cx%20b%3D%22%5C%5C%22"), &out, &err),
			 1);
	assert_string_equal(out.p[0].val, "LABEL a=#\\x b=\"\\\\\"");
	query_free(&out);
}

/* issue 15 item 2: a start body below API 1.24 replaces the HostConfig. */
static void start_body_refused(void **state)
{
	static const char *ok[] = { "", "{}", "null", " {} ", "\r\nnull", "  " };
	static const char *bad[] = {
		"{\"CgroupParent\":\"/\"}", "{}      ", "[]", "0", "{ }", "nul", "{}{}",
		"{\"Binds\":[\"v:/d\"]}",
	};
	struct cw_error err;
	char *out;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		out = NULL;
		assert_int_equal(rewrite_body(REWRITE_START_BODY, &spec, ok[i], strlen(ok[i]), &out,
					      &len, NULL, &err),
				 0);
		assert_int_equal(len, 0); /* forwarded as no body at all */
		free(out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rewrite_body(REWRITE_START_BODY, &spec, bad[i], strlen(bad[i]), &out, &len,
				 NULL, &err) != -403)
			fail_msg("start body not refused: %s", bad[i]);
		assert_non_null(strstr(err.msg, "HostConfig"));
	}
	assert_int_equal(rewrite_body(REWRITE_START_BODY, &spec, NULL, 0, &out, &len, NULL, &err),
			 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(key_folds),
		cmocka_unit_test(key_folds_every_rune),
		cmocka_unit_test(binds_name_volumes),
		cmocka_unit_test(binds_spellings_and_driver),
		cmocka_unit_test(labels_added),
		cmocka_unit_test(client_labels_kept),
		cmocka_unit_test(client_cannot_override),
		cmocka_unit_test(labels_spellings),
		cmocka_unit_test(labels_duplicates),
		cmocka_unit_test(labels_null),
		cmocka_unit_test(labels_wrong_type),
		cmocka_unit_test(trailing_garbage),
		cmocka_unit_test(invalid_utf8),
		cmocka_unit_test(nul_in_strings),
		cmocka_unit_test(body_too_large),
		cmocka_unit_test(not_an_object),
		cmocka_unit_test(deep_nesting),
		cmocka_unit_test(parent_variants),
		cmocka_unit_test(parent_keeps_other_fields),
		cmocka_unit_test(parent_wrong_type),
		cmocka_unit_test(parent_unset),
		cmocka_unit_test(mounts_volume_labelled),
		cmocka_unit_test(mounts_go_decoding),
		cmocka_unit_test(binds_capped),
		cmocka_unit_test(commit_empty),
		cmocka_unit_test(commit_config),
		cmocka_unit_test(build_query_merges),
		cmocka_unit_test(build_query_spellings),
		cmocka_unit_test(build_query_cgroupparent),
		cmocka_unit_test(build_query_invalid_labels),
		cmocka_unit_test(import_query),
		cmocka_unit_test(changes_query),
		cmocka_unit_test(changes_continuation_refused),
		cmocka_unit_test(start_body_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
