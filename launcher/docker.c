/* docker.c - libcurl over the daemon's UNIX socket.
 *
 * libcurl is loaded with dlopen() on first use, not linked: with its TLS,
 * LDAP, SSH and Kerberos libraries it maps some 30 objects and ~3 MiB of
 * private memory into every process that links it, and costs each exec()
 * a millisecond of relocations. Only teardown and reap talk to the daemon,
 * so the launcher and the proxy, which run for the whole job, never map it.
 */
#include "docker.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/util.h"

#define LIBCURL_SONAME "libcurl.so.4"

/* The libcurl entry points docker.c uses. */
static struct curl_api {
	bool loaded;							 /* all resolved */
	CURLcode (*global_init)(long);					 /* curl_global_init */
	CURL *(*easy_init)(void);					 /* curl_easy_init */
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);		 /* curl_easy_setopt */
	CURLcode (*easy_perform)(CURL *);				 /* curl_easy_perform */
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);		 /* curl_easy_getinfo */
	const char *(*easy_strerror)(CURLcode);				 /* curl_easy_strerror */
	void (*easy_cleanup)(CURL *);					 /* curl_easy_cleanup */
	CURLM *(*multi_init)(void);					 /* curl_multi_init */
	CURLMcode (*multi_cleanup)(CURLM *);				 /* curl_multi_cleanup */
	CURLMcode (*multi_add)(CURLM *, CURL *);			 /* curl_multi_add_handle */
	CURLMcode (*multi_remove)(CURLM *, CURL *);			 /* curl_multi_remove_handle */
	CURLMcode (*multi_perform)(CURLM *, int *);			 /* curl_multi_perform */
	CURLMsg *(*multi_info_read)(CURLM *, int *);			 /* curl_multi_info_read */
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned, int, int *); /* curl_multi_poll */
} curl;

static int curl_load(struct cw_error *err)
{
	static const struct dl_sym syms[] = {
#define SYM(field, name) { #name, offsetof(struct curl_api, field) }
		SYM(global_init, curl_global_init),   SYM(easy_init, curl_easy_init),
		SYM(easy_setopt, curl_easy_setopt),   SYM(easy_perform, curl_easy_perform),
		SYM(easy_getinfo, curl_easy_getinfo), SYM(easy_strerror, curl_easy_strerror),
		SYM(easy_cleanup, curl_easy_cleanup), SYM(multi_init, curl_multi_init),
		SYM(multi_cleanup, curl_multi_cleanup), SYM(multi_add, curl_multi_add_handle),
		SYM(multi_remove, curl_multi_remove_handle),
		SYM(multi_perform, curl_multi_perform), SYM(multi_info_read, curl_multi_info_read),
		SYM(multi_poll, curl_multi_poll),
#undef SYM
	};

	if (curl.loaded)
		return 0;
	if (dl_load_table(LIBCURL_SONAME, syms, ARRAY_SIZE(syms), &curl, err) < 0)
		return -1;
	curl.global_init(CURL_GLOBAL_NOTHING);
	curl.loaded = true;
	return 0;
}

#define ANSWER_MAX (64u * 1024 * 1024)

struct docker {
	char *socket_path; /* the daemon's socket */
	CURLM *multi;	   /* for docker_run_all */
	void (*tick)(void *, size_t, size_t); /* progress, or NULL */
	void *tick_arg;			       /* its argument */
};

void docker_on_tick(struct docker *d, void (*tick)(void *arg, size_t done, size_t total),
		    void *arg)
{
	d->tick = tick;
	d->tick_arg = arg;
}

/* A growing answer buffer. */
struct answer {
	char *data;  /* bytes so far */
	size_t len;  /* their number */
	size_t cap;  /* allocated for data */
	size_t max;  /* keep at most this many */
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct answer *a = userdata;
	size_t n = size * nmemb;
	size_t take = a->len + n > a->max ? a->max - a->len : n;

	if (take > 0) {
		/* Doubling: a listing of containers with many mounts runs to
		 * tens of MiB in 16 KiB pieces, and a copy per piece would make
		 * reading it quadratic. */
		if (a->len + take + 1 > a->cap) {
			a->cap = a->cap ? a->cap * 2 : 16384;
			if (a->cap < a->len + take + 1)
				a->cap = a->len + take + 1;
			a->data = xrealloc(a->data, a->cap);
		}
		memcpy(a->data + a->len, ptr, take);
		a->len += take;
		a->data[a->len] = '\0';
	}
	return n;
}

struct docker *docker_open(const char *socket_path)
{
	struct docker *d = xcalloc(1, sizeof(*d));

	d->socket_path = xstrdup(socket_path);
	return d;
}

void docker_close(struct docker *d)
{
	if (d == NULL)
		return;
	if (d->multi)
		curl.multi_cleanup(d->multi);
	free(d->socket_path);
	free(d);
}

static CURL *make_handle(struct docker *d, const char *method, const char *path,
			 long timeout_ms, struct answer *a)
{
	char url[640];
	CURL *h = curl.loaded ? curl.easy_init() : NULL;

	if (h == NULL)
		return NULL;
	snprintf(url, sizeof(url), "http://docker%s", path);
	curl.easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
	curl.easy_setopt(h, CURLOPT_URL, url);
	curl.easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0) {
		curl.easy_setopt(h, CURLOPT_POST, 1L);
		curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
		curl.easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl.easy_setopt(h, CURLOPT_WRITEDATA, a);
	return h;
}

long docker_call(struct docker *d, const char *method, const char *path, long timeout_ms,
		 json_t **out, struct cw_error *err)
{
	struct answer a = { .max = ANSWER_MAX };
	CURL *h;
	long status = 0;
	CURLcode rc;

	if (out)
		*out = NULL;
	if (curl_load(err) < 0)
		return -1;
	h = make_handle(d, method, path, timeout_ms, &a);
	if (h == NULL)
		return cw_error_set(err, 0, "%s %s: cannot create a curl handle", method, path);
	rc = curl.easy_perform(h);
	if (rc != CURLE_OK) {
		cw_error_set(err, 0, "%s %s: %s", method, path, curl.easy_strerror(rc));
		status = -1;
	} else {
		curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (out && a.data)
			*out = json_loadb(a.data, a.len, JSON_DECODE_ANY, NULL);
	}
	curl.easy_cleanup(h);
	free(a.data);
	return status;
}

/* The daemon's {"message": ...} or the raw start of the answer. */
static void job_error(struct docker_job *j, const struct answer *a)
{
	json_t *body = a->data ? json_loadb(a->data, a->len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(body, "message"));

	snprintf(j->error, sizeof(j->error), "%s", msg ? msg : a->data ? a->data : "");
	json_decref(body);
}

static bool start_job(struct docker *d, struct docker_job *j, struct answer *a)
{
	CURL *h = make_handle(d, j->method, j->path, j->timeout_ms, a);

	if (h == NULL) {
		snprintf(j->error, sizeof(j->error), "cannot create a curl handle");
		return false;
	}
	curl.easy_setopt(h, CURLOPT_PRIVATE, j);
	curl.multi_add(d->multi, h);
	return true;
}

static void finish_jobs(struct docker *d, struct docker_job *base, struct answer *answers,
			int *running)
{
	CURLMsg *m;
	int left;

	while ((m = curl.multi_info_read(d->multi, &left)) != NULL) {
		struct docker_job *j;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		if (m->data.result == CURLE_OK) {
			curl.easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &j->status);
			if (j->status >= 300)
				job_error(j, &answers[j - base]);
		} else {
			snprintf(j->error, sizeof(j->error), "%s",
				 curl.easy_strerror(m->data.result));
		}
		curl.multi_remove(d->multi, m->easy_handle);
		curl.easy_cleanup(m->easy_handle);
		(*running)--;
	}
}

void docker_run_all(struct docker *d, struct docker_job *jobs, size_t n, size_t parallel)
{
	struct answer *answers;
	struct cw_error err = { 0 };
	size_t next = 0;
	int running = 0, still;

	if (curl_load(&err) < 0) {
		for (size_t i = 0; i < n; i++) {
			jobs[i].status = 0;
			snprintf(jobs[i].error, sizeof(jobs[i].error), "%.200s", err.msg);
		}
		return;
	}
	answers = xcalloc(n, sizeof(*answers));
	if (d->multi == NULL)
		d->multi = curl.multi_init();
	for (size_t i = 0; i < n; i++) {
		answers[i].max = 4096;
		jobs[i].status = 0;
		jobs[i].error[0] = '\0';
	}
	while (next < n || running > 0) {
		while (next < n && (size_t)running < parallel) {
			if (start_job(d, &jobs[next], &answers[next]))
				running++;
			next++;
		}
		curl.multi_perform(d->multi, &still);
		finish_jobs(d, jobs, answers, &running);
		if (d->tick)
			d->tick(d->tick_arg, next - (size_t)running, n);
		if (running > 0)
			curl.multi_poll(d->multi, NULL, 0, 100, NULL);
	}
	for (size_t i = 0; i < n; i++)
		free(answers[i].data);
	free(answers);
}

void docker_label_filter(const char *label, char *buf, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	json_t *f = json_pack("{s:[s]}", "label", label);
	_cleanup_free_ char *json = json_dumps(f, JSON_COMPACT);
	size_t n = 0;

	json_decref(f);
	/* Percent-encode all but RFC 3986's unreserved characters. */
	for (const unsigned char *c = (const unsigned char *)(json ? json : ""); *c; c++) {
		bool plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
			     (*c >= '0' && *c <= '9') || strchr("-._~", *c) != NULL;

		if (n + 4 > size)
			break;
		if (plain) {
			buf[n++] = (char)*c;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[*c >> 4];
			buf[n++] = hex[*c & 15];
		}
	}
	buf[n] = '\0';
}
