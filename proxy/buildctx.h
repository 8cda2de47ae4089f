/* buildctx.h - the base images a classic `docker build` (POST /build, API
 * 1.41, dockerd 20.10) will use, read from its build context as the body
 * passes, so that a session cannot build FROM another session's image.
 *
 * 1. buildctx_new() with the request's `dockerfile` and `buildargs` values.
 * 2. buildctx_feed() with each run of body bytes (a tar stream, plain or
 *    gzip-compressed), in order.
 * 3. buildctx_images() once the body is whole, before its last bytes are
 *    released to the daemon; then buildctx_free().
 *
 * The context is read as dockerd reads it (Go's archive/tar, the untar into
 * a fresh directory, the Dockerfile then opened by path): the last entry
 * with the Dockerfile's name wins, and an entry that could replace it by
 * another way (a link, a write through a symbolic link) makes the result
 * "unreadable". Only the Dockerfile's bytes and one header are held.
 */
#ifndef CI_WRAP_BUILDCTX_H
#define CI_WRAP_BUILDCTX_H

#include <jansson.h>
#include <stddef.h>

struct buildctx;

/* dockerfile: the build's `dockerfile` query value (NULL or "": "Dockerfile");
 * buildargs: the decoded `buildargs` query JSON object (string values, may be
 * NULL), borrowed for the call only. NULL when out of memory. */
struct buildctx *buildctx_new(const char *dockerfile, json_t *buildargs);

/* Body bytes as they pass (HTTP framing already taken off). 0: go on; -1:
 * the context cannot be read (bzip2/xz compression, not a tar, a Dockerfile
 * over BUILDCTX_DOCKERFILE_MAX, ...), *why set to a static message. After -1
 * (each later call: -1 again, same *why) or after the archive's end, further
 * bytes are skipped cheaply; the archive is read to its end, as the last
 * entry named like the Dockerfile wins. */
int buildctx_feed(struct buildctx *b, const char *at, size_t n, const char **why);

/* The body is whole: a new JSON array of the image references the FROM lines
 * name (deduplicated; stage names defined by an earlier `FROM x AS name` and
 * `scratch` left out), or NULL with *why (no Dockerfile found in the context,
 * unreadable). */
json_t *buildctx_images(struct buildctx *b, const char **why);

void buildctx_free(struct buildctx *b);

/* The refusal of a gzip context that inflates past 64 times its size plus
 * 1 MiB (where it is told depends on how the body was cut). */
#define BUILDCTX_RATIO_ERR \
	"the build context inflates to more than 64 times its gzip size, more than ci-wrap reads"
#define BUILDCTX_DOCKERFILE_MAX (1024 * 1024)

/* More distinct base images than this in one Dockerfile is refused. */
#define BUILDCTX_IMAGES_MAX 64

#endif
