/* teardown.h - remove everything labelled with a session, in the SPEC's
 * order: swarm services, containers (SIGTERM, grace, SIGKILL, remove with
 * anonymous volumes, in parallel), then networks, volumes, swarm secrets and
 * configs, images; then what carries no label but the proxy saw the
 * session make (opts->tracked): anonymous volumes of its containers, images
 * a load brought or a classic build left, tags a load or `docker tag` put
 * on older images (given back to the image they named before, if any).
 *
 * teardown_session() never fails as a whole: what it cannot remove is
 * recorded in result->leaked and the caller reports it.
 */
#ifndef CI_WRAP_TEARDOWN_H
#define CI_WRAP_TEARDOWN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/kinds.h"
#include "docker.h"

struct teardown_opts {
	const char *session; /* value of ci-wrap.session to remove */
	int64_t grace_ms;    /* SIGTERM to SIGKILL */
	bool keep_images;    /* leave labelled images */
	bool dry_run;	     /* list, remove nothing */
	json_t *tracked;     /* what the proxy (proxy_tracked()) or the registry
			      * (registry_tracked()) recorded, or NULL */
	bool progress;	     /* show progress on stderr after a second */
};

struct teardown_result {
	unsigned removed[RESOURCE__COUNT]; /* by kind */
	json_t *leaked;			   /* array of {type, id, error} */
};

void teardown_session(struct docker *d, const struct teardown_opts *o,
		      struct teardown_result *res);

/* "3 containers, 1 network" for the summary line; "nothing" if none. */
void teardown_describe(const unsigned counts[RESOURCE__COUNT], char *buf, size_t size);

#endif
