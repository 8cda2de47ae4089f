/* dockerfile.h - the base images a Dockerfile's FROM lines name, read as the
 * classic builder of dockerd 20.10 reads them (escape directive, line
 * continuations, meta ARGs and buildargs, stage names). buildctx.c finds the
 * Dockerfile in a build context and hands its bytes here.
 */
#ifndef CI_WRAP_DOCKERFILE_H
#define CI_WRAP_DOCKERFILE_H

#include <jansson.h>
#include <stddef.h>

/* text, len: the Dockerfile's bytes (no NUL needed); buildargs: the build's
 * `buildargs` object (string values) or NULL, borrowed. A new JSON array of
 * the image references the FROM lines name (deduplicated, in order; stage
 * names defined by an earlier `FROM x AS name` and `scratch` left out), or
 * NULL with *why set to a static message. */
json_t *dockerfile_base_images(const char *text, size_t len, const json_t *buildargs,
			       const char **why);

/* More distinct base images than this in one Dockerfile is refused. */
#define DOCKERFILE_IMAGES_MAX 64

#endif
