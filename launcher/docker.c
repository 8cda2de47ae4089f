/* docker.c - libcurl over the daemon's UNIX socket. */
#include "docker.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../common/util.h"

#define ANSWER_MAX (64u * 1024 * 1024)

struct docker {
	char *socket_path; /* the daemon's socket */
	CURLM *multi;	   /* for docker_run_all */
};

/* A growing answer buffer. */
struct answer {
	char *data;  /* bytes so far */
	size_t len;  /* their number */
	size_t max;  /* keep at most this many */
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct answer *a = userdata;
	size_t n = size * nmemb;
	size_t take = a->len + n > a->max ? a->max - a->len : n;

	if (take > 0) {
		a->data = xrealloc(a->data, a->len + take + 1);
		memcpy(a->data + a->len, ptr, take);
		a->len += take;
		a->data[a->len] = '\0';
	}
	return n;
}

struct docker *docker_open(const char *socket_path)
{
	struct docker *d = xcalloc(1, sizeof(*d));

	curl_global_init(CURL_GLOBAL_NOTHING);
	d->socket_path = xstrdup(socket_path);
	return d;
}

void docker_close(struct docker *d)
{
	if (d == NULL)
		return;
	if (d->multi)
		curl_multi_cleanup(d->multi);
	free(d->socket_path);
	free(d);
}

static CURL *make_handle(struct docker *d, const char *method, const char *path,
			 long timeout_ms, struct answer *a)
{
	char url[640];
	CURL *h = curl_easy_init();

	if (h == NULL)
		return NULL;
	snprintf(url, sizeof(url), "http://docker%s", path);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	return h;
}

long docker_call(struct docker *d, const char *method, const char *path, long timeout_ms,
		 json_t **out, struct cw_error *err)
{
	struct answer a = { .max = ANSWER_MAX };
	CURL *h = make_handle(d, method, path, timeout_ms, &a);
	long status = 0;
	CURLcode rc;

	if (out)
		*out = NULL;
	if (h == NULL)
		return cw_error_set(err, 0, "%s %s: cannot create a curl handle", method, path);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		cw_error_set(err, 0, "%s %s: %s", method, path, curl_easy_strerror(rc));
		status = -1;
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (out && a.data)
			*out = json_loadb(a.data, a.len, JSON_DECODE_ANY, NULL);
	}
	curl_easy_cleanup(h);
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
	curl_easy_setopt(h, CURLOPT_PRIVATE, j);
	curl_multi_add_handle(d->multi, h);
	return true;
}

static void finish_jobs(struct docker *d, struct docker_job *base, struct answer *answers,
			int *running)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(d->multi, &left)) != NULL) {
		struct docker_job *j;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		if (m->data.result == CURLE_OK) {
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &j->status);
			if (j->status >= 300)
				job_error(j, &answers[j - base]);
		} else {
			snprintf(j->error, sizeof(j->error), "%s",
				 curl_easy_strerror(m->data.result));
		}
		curl_multi_remove_handle(d->multi, m->easy_handle);
		curl_easy_cleanup(m->easy_handle);
		(*running)--;
	}
}

void docker_run_all(struct docker *d, struct docker_job *jobs, size_t n, size_t parallel)
{
	struct answer *answers = xcalloc(n, sizeof(*answers));
	size_t next = 0;
	int running = 0, still;

	if (d->multi == NULL)
		d->multi = curl_multi_init();
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
		curl_multi_perform(d->multi, &still);
		finish_jobs(d, jobs, answers, &running);
		if (running > 0)
			curl_multi_poll(d->multi, NULL, 0, 100, NULL);
	}
	for (size_t i = 0; i < n; i++)
		free(answers[i].data);
	free(answers);
}

void docker_label_filter(const char *label, char *buf, size_t size)
{
	json_t *f = json_pack("{s:[s]}", "label", label);
	char *json = json_dumps(f, JSON_COMPACT);
	CURL *h = curl_easy_init();
	char *esc = curl_easy_escape(h, json, 0);

	snprintf(buf, size, "%s", esc);
	curl_free(esc);
	curl_easy_cleanup(h);
	free(json);
	json_decref(f);
}
