/* test_dockerfile.c - a Dockerfile's FROM and ARG lines as the classic
 * builder reads them: stages, meta ARGs and buildargs, the escape
 * directive, continuations, quotes, limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../proxy/dockerfile.h"

/* want: the JSON array expected, or "!" followed by a part of the reason. */
static void expect_df(const char *dockerfile, const char *args, const char *want)
{
	json_t *ba = args ? json_loads(args, 0, NULL) : NULL;
	const char *why = NULL;
	json_t *got = dockerfile_base_images(dockerfile, strlen(dockerfile), ba, &why);
	char *s = got ? json_dumps(got, JSON_COMPACT) : NULL;

	if (want[0] == '!') {
		if (got || !why || !strstr(why, want + 1))
			fail_msg("%s: got %s (%s), want failure \"%s\"", dockerfile,
				 s ? s : "NULL", why ? why : "-", want + 1);
	} else if (!s || strcmp(s, want) != 0) {
		fail_msg("%s: got %s (%s), want %s", dockerfile, s ? s : "NULL",
			 why ? why : "-", want);
	}
	free(s);
	json_decref(got);
	json_decref(ba);
}

static void stages_and_scratch(void **state)
{
	(void)state;
	expect_df("FROM --platform=$BUILDPLATFORM golang:1.21 AS Build\n"
		  "FROM scratch\n"
		  "FROM build\n"
		  "from BUILD as second\n"
		  "FROM alpine\n"
		  "FROM alpine\n"
		  "FROM second\n",
		  NULL, "[\"golang:1.21\",\"alpine\"]");
	/* a stage is named only after its FROM */
	expect_df("FROM same AS same\nFROM same\n", NULL, "[\"same\"]");
	expect_df("FROM later\nFROM base AS later\n", NULL, "[\"later\",\"base\"]");
	expect_df("FROM scratch\n", NULL, "[]");
}

static void args_and_buildargs(void **state)
{
	const char *df = "ARG BASE=alpine\n"
			 "ARG TAG\n"
			 "ARG REG=\"docker.io/library\"\n"
			 "FROM ${BASE}:${TAG:-3}\n"
			 "FROM $REG/$BASE${TAG:+-x}\n";

	(void)state;
	expect_df(df, NULL, "[\"alpine:3\",\"docker.io/library/alpine\"]");
	expect_df(df, "{\"TAG\": \"edge\"}",
		  "[\"alpine:edge\",\"docker.io/library/alpine-x\"]");
	expect_df(df, "{\"BASE\": \"busybox\", \"TAG\": null}",
		  "[\"busybox:3\",\"docker.io/library/busybox\"]");
	/* a buildarg the Dockerfile does not declare before FROM is ignored */
	expect_df("FROM ${X:-alpine}\nARG X\n", "{\"X\": \"evil\"}", "[\"alpine\"]");
	/* ARG values see the ARGs before their line */
	expect_df("ARG A=one\nARG B=${A}-two C=$B\nFROM $B$C\n", NULL, "[\"one-two\"]");
	expect_df("ARG A=one\nARG A\nFROM x${A}\n", NULL, "[\"x\"]");
	/* ARG after the first FROM is not a meta ARG */
	expect_df("FROM a\nARG IMG=b\nFROM $IMG\n", NULL, "!empty image");
}

static void unresolvable(void **state)
{
	(void)state;
	expect_df("FROM alpine$\n", NULL, "!cannot resolve");
	expect_df("FROM ${X\n", NULL, "!");
	expect_df("FROM ${X-y}\n", NULL, "!");
	expect_df("ARG X\nFROM ${X?must}\n", NULL, "!must be set");
	expect_df("FROM $X\n", NULL, "!empty image");
	expect_df("FROM \\$X\n", NULL, "!cannot resolve");
	expect_df("RUN true\n", NULL, "!no FROM");
	expect_df("FROM a b\n", NULL, "!malformed");
	expect_df("FROM a AS 1bad\n", NULL, "!invalid stage");
	expect_df("FROM alpine # comment\n", NULL, "!malformed");
}

static void escape_and_continuations(void **state)
{
	(void)state;
	expect_df("# escape=`\nFROM `\n  alp`ine\n", NULL, "[\"alpine\"]");
	expect_df("#escape = \\\nFROM \\\n alpine\n", NULL, "[\"alpine\"]");
	/* after a comment the directive is only a comment */
	expect_df("# hello\n# escape=`\nFROM alpine`\n", NULL, "[\"alpine`\"]");
	expect_df("# syntax=docker/dockerfile:1\n# escape=`\nFROM `\nalpine\n", NULL,
		  "[\"alpine\"]");
	expect_df("# escape=x\nFROM a\n", NULL, "!escape directive");
	expect_df("FROM \\\n# a comment inside\n\n   \n  alpine \\\n  AS b\nFROM b\n", NULL,
		  "[\"alpine\"]");
	/* an escaped escape at the end is not a continuation */
	expect_df("FROM a\\\\\nFROM b\n", NULL, "[\"a\\\\\",\"b\"]");
}

static void comments_and_case(void **state)
{
	(void)state;
	expect_df("\xef\xbb\xbf# comment\r\n\r\n   # indented comment\r\n\tfRoM\talpine:3\r\n"
		  "RUN echo FROM evil\n",
		  NULL, "[\"alpine:3\"]");
	expect_df("FROM \xc2\xa0" "alpine\xc2\xa0\n", NULL, "[\"\xc2\xa0" "alpine\"]");
	expect_df("FROM\xc2\xa0" "alpine\n", NULL, "!no FROM");
}

static void quotes(void **state)
{
	(void)state;
	expect_df("ARG IMG='alpine:3'\nFROM \"$IMG\"\n", NULL, "[\"alpine:3\"]");
	expect_df("ARG IMG=\"a b\"\nFROM x\"$IMG\"\n", NULL, "[\"xa b\"]");
	expect_df("FROM 'x\n", NULL, "!");
}

static void too_many_images(void **state)
{
	char *df = malloc(70 * 16);
	size_t o = 0;

	(void)state;
	for (int i = 0; i < 65; i++)
		o += (size_t)sprintf(df + o, "FROM img%d\n", i);
	const char *why = NULL;
	json_t *got = dockerfile_base_images(df, o, NULL, &why);
	assert_null(got);
	assert_non_null(strstr(why, "64"));
	free(df);
}

static void exponential_args(void **state)
{
	(void)state;
	expect_df("ARG A=xxxxxxxxxxxxxxxx\nARG B=$A$A$A$A$A$A$A$A\nARG C=$B$B$B$B$B$B$B$B\n"
		  "ARG D=$C$C$C$C$C$C$C$C\nARG E=$D$D$D$D$D$D$D$D\nFROM $E\n",
		  NULL, "!64 KiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stages_and_scratch),
		cmocka_unit_test(args_and_buildargs),
		cmocka_unit_test(unresolvable),
		cmocka_unit_test(escape_and_continuations),
		cmocka_unit_test(comments_and_case),
		cmocka_unit_test(quotes),
		cmocka_unit_test(too_many_images),
		cmocka_unit_test(exponential_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
