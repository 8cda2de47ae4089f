/* util.h - ownership helpers and small syscall wrappers shared by every module.
 *
 * Use the _cleanup_*_ attributes on locals that own a resource, and
 * steal_pointer() / steal_fd() to hand ownership on.
 */
#ifndef CI_WRAP_UTIL_H
#define CI_WRAP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#include "error.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void cw_freep(void *p);
void cw_closep(int *fd);
#define _cleanup_free_ __attribute__((cleanup(cw_freep)))
#define _cleanup_close_ __attribute__((cleanup(cw_closep)))

static inline void *cw_steal_pointer(void *pp)
{
	void **p = pp;
	void *v = *p;

	*p = NULL;
	return v;
}
#define steal_pointer(pp) cw_steal_pointer(pp)

static inline int steal_fd(int *fd)
{
	int v = *fd;

	*fd = -1;
	return v;
}

/* malloc/calloc/strdup that abort on exhaustion: ci-wrap cannot do its job
 * without memory, and a half-built session is worse than none. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* Anonymous private pages of their own (for madvise), aborting likewise. */
void *xmap_pages(size_t n);
char *xstrdup(const char *s);

/* write() all of buf, retrying on EINTR; -1 with errno on failure. */
int write_all(int fd, const void *buf, size_t len);

/* A connected UNIX stream socket to path (close-on-exec; non-blocking if
 * asked), or -1 with errno. */
int unix_connect(const char *path, bool nonblock);

/* Read a whole small file into a NUL-terminated buffer; NULL with errno. */
char *read_small_file(const char *path, size_t max);

/* Monotonic clock in milliseconds. */
uint64_t now_ms(void);

/* Parse "512m", "4g", "1024" (docker's units, powers of 1024) into bytes. */
int parse_size(const char *s, int64_t *out);

/* Parse "10s", "500ms", "2m", "1h", "1.5s" into milliseconds. */
int parse_duration(const char *s, int64_t *out_ms);

/* Add to *mask bit i for each name of list ("a,b", blanks and empty items
 * skipped) that is names[i]. Returns 0, or -1 with the unknown name in bad. */
int parse_name_list(const char *list, const char *const *names, size_t n, unsigned *mask,
		    char *bad, size_t badsz);

/* A library's entry points, dlopen()ed on first use into a table of
 * function pointers: each name goes to the field at its offset. */
struct dl_sym {
	const char *name; /* the symbol */
	size_t offset;	  /* its field in the table */
};

/* dlopen(soname) and fill table; -1 with err naming what is missing. */
int dl_load_table(const char *soname, const struct dl_sym *syms, size_t n, void *table,
		  struct cw_error *err);

#endif
