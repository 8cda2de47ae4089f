/* dockerfile.c - the classic builder's reading of a Dockerfile's FROM and
 * meta ARG lines (moby 20.10 builder/dockerfile and the vendored buildkit
 * frontend/dockerfile/{parser,instructions,shell}): parser directives, line
 * continuations, word expansion, stages.
 */
#include "dockerfile.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define INSTRUCTIONS_MAX 16384  /* logical lines of a Dockerfile */
#define STAGES_MAX 256          /* FROM lines */
#define ARGS_MAX 256            /* distinct ARG names before the first FROM */
#define WORD_MAX 65536          /* an expanded word; `ARG B=$A$A` doubles at each step */
#define DEPTH_MAX 32            /* nested ${a:-${b:-...}} */

/* ---- Dockerfile: variables ---- */

static const char *const builtin_args[] = {
	"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
	"FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
};

struct vars {
	json_t *meta;           /* ARG name -> default string or null */
	const json_t *options;  /* buildargs, or NULL */
};

/* BuildArgs.getBuildArg over the meta ARGs and the builtin proxy args: a
 * buildarg overrides only a name the Dockerfile declares. */
static const char *var_get(const struct vars *v, const char *name)
{
	json_t *def = json_object_get(v->meta, name);
	int known = def != NULL;

	for (size_t i = 0; !known && i < sizeof(builtin_args) / sizeof(*builtin_args); i++)
		known = strcmp(name, builtin_args[i]) == 0;
	if (!known)
		return NULL;
	json_t *o = v->options ? json_object_get(v->options, name) : NULL;
	if (json_is_string(o))
		return json_string_value(o);
	return json_is_string(def) ? json_string_value(def) : NULL;
}

/* ---- Dockerfile: word expansion (buildkit shell.Lex.ProcessWord) ---- */

struct sbuf {
	char *s;    /* bytes, NUL-terminated */
	size_t n;   /* length */
	size_t cap; /* allocated */
	size_t max; /* limit on n + 1; 0: WORD_MAX */
};

struct lex {
	const char *s;          /* the word */
	size_t i, n;            /* position, length */
	char esc;               /* the escape token */
	const struct vars *v;   /* variables */
	int depth;              /* ${...} nesting */
	const char *err;        /* why expansion failed */
};

static int sb_add(struct sbuf *b, const char *p, size_t n)
{
	if (b->n + n + 1 > (b->max ? b->max : WORD_MAX))
		return -1;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s)
			return -1;
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->n, p, n);
	b->n += n;
	b->s[b->n] = '\0';
	return 0;
}

static int lex_fail(struct lex *l, const char *why)
{
	if (!l->err)
		l->err = why;
	return -1;
}

static int put(struct lex *l, struct sbuf *out, const char *p, size_t n)
{
	return sb_add(out, p, n) < 0 ? lex_fail(l, "a FROM or ARG value expands to over 64 KiB") : 0;
}

static int is_special_param(char c)
{
	return c && strchr("@*#?-$!0", c) != NULL;
}

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || (unsigned char)c >= 0x80;
}

/* processName: digits, one special parameter, or letters, digits and _. */
static size_t lex_name(struct lex *l, char *name, size_t max)
{
	size_t a = l->i;

	if (l->i < l->n && l->s[l->i] >= '0' && l->s[l->i] <= '9') {
		while (l->i < l->n && l->s[l->i] >= '0' && l->s[l->i] <= '9')
			l->i++;
	} else if (l->i < l->n && is_special_param(l->s[l->i])) {
		l->i++;
	} else {
		while (l->i < l->n && is_name_char(l->s[l->i]))
			l->i++;
	}
	size_t n = l->i - a < max - 1 ? l->i - a : max - 1;
	memcpy(name, l->s + a, n);
	name[n] = '\0';
	return l->i - a;
}

static int lex_until(struct lex *l, int stop, struct sbuf *out);

static int lex_modifier(struct lex *l, char mod, const char *val, struct sbuf *out)
{
	struct sbuf word = {0};
	int r = lex_until(l, '}', &word);

	if (r == 0) {
		const char *w = word.s ? word.s : "";
		const char *res = val ? val : "";
		if (mod == '+' && res[0])
			res = w;
		else if (mod == '-' && !res[0])
			res = w;
		else if (mod == '?' && !res[0])
			r = lex_fail(l, "a FROM or ARG value names a variable that must be set");
		else if (mod != '+' && mod != '-' && mod != '?')
			r = lex_fail(l, "a FROM or ARG value has an unsupported substitution");
		if (r == 0)
			r = put(l, out, res, strlen(res));
	}
	free(word.s);
	return r;
}

static int lex_braced(struct lex *l, struct sbuf *out)
{
	char name[256];

	l->i++; /* '{' */
	if (l->i >= l->n || strchr("{}:", l->s[l->i]))
		return lex_fail(l, "a FROM or ARG value has a bad substitution");
	if (lex_name(l, name, sizeof(name)) >= sizeof(name))
		return lex_fail(l, "a FROM or ARG value names too long a variable");
	if (l->i >= l->n)
		return lex_fail(l, "a FROM or ARG value has a bad substitution");
	char c = l->s[l->i++];
	const char *val = var_get(l->v, name);
	if (c == '}')
		return put(l, out, val ? val : "", val ? strlen(val) : 0);
	if (c == '?') {
		struct sbuf word = {0};
		int r = lex_until(l, '}', &word);
		free(word.s);
		if (r == 0 && !val)
			r = lex_fail(l, "a FROM or ARG value names a variable that must be set");
		return r < 0 ? -1 : put(l, out, val, strlen(val));
	}
	if (c != ':' || l->i >= l->n)
		return lex_fail(l, "a FROM or ARG value has a bad substitution");
	char mod = l->s[l->i++];
	return lex_modifier(l, mod, val, out);
}

static int lex_dollar(struct lex *l, struct sbuf *out)
{
	char name[256];

	l->i++; /* '$' */
	if (l->i < l->n && l->s[l->i] == '{') {
		if (++l->depth > DEPTH_MAX)
			return lex_fail(l, "a FROM or ARG value nests substitutions too deeply");
		int r = lex_braced(l, out);
		l->depth--;
		return r;
	}
	size_t n = lex_name(l, name, sizeof(name));
	if (n == 0)
		return put(l, out, "$", 1);
	if (n >= sizeof(name))
		return lex_fail(l, "a FROM or ARG value names too long a variable");
	const char *val = var_get(l->v, name);
	return val ? put(l, out, val, strlen(val)) : 0;
}

static int lex_single(struct lex *l, struct sbuf *out)
{
	const char *end = memchr(l->s + l->i + 1, '\'', l->n - l->i - 1);

	if (!end)
		return lex_fail(l, "a FROM or ARG value has an unmatched single quote");
	size_t a = l->i + 1;
	l->i = (size_t)(end - l->s) + 1;
	return put(l, out, l->s + a, (size_t)(end - l->s) - a);
}

static int lex_double(struct lex *l, struct sbuf *out)
{
	l->i++;
	for (;;) {
		if (l->i >= l->n)
			return lex_fail(l, "a FROM or ARG value has an unmatched double quote");
		char c = l->s[l->i];
		if (c == '"') {
			l->i++;
			return 0;
		}
		if (c == '$') {
			if (lex_dollar(l, out) < 0)
				return -1;
			continue;
		}
		l->i++;
		if (c == l->esc) {
			if (l->i >= l->n)
				continue;
			char d = l->s[l->i];
			if (d == '"' || d == '$' || d == l->esc) {
				c = d;
				l->i++;
			}
		}
		if (put(l, out, &c, 1) < 0)
			return -1;
	}
}

/* processStopOn: stop is '}' inside ${...:-word}, -1 for the whole word. */
static int lex_until(struct lex *l, int stop, struct sbuf *out)
{
	while (l->i < l->n) {
		char c = l->s[l->i];
		int r = 0;
		if (stop >= 0 && c == stop) {
			l->i++;
			return 0;
		}
		if (c == '$')
			r = lex_dollar(l, out);
		else if (c == '\'')
			r = lex_single(l, out);
		else if (c == '"')
			r = lex_double(l, out);
		else {
			l->i++;
			if (c == l->esc) {
				if (l->i >= l->n)
					break;
				c = l->s[l->i++];
			}
			r = put(l, out, &c, 1);
		}
		if (r < 0)
			return -1;
	}
	if (stop >= 0)
		return lex_fail(l, "a FROM or ARG value has an unmatched ${");
	return 0;
}

/* The word expanded into a new string, or NULL with *why. */
static char *expand(const char *word, size_t n, char esc, const struct vars *v, const char **why)
{
	struct lex l = {.s = word, .n = n, .esc = esc, .v = v};
	struct sbuf out = {0};

	if (lex_until(&l, -1, &out) < 0 || (!out.s && put(&l, &out, "", 0) < 0)) {
		free(out.s);
		*why = l.err ? l.err : "out of memory expanding a Dockerfile value";
		return NULL;
	}
	return out.s;
}

/* ---- Dockerfile: lines ---- */

/* Length of the Unicode white space (unicode.IsSpace) at s, or 0. */
static size_t uspace(const unsigned char *s, size_t n)
{
	if (n >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')))
		return 1;
	if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
		return 2;
	if (n >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
		return 3;
	if (n >= 3 && s[0] == 0xe2 && s[1] == 0x80 &&
	    (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
		return 3;
	if (n >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
		return 3;
	if (n >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
		return 3;
	return 0;
}

static size_t ltrim(const char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n && (k = uspace((const unsigned char *)s + i, n - i)) > 0)
		i += k;
	return i;
}

/* strings.TrimSpace's right half: white space runes at the end. */
static size_t rtrim_len(const char *s, size_t n)
{
	for (;;) {
		size_t k = 0;
		for (size_t w = 1; w <= 3 && w <= n; w++)
			if (uspace((const unsigned char *)s + n - w, w) == w)
				k = w;
		if (k == 0)
			return n;
		n -= k;
	}
}

struct df {
	char esc;                 /* the escape token */
	int directives_done;      /* a line that is not a parser directive was seen */
	int escape_seen;          /* `# escape=` given */
	int syntax_seen;          /* `# syntax=` given */
	struct vars vars;         /* meta ARGs */
	json_t *stages;           /* stage names so far (lowercase) -> true */
	json_t *images;           /* the result */
	int nfrom;                /* FROM lines so far */
	int ninstr;               /* logical lines so far */
	const char *why;          /* why parsing failed */
};

static int df_fail(struct df *d, const char *why)
{
	if (!d->why)
		d->why = why;
	return -1;
}

static int is_re_space(char c) /* RE2's \s */
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` on a left-trimmed line. */
static int directive(struct df *d, const char *s, size_t n)
{
	size_t i = 1, k, v, e;

	if (d->directives_done)
		return 0;
	if (n == 0 || s[0] != '#')
		goto done;
	while (i < n && is_re_space(s[i]))
		i++;
	if (i >= n || !is_alpha(s[i]))
		goto done;
	for (k = i; i < n && (is_alpha(s[i]) || (s[i] >= '0' && s[i] <= '9')); i++)
		;
	size_t klen = i - k;
	while (i < n && is_re_space(s[i]))
		i++;
	if (i >= n || s[i++] != '=')
		goto done;
	for (v = i; v < n && is_re_space(s[v]); v++)
		;
	for (e = n; e > v && is_re_space(s[e - 1]); e--)
		;
	if (i == n)
		goto done;
	if (v == n) /* only white space: .+? takes one of it */
		v = n - 1, e = n;
	if (klen == 6 && strncasecmp(s + k, "escape", 6) == 0) {
		if (d->escape_seen++)
			return df_fail(d, "the Dockerfile has two escape directives");
		if (e - v != 1 || (s[v] != '\\' && s[v] != '`'))
			return df_fail(d, "the Dockerfile's escape directive is invalid");
		d->esc = s[v];
		return 0;
	}
	if (klen == 6 && strncasecmp(s + k, "syntax", 6) == 0) {
		if (d->syntax_seen++)
			return df_fail(d, "the Dockerfile has two syntax directives");
		return 0;
	}
done:
	d->directives_done = 1;
	return 0;
}

/* The regexp `([^E])E[ \t]*$|^E[ \t]*$`: a continuation unless the escape
 * token is itself escaped. Returns the length kept, *cont set. */
static size_t continuation(const struct df *d, const char *s, size_t n, int *cont)
{
	size_t e = n;

	while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	*cont = e > 0 && s[e - 1] == d->esc && (e == 1 || s[e - 2] != d->esc);
	return *cont ? e - 1 : n;
}

/* ---- Dockerfile: instructions ---- */

static int flag_space(unsigned char c) /* unicode.IsSpace(rune(byte)) */
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x85 || c == 0xa0;
}

/* extractBuilderFlags: skip leading --flag words (quotes and backslashes
 * as it reads them); the rest of the line. */
static const char *skip_flags(const char *s, const char *end)
{
	for (;;) {
		while (s < end && flag_space((unsigned char)*s))
			s++;
		if (end - s < 2 || s[0] != '-' || s[1] != '-')
			return s;
		if (end - s == 2 || flag_space((unsigned char)s[2]))
			return s + 2;
		char q = 0;
		for (; s < end && (q || !flag_space((unsigned char)*s)); s++) {
			if (q && *s == q)
				q = 0;
			else if (!q && (*s == '"' || *s == '\''))
				q = *s;
			else if (*s == '\\' && s + 1 < end)
				s++;
		}
	}
}

static int ws_re(char c) /* `[\t\v\f\r ]` */
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

static int add_image(struct df *d, const char *name)
{
	size_t n = strlen(name);

	if (n == 0)
		return df_fail(d, "a FROM line of the Dockerfile names an empty image");
	if (strchr(name, '$'))
		return df_fail(d, "a FROM line of the Dockerfile names an image ci-wrap cannot resolve");
	if (strcmp(name, "scratch") == 0)
		return 0;
	char *lower = strdup(name);
	if (!lower)
		return df_fail(d, "out of memory reading the Dockerfile");
	for (char *p = lower; *p; p++)
		*p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
	int stage = json_object_get(d->stages, lower) != NULL;
	free(lower);
	if (stage)
		return 0;
	for (size_t i = 0; i < json_array_size(d->images); i++)
		if (strcmp(json_string_value(json_array_get(d->images, i)), name) == 0)
			return 0;
	if (json_array_size(d->images) >= DOCKERFILE_IMAGES_MAX)
		return df_fail(d, "the Dockerfile names more base images than ci-wrap checks (64)");
	json_t *s = json_stringn(name, n);
	if (!s)
		return df_fail(d, "a FROM line of the Dockerfile names an image that is not UTF-8");
	if (json_array_append_new(d->images, s) < 0)
		return df_fail(d, "out of memory reading the Dockerfile");
	return 0;
}

static int stage_name_ok(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("-_.", *s)))
			return 0;
	return 1;
}

/* reWhitespace.Split(rest, -1): the first 4 fields kept, the count returned;
 * a leading blank makes an empty field. */
static int split_fields(const char *p, const char *end, const char *w[4], size_t wl[4])
{
	int nw = 0;

	for (;;) {
		const char *q = p;
		while (q < end && !ws_re(*q))
			q++;
		if (nw < 4) {
			w[nw] = p;
			wl[nw] = (size_t)(q - p);
		}
		nw++;
		if (q == end)
			return nw;
		while (q < end && ws_re(*q))
			q++;
		p = q;
	}
}

static int add_stage(struct df *d, const char *s, size_t n)
{
	char stage[256];

	if (n >= sizeof(stage))
		return df_fail(d, "a FROM line of the Dockerfile names an invalid stage");
	for (size_t i = 0; i < n; i++)
		stage[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
	stage[n] = '\0';
	if (!stage_name_ok(stage))
		return df_fail(d, "a FROM line of the Dockerfile names an invalid stage");
	json_object_set_new(d->stages, stage, json_true());
	return 0;
}

/* FROM [--flags] image [AS name] */
static int instr_from(struct df *d, const char *s, const char *end)
{
	const char *w[4];
	size_t wl[4];

	if (++d->nfrom > STAGES_MAX)
		return df_fail(d, "the Dockerfile has more stages than ci-wrap reads (256)");
	s = skip_flags(s, end);
	if (s == end)
		return df_fail(d, "a FROM line of the Dockerfile is malformed");
	int nw = split_fields(s, end, w, wl);
	if (!(nw == 1 || (nw == 3 && wl[1] == 2 && strncasecmp(w[1], "as", 2) == 0)))
		return df_fail(d, "a FROM line of the Dockerfile is malformed");
	char *name = expand(w[0], wl[0], d->esc, &d->vars, &d->why);
	if (!name)
		return -1;
	int r = add_image(d, name);
	free(name);
	if (r == 0 && nw == 3)
		r = add_stage(d, w[2], wl[2]);
	return r;
}

/* parseWords: the next word, quotes and escapes kept; NULL at the end. */
static const char *next_word(const char *s, const char *end, char esc, const char **wend)
{
	char q = 0;

	while (s < end && uspace((const unsigned char *)s, (size_t)(end - s)))
		s += uspace((const unsigned char *)s, (size_t)(end - s));
	if (s == end)
		return NULL;
	const char *p = s;
	while (p < end && (q || !uspace((const unsigned char *)p, (size_t)(end - p)))) {
		if (q && *p == q)
			q = 0;
		else if (!q && (*p == '"' || *p == '\''))
			q = *p;
		else if (*p == esc && q != '\'' && p + 1 < end)
			p++;
		p++;
	}
	*wend = p;
	return s;
}

struct pair {
	char *key; /* expanded name */
	char *val; /* expanded value, or NULL for `ARG NAME` */
};

static int arg_pair(struct df *d, const char *w, const char *we, struct pair *pr)
{
	const char *eq = memchr(w, '=', (size_t)(we - w));

	if (eq == w)
		return df_fail(d, "an ARG line of the Dockerfile has an empty name");
	pr->key = expand(w, (size_t)((eq ? eq : we) - w), d->esc, &d->vars, &d->why);
	if (!pr->key)
		return -1;
	if (eq && !(pr->val = expand(eq + 1, (size_t)(we - eq - 1), d->esc, &d->vars, &d->why)))
		return -1;
	return 0;
}

/* ARG before the first FROM: each pair expanded with the values before the
 * line, then all set (processMetaArg). */
static int instr_meta_arg(struct df *d, const char *s, const char *end)
{
	struct pair prs[16] = {{0}};
	const char *w, *we;
	int n = 0, r = 0;

	s = skip_flags(s, end);
	while (r == 0 && (w = next_word(s, end, d->esc, &we)) != NULL) {
		if (n == 16) {
			r = df_fail(d, "an ARG line of the Dockerfile has too many names");
			break;
		}
		r = arg_pair(d, w, we, &prs[n++]);
		s = we;
	}
	for (int i = 0; i < n; i++) {
		if (r == 0 && prs[i].key &&
		    json_object_set_new(d->vars.meta, prs[i].key,
					prs[i].val ? json_string(prs[i].val) : json_null()) < 0)
			r = df_fail(d, "an ARG of the Dockerfile is not valid UTF-8");
		if (r == 0 && json_object_size(d->vars.meta) > ARGS_MAX)
			r = df_fail(d, "the Dockerfile has more ARGs than ci-wrap reads (256)");
		free(prs[i].key);
		free(prs[i].val);
	}
	return r;
}

static int instruction(struct df *d, const char *s, size_t n)
{
	size_t a = ltrim(s, n);
	size_t e = rtrim_len(s, n);
	size_t i = a;

	if (++d->ninstr > INSTRUCTIONS_MAX)
		return df_fail(d, "the Dockerfile has more instructions than ci-wrap reads");
	while (i < e && !ws_re(s[i]))
		i++;
	size_t cl = i - a;
	while (i < e && ws_re(s[i]))
		i++;
	if (cl == 4 && strncasecmp(s + a, "from", 4) == 0)
		return instr_from(d, s + i, s + e);
	if (cl == 3 && strncasecmp(s + a, "arg", 3) == 0 && d->nfrom == 0)
		return instr_meta_arg(d, s + i, s + e);
	return 0;
}

/* ---- Dockerfile: the parser loop (buildkit parser.Parse) ---- */

struct lines {
	const char *s, *end; /* the Dockerfile */
	const char *next;    /* the next line */
};

/* The next physical line, without "\n" and one trailing "\r" (ScanLines). */
static int line_next(struct lines *ls, const char **l, size_t *n)
{
	if (ls->next >= ls->end)
		return 0;
	const char *nl = memchr(ls->next, '\n', (size_t)(ls->end - ls->next));
	const char *e = nl ? nl : ls->end;
	*l = ls->next;
	*n = (size_t)(e - ls->next);
	if (*n > 0 && (*l)[*n - 1] == '\r')
		(*n)--;
	ls->next = nl ? nl + 1 : ls->end;
	return 1;
}

static int is_comment(const char *s, size_t n)
{
	size_t i = ltrim(s, n);

	return i < n && s[i] == '#';
}

/* The continuation lines of a logical line, appended to buf. */
static int continued(struct df *d, struct lines *ls, struct sbuf *buf)
{
	const char *l;
	size_t n;
	int cont = 1;

	while (cont && line_next(ls, &l, &n)) {
		if (is_comment(l, n) || ltrim(l, n) == n)
			continue;
		size_t k = continuation(d, l, n, &cont);
		if (sb_add(buf, l, k) < 0)
			return df_fail(d, "out of memory reading the Dockerfile");
	}
	return 0;
}

static int parse_dockerfile(struct df *d, const char *s, size_t n)
{
	struct lines ls = {.s = s, .end = s + n, .next = s};
	struct sbuf buf = {.max = n + 1};
	const char *l;
	size_t len;
	int first = 1, r = 0;

	while (r == 0 && line_next(&ls, &l, &len)) {
		if (first && len >= 3 && memcmp(l, "\xef\xbb\xbf", 3) == 0)
			l += 3, len -= 3;
		first = 0;
		size_t t = ltrim(l, len);
		l += t;
		len -= t;
		if (directive(d, l, len) < 0)
			return -1;
		if (len > 0 && l[0] == '#')
			len = 0;
		int cont;
		size_t k = continuation(d, l, len, &cont);
		if (!cont && k == 0)
			continue;
		buf.n = 0;
		if (sb_add(&buf, l, k) < 0 || (cont && continued(d, &ls, &buf) < 0)) {
			r = df_fail(d, "out of memory reading the Dockerfile");
			break;
		}
		r = instruction(d, buf.s, buf.n);
	}
	free(buf.s);
	return r;
}

/* ---- API ---- */

json_t *dockerfile_base_images(const char *text, size_t len, const json_t *buildargs,
			       const char **why)
{
	struct df d = {.esc = '\\'};

	d.vars.meta = json_object();
	d.vars.options = buildargs;
	d.stages = json_object();
	d.images = json_array();
	if (!d.vars.meta || !d.stages || !d.images)
		d.why = "out of memory reading the Dockerfile";
	else if (parse_dockerfile(&d, text, len) == 0 && d.nfrom == 0)
		d.why = "the Dockerfile has no FROM line";
	json_decref(d.vars.meta);
	json_decref(d.stages);
	if (d.why) {
		json_decref(d.images);
		*why = d.why;
		return NULL;
	}
	return d.images;
}
