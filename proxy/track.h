/* track.h - what a session makes that no label can mark, read from the
 * daemon's answers as the proxy relays them: the ID each create returns,
 * the images a load brings and a classic build leaves behind (steps of a
 * failed build, earlier stages), each container's anonymous volumes, and
 * the tags a load or `docker tag` put on images from before the session.
 *
 * 1. track_new() with the proxy's loop and config.
 * 2. track_request() when a request's head is routed, before it is
 *    forwarded: an answer to read, nothing, or (a load, a tag) a wait while
 *    the images are listed; track_wait_cancel() if the connection goes first.
 * 3. track_answer_bytes() with each piece of the answer's body,
 *    track_answer_end() when it is over: a load or a tag then lists the
 *    images again, on the loop, and records what changed.
 * 4. track_when_idle() when the last connection is gone: the container
 *    inspections and image lists in flight finish; track_cancel() if the
 *    drain times out first.
 * 5. track_result() hands teardown what was recorded (see below).
 */
#ifndef CI_WRAP_TRACK_H
#define CI_WRAP_TRACK_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "proxy.h"
#include "route.h"

/* Longest line of a tracked answer that is read; longer ones (progress
 * bars, a huge Warnings array) are skipped. */
#define TRACK_LINE_MAX 4096

struct track;
struct track_answer;
struct track_wait;

/* The images are listed: forward the request now, reading its answer with
 * a, or NULL when the list failed (a warning said so: it is not tracked). */
typedef void (*track_ready_fn)(void *arg, struct track_answer *a);

/* images_created: the proxy's counter, bumped for each image a load brings. */
struct track *track_new(struct ev_loop *loop, const struct proxy_config *cfg,
			uint64_t *images_created);
void track_free(struct track *t);

/* A request (route r, llhttp method, its target as sent) is routed, let
 * through (policy, ownership) and not yet forwarded. Returns 0 with *out
 * set at once: the answer to read, or NULL when it tells nothing worth
 * keeping (or the images cannot be listed). Returns 1 for a load or a tag
 * (POST /images/load, /images/{name}/tag) with cfg->list_images, which the
 * daemon must not see before the images are listed: *wait is set; hold the
 * request (read no more of it) until ready(arg, a) runs from the loop
 * (never inside this call), then forward it and read its answer with a.
 * track_wait_cancel(*wait) if the connection goes first: ready is then
 * never called. An answer a is the caller's until track_answer_end(), even
 * for a request refused after all; every wait ends before track_free(). */
int track_request(struct track *t, const struct route *r, uint8_t method, const char *target,
		  size_t len, track_ready_fn ready, void *arg, struct track_answer **out,
		  struct track_wait **wait);

/* Drop a wait (NULL: nothing); everything it held is freed. */
void track_wait_cancel(struct track_wait *w);

/* Body bytes of the answer, chunked framing taken off; status is its HTTP
 * status. */
void track_answer_bytes(struct track *t, struct track_answer *a, int status, const char *at,
			size_t n);

/* The answer is over (or the connection is): record, and take a (the
 * caller is done with it). A 2xx load or tag is recorded later, when the
 * images listed after it are in: the tracker holds a till then. */
void track_answer_end(struct track *t, struct track_answer *a, int status);

/* Call done(arg) once no container inspection and no image list after a
 * load or a tag is in flight (at once if none is). */
void track_when_idle(struct track *t, void (*done)(void *arg), void *arg);

/* Cut the inspections and image lists still in flight (the drain timed
 * out): a load or a tag cut so is not undone, with a warning. */
void track_cancel(struct track *t);

/* What was recorded, an object the tracker owns:
 *   "since":   unix time the tracker started: anything older is not ours
 *   "made":    {"container": {ID: true...}, "network": {...}, ...}: every
 *              ID a create answered with, by kind (kind_name()),
 *              less those the job was seen to remove
 *   "images":  image IDs to remove, in the order made: loads new to the
 *              daemon, classic-builder steps
 *   "untag":   [{"ref", "image", "was"}]: a load or `docker tag` put tag ref
 *              on image, which existed before (and is not the session's),
 *              or took the tag from image was (else null)
 *   "volumes": {NAME: true...}: anonymous volumes of the session's containers
 * Each list holds at most 65536. */
json_t *track_result(const struct track *t);

/* Did the session make the object (kind, full ID, 12-digit ID or, for a
 * volume, name) though it may carry no label: a create's answer, an image a
 * load brought or a build step left, an anonymous volume of its containers? */
bool track_made_by_session(const struct track *t, enum resource_kind kind, const char *id);

/* ---- pure helpers, exposed for the unit tests ----------------------------- */

/* The anonymous volumes of an inspected container (GET /containers/{id}/json):
 * its volume mounts whose name is no source the client gave. With
 * VolumesFrom, only HostConfig.Mounts without a source count: a mount of
 * another container's volume looks like an anonymous one of its own. */
json_t *track_anonymous_volumes(json_t *inspect);

/* The ID a create call answered with ({"Id"}, {"ID"}, {"Name"} of a volume),
 * or NULL. */
const char *track_created_id(json_t *answer);

/* What a load did, from the image lists before and after it (GET
 * /images/json?all=1) and the references its answer named: sets *images to
 * the IDs new to the daemon, *untag to the tags it put on images that
 * existed or took from others (see track_result()). Images the load did not name are never
 * its: another client may have made them meanwhile. */
void track_load_diff(json_t *before, json_t *after, json_t *named, json_t **images,
		     json_t **untag);

/* Does a request (llhttp method, target as sent) remove one object: DELETE
 * <collection>/X of any kind in common/kinds.h but images (/containers/X,
 * /networks/X, /services/X...), or a wait for a container's removal
 * (`docker run --rm`: POST /containers/X/wait?condition=removed, API
 * 1.30)? Returns its kind with X in name, else RESOURCE_NONE. */
enum resource_kind track_removal(uint8_t method, const char *target, size_t len, char *name,
				 size_t size);

/* The tag a POST /images/{name}/tag?repo=R&tag=T (target as sent) puts,
 * as the daemon lists it in RepoTags: "R:T", the tag "latest" when
 * neither T nor R names one, a Docker Hub name without its registry
 * ("docker.io/library/x" is "x"). False if the query names no tag. */
bool track_tag_ref(const char *target, size_t len, char *ref, size_t size);

/* Per-connection state of a classic build's output. */
struct track_build {
	bool base_next;	 /* the next "--->" names the FROM image */
	bool cached_next; /* the next "--->" names a cache hit */
};

/* The image a line of classic-build output says a step made ("---> ID",
 * not a FROM image nor a cache hit), copied to id; false if none. */
bool track_build_step(struct track_build *b, const char *stream, char *id, size_t idsz);

#endif
