/* owner.c - whose object a request names (see owner.h).
 *
 * The daemon resolves a name, an ID or an ID prefix; so does the inspect
 * asked here, so the object checked is the object the request would reach.
 * What an inspect taught is cached by full ID only: an object's labels never
 * change, its name may pass to another's object once it is removed.
 */
#include "owner.h"

#include <stdio.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "inspect.h"
#include "refs.h"
#include "llhttp.h"
#include "track.h"

/* Classes remembered by "kind/ID"; past this the cache starts over. */
#define OWNER_CACHE_MAX 16384

struct owner {
	struct ev_loop *loop;		/* serves the proxy */
	const struct proxy_config *cfg; /* daemon socket, labels */
	struct track *track;		/* what the session made unlabelled */
	const char *session;		/* our ci-wrap.session value */
	json_t *cache;			/* "kind/ID" -> enum owner_class */
};

struct owner_query {
	struct owner *o;	   /* owner */
	struct inspect *inspect;   /* the inspect in flight */
	struct owner_subject s;	   /* what is asked about */
	bool container_next;	   /* an exec's: its container is being asked about */
	bool alters;		   /* the request destroys or changes it */
	owner_done_fn done;	   /* the caller's callback */
	void *arg;		   /* its argument */
};

struct owner *owner_new(struct ev_loop *loop, const struct proxy_config *cfg, struct track *track)
{
	struct owner *o = xcalloc(1, sizeof(*o));

	o->loop = loop;
	o->cfg = cfg;
	o->track = track;
	o->session = json_string_value(json_object_get(cfg->rewrite.labels, "ci-wrap.session"));
	if (o->session == NULL)
		o->session = "";
	o->cache = json_object();
	return o;
}

void owner_free(struct owner *o)
{
	if (o == NULL)
		return;
	json_decref(o->cache);
	free(o);
}

const char *owner_session(const struct owner *o)
{
	return o->session;
}

/* ---- subjects ---------------------------------------------------------------- */

/* Kinds whose inspect is GET <collection>/{name}, with no action after it. */
static bool bare_inspect(enum resource_kind k)
{
	return k != RESOURCE_CONTAINER && k != RESOURCE_IMAGE;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* The length of the name in rest (the path after "<collection>/"), 0 if the
 * path names no object ("/containers/json", "/networks/create"). */
static size_t subject_length(uint8_t method, enum resource_kind kind, bool exec, const char *rest)
{
	size_t len = strlen(rest);
	const char *slash;

	if (!exec && (method == HTTP_DELETE ||
		      ((method == HTTP_GET || method == HTTP_HEAD) && bare_inspect(kind)))) {
		if (kind == RESOURCE_SERVICE && ends_with(rest, len, "/logs"))
			return len - 5;
		return len;
	}
	if (ends_with(rest, len, "/attach/ws"))
		return len - 10;
	slash = strrchr(rest, '/');
	return slash ? (size_t)(slash - rest) : 0;
}

void owner_subject(uint8_t method, const char *canonical, const char *decoded,
		   struct owner_subject *s)
{
	const char *rest = strchr(canonical + 1, '/');
	char collection[32];
	size_t clen, nlen;

	memset(s, 0, sizeof(*s));
	if (canonical[0] != '/' || rest == NULL || strlen(decoded) != strlen(canonical))
		return;
	clen = (size_t)(rest - canonical);
	if (clen >= sizeof(collection))
		return;
	memcpy(collection, canonical, clen);
	collection[clen] = '\0';
	s->via_exec = strcmp(collection, "/exec") == 0;
	s->kind = s->via_exec ? RESOURCE_CONTAINER : kind_by_name(collection);
	nlen = s->kind == RESOURCE_NONE ? 0 : subject_length(method, s->kind, s->via_exec, rest + 1);
	if (nlen == 0 || nlen >= sizeof(s->name)) {
		s->kind = RESOURCE_NONE;
		return;
	}
	memcpy(s->name, decoded + clen + 1, nlen);
	s->name[nlen] = '\0';
}

/* ---- classes ----------------------------------------------------------------- */

enum owner_class owner_class_of(const char *session, json_t *labels)
{
	const char *id = json_string_value(json_object_get(labels, "ci-wrap.session"));

	if (id == NULL)
		return OWNER_FOREIGN;
	return strcmp(id, session) == 0 ? OWNER_OURS : OWNER_OTHER;
}

static void cache_key(enum resource_kind kind, const char *id, char *key, size_t size)
{
	snprintf(key, size, "%s/%s", kind_name(kind), id);
}

static bool cached(const struct owner *o, enum resource_kind kind, const char *id,
		   enum owner_class *c)
{
	char key[600];
	json_t *v;

	cache_key(kind, id, key, sizeof(key));
	v = json_object_get(o->cache, key);
	if (v == NULL)
		return false;
	*c = (enum owner_class)json_integer_value(v);
	return true;
}

static void remember(struct owner *o, enum resource_kind kind, const char *id, enum owner_class c)
{
	char key[600];

	if (id == NULL || *id == '\0')
		return;
	if (json_object_size(o->cache) >= OWNER_CACHE_MAX)
		json_object_clear(o->cache);
	cache_key(kind, id, key, sizeof(key));
	json_object_set_new(o->cache, key, json_integer(c));
}

/* Known without asking: what the cache holds, what the session made. */
static bool known(const struct owner *o, enum resource_kind kind, const char *id,
		  enum owner_class *c)
{
	if (cached(o, kind, id, c))
		return true;
	if (o->track != NULL && track_made_by_session(o->track, kind, id)) {
		*c = OWNER_OURS;
		return true;
	}
	return false;
}

/* The class of an inspected object; remembered under its full ID. */
static enum owner_class classify(struct owner *o, enum resource_kind kind, json_t *inspect)
{
	const struct kind_info *k = kind_info(kind);
	const char *id = json_string_value(json_object_get(inspect, k->id_key));
	enum owner_class c = owner_class_of(o->session, kind_labels(inspect, k->inspect_labels));

	if (c == OWNER_FOREIGN && id != NULL && o->track != NULL &&
	    track_made_by_session(o->track, kind, id))
		c = OWNER_OURS;
	remember(o, kind, id, c);
	return c;
}

/* ---- verdicts ---------------------------------------------------------------- */

/* fmt (a constant of ours holding one "%s") with arg in its place. */
static void format_one(const char *fmt, const char *arg, char *out, size_t outsz)
{
	const char *at = strstr(fmt, "%s");

	snprintf(out, outsz, "%.*s%s%s", (int)(at - fmt), fmt, arg, at + 2);
}

/* 0 to go on, or -status with msg. */
static int verdict(const struct owner_subject *s, bool alters, enum owner_class c, char *msg,
		   size_t msgsz)
{
	const struct kind_info *k = kind_info(s->kind);

	if (c == OWNER_OTHER) {
		format_one(s->via_exec ? "No such exec instance: %s" : k->missing, s->name,
				msg, msgsz);
		return -404;
	}
	if (c == OWNER_FOREIGN && alters) {
		snprintf(msg, msgsz,
			 "ci-wrap: refused: %s %.300s was not made by this session "
			 "(--isolation off allows it)",
			 k->name, s->name);
		return -403;
	}
	return 0;
}

static void query_finish(struct owner_query *q, int rc, const char *msg)
{
	owner_done_fn done = q->done;
	void *arg = q->arg;

	free(q);
	done(arg, rc < 0 ? -rc : 0, msg);
}

static int ask(struct owner_query *q, const char *fmt, const char *name);

/* The container an exec instance runs in decides: ask about it next. */
static void exec_answered(struct owner_query *q, json_t *body)
{
	const char *ctr = json_string_value(json_object_get(body, "ContainerID"));
	enum owner_class c;
	char msg[512];

	if (ctr == NULL) {
		query_finish(q, 0, NULL);
		return;
	}
	if (known(q->o, RESOURCE_CONTAINER, ctr, &c)) {
		remember(q->o, RESOURCE_NONE, q->s.name, c);
		query_finish(q, verdict(&q->s, q->alters, c, msg, sizeof(msg)), msg);
		return;
	}
	q->container_next = true;
	if (ask(q, kind_info(RESOURCE_CONTAINER)->inspect, ctr) < 0)
		query_finish(q, -502, "ci-wrap: cannot ask the Docker daemon whose object it is");
}

static void on_inspect(void *arg, int status, json_t *body)
{
	struct owner_query *q = arg;
	enum owner_class c;
	char msg[512];

	q->inspect = NULL;
	if (status == 0) {
		snprintf(msg, sizeof(msg),
			 "ci-wrap: cannot tell whose %s %.300s is: the Docker daemon did not answer",
			 q->s.via_exec ? "exec instance" : kind_name(q->s.kind), q->s.name);
		query_finish(q, -502, msg);
		return;
	}
	if (status != 200) {
		/* Missing or malformed: the daemon answers the request itself. */
		query_finish(q, 0, NULL);
		return;
	}
	if (q->s.via_exec && !q->container_next) {
		exec_answered(q, body);
		return;
	}
	c = classify(q->o, q->s.kind, body);
	if (q->s.via_exec)
		remember(q->o, RESOURCE_NONE, q->s.name, c); /* exec IDs: "resource/ID" */
	query_finish(q, verdict(&q->s, q->alters, c, msg, sizeof(msg)), msg);
}

/* Send the inspect fmt ("/containers/%s/json") of name. */
static int ask(struct owner_query *q, const char *fmt, const char *name)
{
	char escaped[3 * sizeof(q->s.name)], path[3 * sizeof(q->s.name) + 64];

	if (inspect_escape(name, escaped, sizeof(escaped)) < 0)
		return -1;
	format_one(fmt, escaped, path, sizeof(path));
	q->inspect = inspect_get(q->o->loop, q->o->cfg->upstream_path, path, on_inspect, q);
	return q->inspect ? 0 : -1;
}

/* Check one subject: see owner_check(). s is copied. */
static int check_subject(struct owner *o, const struct owner_subject *s, bool alters,
			 owner_done_fn done, void *arg, struct owner_query **qp, char *msg,
			 size_t msgsz)
{
	struct owner_query *q;
	enum owner_class c;

	*qp = NULL;
	if (s->kind == RESOURCE_NONE)
		return 0;
	if (s->via_exec ? cached(o, RESOURCE_NONE, s->name, &c) : known(o, s->kind, s->name, &c))
		return verdict(s, alters, c, msg, msgsz);
	q = xcalloc(1, sizeof(*q));
	q->s = *s;
	q->o = o;
	q->alters = alters;
	q->done = done;
	q->arg = arg;
	if (ask(q, s->via_exec ? "/exec/%s/json" : kind_info(s->kind)->inspect, s->name) < 0) {
		snprintf(msg, msgsz, "ci-wrap: cannot ask the Docker daemon whose %s %.300s is",
			 kind_name(s->kind), s->name);
		free(q);
		return -502;
	}
	*qp = q;
	return 1;
}

int owner_check(struct owner *o, uint8_t method, const char *canonical, const char *decoded,
		bool alters, owner_done_fn done, void *arg, struct owner_query **qp, char *msg,
		size_t msgsz)
{
	struct owner_subject s;

	owner_subject(method, canonical, decoded, &s);
	return check_subject(o, &s, alters, done, arg, qp, msg, msgsz);
}

void owner_cancel(struct owner_query *q)
{
	if (q == NULL)
		return;
	inspect_cancel(q->inspect);
	free(q);
}

/* ---- lists and events -------------------------------------------------------- */

enum resource_kind owner_list_kind(uint8_t method, const char *canonical)
{
	static const struct {
		const char *path;	 /* the list's canonical path */
		enum resource_kind kind; /* of what */
	} lists[] = {
		{ "/containers/json", RESOURCE_CONTAINER }, { "/networks", RESOURCE_NETWORK },
		{ "/volumes", RESOURCE_VOLUME },	    { "/images/json", RESOURCE_IMAGE },
		{ "/services", RESOURCE_SERVICE },	    { "/secrets", RESOURCE_SECRET },
		{ "/configs", RESOURCE_CONFIG },
	};

	if (method != HTTP_GET)
		return RESOURCE_NONE;
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		if (strcmp(canonical, lists[i].path) == 0)
			return lists[i].kind;
	return RESOURCE_NONE;
}

void owner_list_filter(const char *session, enum resource_kind kind, json_t *answer)
{
	const struct kind_info *k = kind_info(kind);
	json_t *items = k->items_key ? json_object_get(answer, k->items_key) : answer;
	size_t i = 0;

	while (i < json_array_size(items)) {
		json_t *labels = kind_labels(json_array_get(items, i), k->list_labels);

		if (owner_class_of(session, labels) == OWNER_OTHER)
			json_array_remove(items, i);
		else
			i++;
	}
}

/* The object of a network's or volume's event, and the container a
 * network's connect or disconnect names, as refs_of_body() gives them. */
static json_t *event_refs(enum resource_kind kind, const char *id, json_t *attrs)
{
	const char *ctr = json_string_value(json_object_get(attrs, "container"));
	json_t *refs = json_array();

	json_array_append_new(refs, json_pack("{s:s,s:s,s:b,s:i}", "kind", kind_name(kind), "name",
					      id, "alters", 0, "missing", 404));
	if (kind == RESOURCE_NETWORK && ctr != NULL)
		json_array_append_new(refs, json_pack("{s:s,s:s,s:b,s:i}", "kind", "container",
						      "name", ctr, "alters", 0, "missing", 404));
	return refs;
}

int owner_event_check(struct owner *o, json_t *event, owner_done_fn done, void *arg,
		      struct owner_refs **r)
{
	const char *type = json_string_value(json_object_get(event, "Type"));
	json_t *actor = json_object_get(event, "Actor");
	json_t *attrs = json_object_get(actor, "Attributes");
	const char *id = json_string_value(json_object_get(actor, "ID"));
	enum resource_kind kind = type ? kind_by_name(type) : RESOURCE_NONE;
	enum owner_class c = owner_class_of(o->session, attrs);
	json_auto_t *refs = NULL;
	char msg[512];
	int rc;

	*r = NULL;
	if (c == OWNER_OTHER) {
		remember(o, kind, id, c);
		return -1;
	}
	/* Networks' and volumes' events carry no labels: ask about the object. */
	if ((kind != RESOURCE_NETWORK && kind != RESOURCE_VOLUME) || id == NULL)
		return 0;
	refs = event_refs(kind, id, attrs);
	rc = owner_check_refs(o, refs, done, arg, r, msg, sizeof(msg));
	return rc == 0 || rc == 1 ? rc : -1;
}

/* ---- several subjects at once ------------------------------------------------ */

struct ref_part {
	struct owner_refs *r;	/* the whole */
	int missing;		/* the status that answers for another's object */
	struct owner_query *q;	/* this part's check in flight, NULL once answered */
};

struct owner_refs {
	struct ref_part parts[REFS_MAX]; /* one per name */
	size_t n;			 /* entries of parts */
	size_t pending;			 /* of them still in flight */
	owner_done_fn done;		 /* the caller's callback */
	void *arg;			 /* its argument */
};

void owner_refs_cancel(struct owner_refs *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		owner_cancel(r->parts[i].q);
	free(r);
}

/* Another's object is answered as a missing one, with the status the
 * daemon gives for a missing object named in that body. */
static int body_status(int missing, int status)
{
	return status == 404 ? missing : status;
}

/* One part answered: the first refusal ends it all, else the last answer. */
static void on_ref_verdict(void *arg, int status, const char *msg)
{
	struct ref_part *part = arg;
	struct owner_refs *r = part->r;
	owner_done_fn done = r->done;
	void *done_arg = r->arg;

	status = body_status(part->missing, status);
	part->q = NULL;
	r->pending--;
	if (status == 0 && r->pending > 0)
		return;
	owner_refs_cancel(r);
	done(done_arg, status, msg);
}

/* The subject of one {"kind", "name", "alters"} of refs_of_body(). */
static bool ref_subject(json_t *ref, struct owner_subject *s, bool *alters)
{
	const char *name = json_string_value(json_object_get(ref, "name"));

	memset(s, 0, sizeof(*s));
	s->kind = kind_by_name(json_string_value(json_object_get(ref, "kind")) ?: "");
	*alters = json_is_true(json_object_get(ref, "alters"));
	if (name == NULL || strlen(name) >= sizeof(s->name))
		return false;
	strcpy(s->name, name);
	return s->kind != RESOURCE_NONE;
}

int owner_check_refs(struct owner *o, json_t *refs, owner_done_fn done, void *arg,
		     struct owner_refs **rp, char *msg, size_t msgsz)
{
	struct owner_refs *r;
	json_t *ref;
	size_t i;

	*rp = NULL;
	if (json_array_size(refs) > REFS_MAX) {
		snprintf(msg, msgsz, "ci-wrap: refused a request that names more than %d objects",
			 REFS_MAX);
		return -403;
	}
	r = xcalloc(1, sizeof(*r));
	r->done = done;
	r->arg = arg;
	json_array_foreach(refs, i, ref)
	{
		struct owner_subject s;
		struct ref_part *part = &r->parts[r->n];
		bool alters;
		int rc;

		if (!ref_subject(ref, &s, &alters))
			continue;
		part->r = r;
		part->missing = (int)json_integer_value(json_object_get(ref, "missing"));
		rc = check_subject(o, &s, alters, on_ref_verdict, part, &part->q, msg, msgsz);
		if (rc < 0) {
			rc = -body_status(part->missing, -rc);
			owner_refs_cancel(r);
			return rc;
		}
		if (rc == 1) {
			r->n++;
			r->pending++;
		}
	}
	if (r->pending == 0) {
		owner_refs_cancel(r);
		return 0;
	}
	*rp = r;
	return 1;
}
