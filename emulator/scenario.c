/* Scenario files, format v1: parser and expectation checker.
 *
 * The file is untrusted input.  Parsing is strictly line by line over a
 * byte buffer with explicit lengths, every field is bounded before it is
 * copied, and the first error stops the parse with one line of text naming
 * the file and line.  All state lives in the caller's struct or in locals,
 * so any number of parses may run in one process. */
#include "migrate.h"
#include "scenario.h"
#include "blkback.h"
#include "netback.h"

#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES   4096
#define FILE_MAX_BYTES   (16u << 20) /* far beyond any sane scenario */
#define MAX_TOKS         32
#define MAX_MEMORY_MIB   65536
#define MAX_VCPUS        128
#define DEFAULT_VTIME_NS 10000000000ULL
#define DEFAULT_EXITS    50000000ULL
#define SHOW_MAX         40 /* bytes of user text echoed in an error message */

/* ---- end states ---------------------------------------------------------- */

static const struct {
    int state;
    const char *name;
} end_states[] = {
    {XS_END_RUNNING, "running"},       {XS_END_POWEROFF, "poweroff"},
    {XS_END_REBOOT, "reboot"},         {XS_END_SUSPEND, "suspend"},
    {XS_END_CRASH, "crash"},           {XS_END_WATCHDOG, "watchdog"},
    {XS_END_SOFT_RESET, "soft_reset"}, {XS_END_FAULT, "fault"},
};
#define NR_END_STATES (sizeof(end_states) / sizeof(end_states[0]))

const char *xs_end_state_name(int state)
{
    for (size_t i = 0; i < NR_END_STATES; i++)
        if (end_states[i].state == state) return end_states[i].name;
    /* Never NULL: callers print the result directly. */
    return "unknown";
}

int xs_end_state_parse(const char *name)
{
    if (!name) return -2;
    for (size_t i = 0; i < NR_END_STATES; i++)
        if (strcmp(end_states[i].name, name) == 0) return end_states[i].state;
    return -2;
}

/* ---- parser context and errors --------------------------------------------- */

struct pctx {
    struct xs_scenario *s;
    const char *path;
    int line; /* 0 for whole-file problems */
    char *err;
    size_t errlen;
    size_t expects_cap;
    size_t inputs_cap;
    int scenario_line, vtime_line, exits_line;
};

/* Error messages must stay one line whatever the file or path contains. */
static void flatten(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

static int fail(struct pctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct pctx *c, const char *fmt, ...)
{
    if (!c->err || c->errlen == 0) return -1;
    int n;
    if (c->line > 0)
        n = snprintf(c->err, c->errlen, "%s:%d: ", c->path, c->line);
    else
        n = snprintf(c->err, c->errlen, "%s: ", c->path);
    if (n >= 0 && (size_t)n < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    flatten(c->err);
    return -1;
}

/* A short, printable rendering of user text for error messages. */
static const char *show(const char *s, size_t len, char *buf, size_t buflen)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < buflen; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i == SHOW_MAX) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o] = '\0';
    return buf;
}
#define SHOWBUF        (SHOW_MAX * 4 + 8)
#define SHOW(str, buf) show((str), strlen(str), (buf), sizeof(buf))

/* ---- lexer -------------------------------------------------------------------- */

/* One word of a statement: a bare WORD, a "STRING", or KEY=VALUE where VALUE
 * is a word or a string.  Keeping KEY apart means a quoted '=' is never
 * mistaken for a key. */
struct tok {
    const char *key; /* NULL unless KEY=VALUE */
    const char *val;
    size_t len; /* of val, decoded */
    bool quoted;
};

struct toks {
    unsigned n;
    struct tok t[MAX_TOKS];
    /* Decoded text never exceeds the raw line, plus a NUL per key/value. */
    char buf[LINE_MAX_BYTES + 2 * MAX_TOKS + 8];
    size_t used;
};

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Decode a quoted string starting at line[*i] == '"'. */
static int lex_string(struct pctx *c, const char *line, size_t len, size_t *i,
                      struct toks *tk, size_t *outlen)
{
    size_t p = *i + 1, start = tk->used;
    for (;;) {
        if (p >= len) return fail(c, "unterminated quote");
        char ch = line[p++];
        if (ch == '"') break;
        if (ch == '\\') {
            if (p >= len) return fail(c, "unterminated quote");
            char e = line[p++];
            switch (e) {
            case '"':
            case '\\':
                ch = e;
                break;
            case 'n':
                ch = '\n';
                break;
            case 't':
                ch = '\t';
                break;
            default: {
                char b[SHOWBUF];
                return fail(c, "unknown escape '\\%s' in string (use \\\" \\\\ \\n \\t)",
                            show(&e, 1, b, sizeof(b)));
            }
            }
        }
        tk->buf[tk->used++] = ch;
    }
    tk->buf[tk->used++] = '\0';
    if (p < len && !is_space(line[p]) && line[p] != '#')
        return fail(c, "unexpected character after closing quote");
    *outlen = tk->used - 1 - start;
    *i = p;
    return 0;
}

/* Copy a bare word; stops at blanks, comments, quotes and (if stop_eq) '='. */
static size_t lex_word(const char *line, size_t len, size_t *i, struct toks *tk,
                       bool stop_eq)
{
    size_t p = *i, start = tk->used;
    while (p < len && !is_space(line[p]) && line[p] != '#' && line[p] != '"' &&
           !(stop_eq && line[p] == '='))
        tk->buf[tk->used++] = line[p++];
    tk->buf[tk->used++] = '\0';
    *i = p;
    return tk->used - 1 - start;
}

static int lex_line(struct pctx *c, const char *line, size_t len, struct toks *tk)
{
    tk->n = 0;
    tk->used = 0;
    size_t i = 0;
    for (;;) {
        while (i < len && is_space(line[i]))
            i++;
        if (i >= len || line[i] == '#') return 0;
        if (tk->n == MAX_TOKS)
            return fail(c, "too many words on one line (max %d)", MAX_TOKS);
        struct tok *t = &tk->t[tk->n++];
        memset(t, 0, sizeof(*t));
        if (line[i] == '"') {
            t->val = tk->buf + tk->used;
            t->quoted = true;
            if (lex_string(c, line, len, &i, tk, &t->len) < 0) return -1;
            continue;
        }
        const char *word = tk->buf + tk->used;
        size_t wlen = lex_word(line, len, &i, tk, true);
        if (i < len && line[i] == '"')
            return fail(c, "unexpected quote after '%.*s' (quote the whole value)",
                        (int)(wlen > SHOW_MAX ? SHOW_MAX : wlen), word);
        if (i < len && line[i] == '=') {
            if (wlen == 0) return fail(c, "missing key before '='");
            i++;
            t->key = word;
            t->val = tk->buf + tk->used;
            if (i < len && line[i] == '"') {
                t->quoted = true;
                if (lex_string(c, line, len, &i, tk, &t->len) < 0) return -1;
            } else {
                t->len = lex_word(line, len, &i, tk, false);
                if (i < len && line[i] == '"')
                    return fail(
                        c, "unexpected quote in value of %s= (quote the whole value)",
                        word);
                if (t->len == 0) return fail(c, "missing value after '%s='", word);
            }
            continue;
        }
        t->val = word;
        t->len = wlen;
    }
}

/* ---- value helpers -------------------------------------------------------------- */

static int copy_text(struct pctx *c, char *dst, const struct tok *t, const char *what)
{
    if (t->len >= XS_SCN_TEXT_MAX)
        return fail(c, "%s text too long (%zu bytes, max %d)", what, t->len,
                    XS_SCN_TEXT_MAX - 1);
    memcpy(dst, t->val, t->len + 1);
    return 0;
}

static int check_name(struct pctx *c, const struct tok *t, size_t max, const char *what)
{
    char b[SHOWBUF];
    bool ok = t->len >= 1 && t->len <= max;
    for (size_t i = 0; ok && i < t->len; i++) {
        char ch = t->val[i];
        ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
             (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    }
    if (!ok)
        return fail(c, "invalid %s name '%s' (use 1-%zu of A-Z a-z 0-9 _ -)", what,
                    show(t->val, t->len, b, sizeof(b)), max);
    return 0;
}

/* Parse the leading decimal digits of s; *end gets the first non-digit. */
static int parse_digits(struct pctx *c, const char *what, const char *s, uint64_t *out,
                        const char **end)
{
    char b[SHOWBUF];
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return fail(c, "%s: '%s' is not a number", what, SHOW(s, b));
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return fail(c, "%s: number '%s' is too large", what, SHOW(s, b));
        v = v * 10 + d;
    }
    *out = v;
    *end = p;
    return 0;
}

static int parse_number(struct pctx *c, const char *what, const char *s, uint64_t *out)
{
    char b[SHOWBUF];
    const char *end;
    if (parse_digits(c, what, s, out, &end) < 0) return -1;
    if (*end) return fail(c, "%s: '%s' is not a number", what, SHOW(s, b));
    return 0;
}

static int parse_range(struct pctx *c, const char *what, const char *s, uint64_t lo,
                       uint64_t hi, uint64_t *out)
{
    if (parse_number(c, what, s, out) < 0) return -1;
    if (*out < lo || *out > hi)
        return fail(c, "%s %llu out of range %llu..%llu", what, (unsigned long long)*out,
                    (unsigned long long)lo, (unsigned long long)hi);
    return 0;
}

static int parse_duration(struct pctx *c, const char *what, const char *s, uint64_t *ns)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}};
    char b[SHOWBUF];
    const char *end;
    uint64_t v;
    if (parse_digits(c, what, s, &v, &end) < 0) return -1;
    if (!*end)
        return fail(c, "%s: missing unit in '%s' (use ns, us, ms or s)", what,
                    SHOW(s, b));
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) != 0) continue;
        if (v > UINT64_MAX / units[i].mult)
            return fail(c, "%s: duration '%s' is too large", what, SHOW(s, b));
        *ns = v * units[i].mult;
        if (*ns == 0) return fail(c, "%s must be greater than 0", what);
        return 0;
    }
    return fail(c, "%s: unknown unit in '%s' (use ns, us, ms or s)", what, SHOW(s, b));
}

static int find_domain(const struct xs_scenario *s, const char *name)
{
    for (unsigned i = 0; i < s->nr_domains; i++)
        if (strcmp(s->domains[i].name, name) == 0) return (int)i;
    return -1;
}

/* ---- statements ----------------------------------------------------------------- */

static int st_scenario(struct pctx *c, const struct toks *tk)
{
    if (c->scenario_line)
        return fail(c, "duplicate scenario statement (first on line %d)",
                    c->scenario_line);
    if (tk->n != 2 || tk->t[1].key) return fail(c, "usage: scenario NAME");
    if (check_name(c, &tk->t[1], sizeof(c->s->name) - 1, "scenario") < 0) return -1;
    memcpy(c->s->name, tk->t[1].val, tk->t[1].len + 1);
    c->scenario_line = c->line;
    return 0;
}

static int st_domain(struct pctx *c, const struct toks *tk)
{
    struct xs_scenario *s = c->s;
    char b[SHOWBUF];
    if (tk->n < 2 || tk->t[1].key)
        return fail(c, "usage: domain NAME image=IMAGE [KEY=VALUE...]");
    const struct tok *nt = &tk->t[1];
    if (check_name(c, nt, XS_SCN_NAME_MAX - 1, "domain") < 0) return -1;
    int prev = find_domain(s, nt->val);
    if (prev >= 0)
        return fail(c, "duplicate domain '%s' (first declared on line %d)", nt->val,
                    s->domains[prev].line);
    if (s->nr_domains >= XS_SCN_MAX_DOMAINS)
        return fail(c, "too many domains (max %d)", XS_SCN_MAX_DOMAINS);

    struct xs_scn_domain d;
    memset(&d, 0, sizeof(d));
    memcpy(d.name, nt->val, nt->len + 1);
    d.memory_mib = 64;
    d.vcpus = 1;
    d.hypercalls = XS_HC_DIRECT;
    d.line = c->line;

    static const char *const keys[] = {"image", "memory", "vcpus", "cmdline",
                                       "hypercalls"};
    bool seen[sizeof(keys) / sizeof(keys[0])] = {false};
    for (unsigned i = 2; i < tk->n; i++) {
        const struct tok *t = &tk->t[i];
        if (!t->key)
            return fail(c, "domain %s: unexpected '%s' (expected KEY=VALUE)", d.name,
                        show(t->val, t->len, b, sizeof(b)));
        size_t k = 0;
        while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[k], t->key) != 0)
            k++;
        if (k == sizeof(keys) / sizeof(keys[0]))
            return fail(c,
                        "domain %s: unknown key '%s' (expected image, memory, vcpus, "
                        "cmdline or hypercalls)",
                        d.name, SHOW(t->key, b));
        if (seen[k]) return fail(c, "domain %s: duplicate key '%s'", d.name, t->key);
        seen[k] = true;
        uint64_t v;
        char what[XS_SCN_NAME_MAX + 32];
        snprintf(what, sizeof(what), "domain %s: %s", d.name, keys[k]);
        switch (k) {
        case 0:
            if (t->len == 0) return fail(c, "domain %s: image must not be empty", d.name);
            if (copy_text(c, d.image, t, "image") < 0) return -1;
            break;
        case 1:
            if (parse_range(c, what, t->val, 1, MAX_MEMORY_MIB, &v) < 0) return -1;
            d.memory_mib = v;
            break;
        case 2:
            if (parse_range(c, what, t->val, 1, MAX_VCPUS, &v) < 0) return -1;
            d.vcpus = (unsigned)v;
            break;
        case 3:
            if (copy_text(c, d.cmdline, t, "cmdline") < 0) return -1;
            break;
        case 4:
            if (strcmp(t->val, "direct") == 0)
                d.hypercalls = XS_HC_DIRECT;
            else if (strcmp(t->val, "vmcall") == 0)
                d.hypercalls = XS_HC_VMCALL;
            else
                return fail(c, "domain %s: hypercalls must be direct or vmcall, not '%s'",
                            d.name, show(t->val, t->len, b, sizeof(b)));
            break;
        }
    }
    if (!seen[0]) return fail(c, "domain %s: missing image=", d.name);
    s->domains[s->nr_domains++] = d;
    return 0;
}

static int st_limit(struct pctx *c, const struct toks *tk)
{
    char b[SHOWBUF];
    if (tk->n < 2) return fail(c, "usage: limit [vtime=DURATION] [exits=N]");
    for (unsigned i = 1; i < tk->n; i++) {
        const struct tok *t = &tk->t[i];
        if (!t->key)
            return fail(c, "limit: unexpected '%s' (expected vtime=DURATION or exits=N)",
                        show(t->val, t->len, b, sizeof(b)));
        if (strcmp(t->key, "vtime") == 0) {
            if (c->vtime_line)
                return fail(c, "duplicate limit vtime (first set on line %d)",
                            c->vtime_line);
            if (parse_duration(c, "vtime", t->val, &c->s->vtime_limit_ns) < 0) return -1;
            c->vtime_line = c->line;
        } else if (strcmp(t->key, "exits") == 0) {
            if (c->exits_line)
                return fail(c, "duplicate limit exits (first set on line %d)",
                            c->exits_line);
            if (parse_number(c, "exits", t->val, &c->s->exit_limit) < 0) return -1;
            if (c->s->exit_limit == 0) return fail(c, "exits must be greater than 0");
            c->exits_line = c->line;
        } else {
            return fail(c, "limit: unknown key '%s' (expected vtime or exits)",
                        SHOW(t->key, b));
        }
    }
    return 0;
}

/* device CLASS frontend=DOM backend=DOM [id=N] */
static int st_device(struct pctx *c, const struct toks *tk)
{
    struct xs_scenario *s = c->s;
    char b[SHOWBUF];
    if (tk->n < 2 || tk->t[1].key || tk->t[1].quoted)
        return fail(c, "usage: device CLASS frontend=DOMAIN backend=DOMAIN [id=N]");
    const struct tok *ct = &tk->t[1];
    if (check_name(c, ct, XS_SCN_NAME_MAX - 1, "device class") < 0) return -1;
    if (s->nr_devices >= XS_SCN_MAX_DEVICES)
        return fail(c, "too many devices (max %d)", XS_SCN_MAX_DEVICES);
    struct xs_scn_device dv;
    memset(&dv, 0, sizeof(dv));
    memcpy(dv.devclass, ct->val, ct->len + 1);
    dv.line = c->line;
    int front = -1, back = -1;
    bool have_id = false;
    for (unsigned i = 2; i < tk->n; i++) {
        const struct tok *t = &tk->t[i];
        if (!t->key)
            return fail(c, "device %s: unexpected '%s' (expected KEY=VALUE)", dv.devclass,
                        show(t->val, t->len, b, sizeof(b)));
        int *dom = strcmp(t->key, "frontend") == 0  ? &front
                   : strcmp(t->key, "backend") == 0 ? &back
                                                    : NULL;
        if (dom) {
            if (*dom >= 0)
                return fail(c, "device %s: duplicate key '%s'", dv.devclass, t->key);
            *dom = find_domain(s, t->val);
            if (*dom < 0)
                return fail(
                    c,
                    "device %s: %s: unknown domain '%s' (domains must be declared "
                    "before use)",
                    dv.devclass, t->key, show(t->val, t->len, b, sizeof(b)));
        } else if (strcmp(t->key, "id") == 0) {
            uint64_t v;
            if (have_id) return fail(c, "device %s: duplicate key 'id'", dv.devclass);
            if (parse_range(c, "device id", t->val, 0, 65535, &v) < 0) return -1;
            dv.id = (unsigned)v;
            have_id = true;
        } else {
            return fail(c,
                        "device %s: unknown key '%s' (expected frontend, backend or id)",
                        dv.devclass, SHOW(t->key, b));
        }
    }
    if (front < 0 || back < 0)
        return fail(c, "device %s: needs frontend=DOMAIN and backend=DOMAIN",
                    dv.devclass);
    if (front == back)
        return fail(c, "device %s: frontend and backend are the same domain",
                    dv.devclass);
    dv.frontend = (unsigned)front;
    dv.backend = (unsigned)back;
    /* Without id=, the lowest id the frontend has free in this class. */
    for (bool again = true; again;) {
        again = false;
        for (unsigned i = 0; i < s->nr_devices; i++) {
            const struct xs_scn_device *o = &s->devices[i];
            if (o->frontend != dv.frontend || strcmp(o->devclass, dv.devclass) != 0 ||
                o->id != dv.id)
                continue;
            if (have_id)
                return fail(c, "device %s id %u of %s already declared on line %d",
                            dv.devclass, dv.id, s->domains[front].name, o->line);
            dv.id++;
            again = true;
        }
    }
    s->devices[s->nr_devices++] = dv;
    return 0;
}

static int add_expect(struct pctx *c, const struct xs_scn_expect *e)
{
    struct xs_scenario *s = c->s;
    if (s->nr_expects == c->expects_cap) {
        size_t cap = c->expects_cap ? c->expects_cap * 2 : 16;
        if (cap > UINT32_MAX / 2) return fail(c, "too many expectations");
        struct xs_scn_expect *n = realloc(s->expects, cap * sizeof(*n));
        if (!n) return fail(c, "out of memory");
        s->expects = n;
        c->expects_cap = cap;
    }
    s->expects[s->nr_expects++] = *e;
    return 0;
}

/* expect DOMAIN suspends [resumed=N] [cancelled=N] [failed=N] */
static int expect_suspends(struct pctx *c, const struct toks *tk, int dom)
{
    static const char *const keys[] = {"resumed", "cancelled", "failed"};
    const char *dname = tk->t[1].val;
    char b[SHOWBUF];
    struct xs_scn_expect e;
    memset(&e, 0, sizeof(e));
    e.kind = XS_EXPECT_SUSPENDS;
    e.domain = (unsigned)dom;
    e.end_state = XS_END_RUNNING;
    e.line = c->line;
    for (unsigned k = 0; k < 3; k++)
        e.suspends[k] = -1;
    if (tk->n < 4)
        return fail(c,
                    "expect %s suspends: give at least one of resumed=N, cancelled=N, "
                    "failed=N",
                    dname);
    for (unsigned i = 3; i < tk->n; i++) {
        const struct tok *t = &tk->t[i];
        unsigned k = 0;
        while (t->key && k < 3 && strcmp(keys[k], t->key) != 0)
            k++;
        if (!t->key || k == 3)
            return fail(c,
                        "expect %s suspends: unexpected '%s' (expected resumed=N, "
                        "cancelled=N or failed=N)",
                        dname,
                        t->key ? SHOW(t->key, b) : show(t->val, t->len, b, sizeof(b)));
        if (e.suspends[k] >= 0)
            return fail(c, "expect %s suspends: duplicate key '%s'", dname, t->key);
        uint64_t v;
        if (parse_range(c, "expect suspends count", t->val, 0, XS_SCN_MAX_SUSPENDS, &v) <
            0)
            return -1;
        e.suspends[k] = (int)v;
    }
    return add_expect(c, &e);
}

/* suspend DOMAIN at=TIME [cancel] [timeout=TIME] */
static int st_suspend(struct pctx *c, const struct toks *tk)
{
    struct xs_scenario *s = c->s;
    char b[SHOWBUF];
    if (tk->n < 3 || tk->t[1].key || tk->t[1].quoted)
        return fail(c, "usage: suspend DOMAIN at=TIME [cancel] [timeout=TIME]");
    const struct tok *dt = &tk->t[1];
    int dom = find_domain(s, dt->val);
    if (dom < 0)
        return fail(c,
                    "suspend: unknown domain '%s' (domains must be declared before use)",
                    show(dt->val, dt->len, b, sizeof(b)));
    if (s->nr_suspends >= XS_SCN_MAX_SUSPENDS)
        return fail(c, "too many suspend statements (max %d)", XS_SCN_MAX_SUSPENDS);
    struct xs_scn_suspend sp;
    memset(&sp, 0, sizeof(sp));
    sp.domain = (unsigned)dom;
    sp.line = c->line;
    bool have_at = false, have_timeout = false;
    for (unsigned i = 2; i < tk->n; i++) {
        const struct tok *t = &tk->t[i];
        if (!t->key && !t->quoted && strcmp(t->val, "cancel") == 0) {
            if (sp.cancel) return fail(c, "suspend %s: duplicate 'cancel'", dt->val);
            sp.cancel = true;
        } else if (!t->key) {
            return fail(c,
                        "suspend %s: unexpected '%s' (expected at=TIME, cancel or "
                        "timeout=TIME)",
                        dt->val, show(t->val, t->len, b, sizeof(b)));
        } else if (strcmp(t->key, "at") == 0 || strcmp(t->key, "timeout") == 0) {
            bool at = t->key[0] == 'a';
            if (at ? have_at : have_timeout)
                return fail(c, "suspend %s: duplicate key '%s'", dt->val, t->key);
            if (parse_duration(c, at ? "suspend at" : "suspend timeout", t->val,
                               at ? &sp.at_ns : &sp.timeout_ns) < 0)
                return -1;
            *(at ? &have_at : &have_timeout) = true;
        } else {
            return fail(c, "suspend %s: unknown key '%s' (expected at or timeout)",
                        dt->val, SHOW(t->key, b));
        }
    }
    if (!have_at) return fail(c, "suspend %s: needs at=TIME", dt->val);
    s->suspends[s->nr_suspends++] = sp;
    return 0;
}

/* restore NAME file=PATH: a domain built from a saved image (docs/migration.md). */
static int st_restore(struct pctx *c, const struct toks *tk)
{
    struct xs_scenario *s = c->s;
    if (tk->n != 3 || tk->t[1].key || tk->t[1].quoted || !tk->t[2].key ||
        strcmp(tk->t[2].key, "file") != 0)
        return fail(c, "usage: restore NAME file=PATH");
    const struct tok *nt = &tk->t[1], *ft = &tk->t[2];
    if (check_name(c, nt, XS_SCN_NAME_MAX - 1, "domain") < 0) return -1;
    int prev = find_domain(s, nt->val);
    if (prev >= 0)
        return fail(c, "duplicate domain '%s' (first declared on line %d)", nt->val,
                    s->domains[prev].line);
    if (s->nr_domains >= XS_SCN_MAX_DOMAINS)
        return fail(c, "too many domains (max %d)", XS_SCN_MAX_DOMAINS);
    if (ft->len == 0) return fail(c, "restore %s: file must not be empty", nt->val);
    struct xs_scn_domain d;
    memset(&d, 0, sizeof(d));
    memcpy(d.name, nt->val, nt->len + 1);
    d.memory_mib = 64; /* the image says: these are not used */
    d.vcpus = 1;
    d.line = c->line;
    if (copy_text(c, d.restore, ft, "file") < 0) return -1;
    s->domains[s->nr_domains++] = d;
    return 0;
}

/* save DOMAIN at=TIME file=PATH [timeout=TIME] */
static int st_save(struct pctx *c, const struct toks *tk)
{
    struct xs_scenario *s = c->s;
    char b[SHOWBUF];
    if (tk->n < 4 || tk->t[1].key || tk->t[1].quoted)
        return fail(c, "usage: save DOMAIN at=TIME file=PATH [timeout=TIME]");
    const struct tok *dt = &tk->t[1];
    int dom = find_domain(s, dt->val);
    if (dom < 0)
        return fail(c, "save: unknown domain '%s' (domains must be declared before use)",
                    show(dt->val, dt->len, b, sizeof(b)));
    if (s->nr_saves >= XS_SCN_MAX_SAVES)
        return fail(c, "too many save statements (max %d)", XS_SCN_MAX_SAVES);
    struct xs_scn_save sv;
    memset(&sv, 0, sizeof(sv));
    sv.domain = (unsigned)dom;
    sv.line = c->line;
    bool have_at = false, have_timeout = false;
    for (unsigned i = 2; i < tk->n; i++) {
        const struct tok *t = &tk->t[i];
        if (!t->key)
            return fail(c,
                        "save %s: unexpected '%s' (expected at=TIME, file=PATH or "
                        "timeout=TIME)",
                        dt->val, show(t->val, t->len, b, sizeof(b)));
        if (strcmp(t->key, "file") == 0) {
            if (sv.file[0]) return fail(c, "save %s: duplicate key 'file'", dt->val);
            if (t->len == 0) return fail(c, "save %s: file must not be empty", dt->val);
            if (copy_text(c, sv.file, t, "file") < 0) return -1;
        } else if (strcmp(t->key, "at") == 0 || strcmp(t->key, "timeout") == 0) {
            bool at = t->key[0] == 'a';
            if (at ? have_at : have_timeout)
                return fail(c, "save %s: duplicate key '%s'", dt->val, t->key);
            if (parse_duration(c, at ? "save at" : "save timeout", t->val,
                               at ? &sv.at_ns : &sv.timeout_ns) < 0)
                return -1;
            *(at ? &have_at : &have_timeout) = true;
        } else {
            return fail(c, "save %s: unknown key '%s' (expected at, file or timeout)",
                        dt->val, SHOW(t->key, b));
        }
    }
    if (!have_at) return fail(c, "save %s: needs at=TIME", dt->val);
    if (!sv.file[0]) return fail(c, "save %s: needs file=PATH", dt->val);
    s->saves[s->nr_saves++] = sv;
    return 0;
}

/* migrate DOMAIN at=TIME [rounds=N] [threshold=PAGES] [bandwidth=BYTES_PER_S]
 * [timeout=TIME] [file=PATH] [log=PATH] [cut=BYTES] */
static int st_migrate(struct pctx *c, const struct toks *tk)
{
    static const char usage[] =
        "usage: migrate DOMAIN at=TIME [rounds=N] [threshold=PAGES] "
        "[bandwidth=BYTES_PER_S] [timeout=TIME] [file=PATH] [log=PATH] [cut=BYTES]";
    static const char *const keys[] = {"at",      "rounds", "threshold", "bandwidth",
                                       "timeout", "file",   "log",       "cut"};
    struct xs_scenario *s = c->s;
    char b[SHOWBUF];
    if (tk->n < 3 || tk->t[1].key || tk->t[1].quoted) return fail(c, usage);
    const struct tok *dt = &tk->t[1];
    int dom = find_domain(s, dt->val);
    if (dom < 0)
        return fail(c,
                    "migrate: unknown domain '%s' (domains must be declared before use)",
                    show(dt->val, dt->len, b, sizeof(b)));
    if (s->nr_migrates >= XS_SCN_MAX_MIGRATES)
        return fail(c, "too many migrate statements (max %d)", XS_SCN_MAX_MIGRATES);
    struct xs_scn_migrate mg;
    memset(&mg, 0, sizeof(mg));
    mg.domain = (unsigned)dom;
    mg.line = c->line;
    mg.rounds = XS_MIGRATE_ROUNDS;
    mg.threshold = XS_MIGRATE_THRESHOLD;
    mg.bandwidth = XS_MIGRATE_BANDWIDTH;
    bool seen[8] = {false};
    for (unsigned i = 2; i < tk->n; i++) {
        const struct tok *t = &tk->t[i];
        unsigned k = 0;
        while (t->key && k < 8 && strcmp(keys[k], t->key) != 0)
            k++;
        if (!t->key)
            return fail(c, "migrate %s: unexpected '%s' (expected KEY=VALUE)", dt->val,
                        show(t->val, t->len, b, sizeof(b)));
        if (k == 8)
            return fail(c,
                        "migrate %s: unknown key '%s' (expected at, rounds, threshold, "
                        "bandwidth, timeout, file, log or cut)",
                        dt->val, SHOW(t->key, b));
        if (seen[k]) return fail(c, "migrate %s: duplicate key '%s'", dt->val, t->key);
        seen[k] = true;
        uint64_t v;
        switch (k) {
        case 0:
            if (parse_duration(c, "migrate at", t->val, &mg.at_ns) < 0) return -1;
            break;
        case 1:
            if (parse_range(c, "migrate rounds", t->val, 0, 1000, &v) < 0) return -1;
            mg.rounds = (unsigned)v;
            break;
        case 2:
            if (parse_range(c, "migrate threshold", t->val, 0, 1ULL << 32,
                            &mg.threshold) < 0)
                return -1;
            break;
        case 3:
            if (parse_range(c, "migrate bandwidth", t->val, 1, XS_MIGRATE_BW_MAX,
                            &mg.bandwidth) < 0)
                return -1;
            break;
        case 4:
            if (parse_duration(c, "migrate timeout", t->val, &mg.timeout_ns) < 0)
                return -1;
            break;
        case 5:
        case 6:
            if (t->len == 0)
                return fail(c, "migrate %s: %s must not be empty", dt->val, t->key);
            if (copy_text(c, k == 5 ? mg.file : mg.log, t, t->key) < 0) return -1;
            break;
        case 7:
            if (parse_range(c, "migrate cut", t->val, 1, UINT64_MAX, &mg.cut) < 0)
                return -1;
            break;
        }
    }
    if (!seen[0]) return fail(c, "migrate %s: needs at=TIME", dt->val);
    s->migrates[s->nr_migrates++] = mg;
    return 0;
}

/* expect DOMAIN migrates [ok=N] [failed=N] [max-downtime=TIME] */
static int expect_migrates(struct pctx *c, const struct toks *tk, int dom)
{
    const char *dname = tk->t[1].val;
    char b[SHOWBUF];
    struct xs_scn_expect e;
    memset(&e, 0, sizeof(e));
    e.kind = XS_EXPECT_MIGRATES;
    e.domain = (unsigned)dom;
    e.end_state = XS_END_RUNNING;
    e.line = c->line;
    e.migrates[0] = e.migrates[1] = -1;
    e.max_downtime_ns = UINT64_MAX;
    if (tk->n < 4)
        return fail(c,
                    "expect %s migrates: give at least one of ok=N, failed=N, "
                    "max-downtime=TIME",
                    dname);
    for (unsigned i = 3; i < tk->n; i++) {
        const struct tok *t = &tk->t[i];
        uint64_t v;
        if (t->key && strcmp(t->key, "max-downtime") == 0) {
            if (e.max_downtime_ns != UINT64_MAX)
                return fail(c, "expect %s migrates: duplicate key '%s'", dname, t->key);
            if (parse_duration(c, "expect migrates max-downtime", t->val,
                               &e.max_downtime_ns) < 0)
                return -1;
            continue;
        }
        int k = !t->key                         ? -1
                : strcmp(t->key, "ok") == 0     ? 0
                : strcmp(t->key, "failed") == 0 ? 1
                                                : -1;
        if (k < 0)
            return fail(c,
                        "expect %s migrates: unexpected '%s' (expected ok=N, failed=N or "
                        "max-downtime=TIME)",
                        dname,
                        t->key ? SHOW(t->key, b) : show(t->val, t->len, b, sizeof(b)));
        if (e.migrates[k] >= 0)
            return fail(c, "expect %s migrates: duplicate key '%s'", dname, t->key);
        if (parse_range(c, "expect migrates count", t->val, 0, XS_SCN_MAX_MIGRATES, &v) <
            0)
            return -1;
        e.migrates[k] = (int)v;
    }
    return add_expect(c, &e);
}

static int st_expect(struct pctx *c, const struct toks *tk)
{
    static const struct {
        const char *name;
        enum xs_expect_kind kind;
    } kinds[] = {
        {"console", XS_EXPECT_CONSOLE},       {"console-re", XS_EXPECT_CONSOLE_RE},
        {"no-console", XS_EXPECT_NO_CONSOLE}, {"end", XS_EXPECT_END},
        {"report", XS_EXPECT_REPORT},         {"report-re", XS_EXPECT_REPORT_RE},
        {"no-report", XS_EXPECT_NO_REPORT}};
    char b[SHOWBUF];
    if (tk->n < 3 || tk->t[1].key || tk->t[1].quoted || tk->t[2].key || tk->t[2].quoted)
        return fail(c, "usage: expect DOMAIN console|console-re|no-console|report|"
                       "report-re|no-report \"TEXT\" or expect DOMAIN end STATE");
    const struct tok *dt = &tk->t[1], *kt = &tk->t[2];
    int dom = find_domain(c->s, dt->val);
    if (dom < 0)
        return fail(c,
                    "expect: unknown domain '%s' (domains must be declared before use)",
                    show(dt->val, dt->len, b, sizeof(b)));
    if (strcmp(kt->val, "suspends") == 0) return expect_suspends(c, tk, dom);
    if (strcmp(kt->val, "migrates") == 0) return expect_migrates(c, tk, dom);
    size_t k = 0;
    while (k < sizeof(kinds) / sizeof(kinds[0]) && strcmp(kinds[k].name, kt->val) != 0)
        k++;
    if (k == sizeof(kinds) / sizeof(kinds[0]))
        return fail(c,
                    "expect: unknown expectation '%s' (expected console, console-re, "
                    "no-console, report, report-re, no-report or end)",
                    show(kt->val, kt->len, b, sizeof(b)));
    if (tk->n != 4)
        return fail(c, "expect %s %s: expected exactly one argument", dt->val, kt->val);

    struct xs_scn_expect e;
    memset(&e, 0, sizeof(e));
    e.kind = kinds[k].kind;
    e.domain = (unsigned)dom;
    e.end_state = XS_END_RUNNING;
    e.line = c->line;
    const struct tok *at = &tk->t[3];
    if (e.kind == XS_EXPECT_END) {
        int st = at->key || at->quoted ? -2 : xs_end_state_parse(at->val);
        if (st == -2)
            return fail(c,
                        "expect: unknown end state '%s' (expected running, poweroff, "
                        "reboot, suspend, crash, watchdog, soft_reset or fault)",
                        show(at->val, at->len, b, sizeof(b)));
        e.end_state = st;
        return add_expect(c, &e);
    }
    if (at->key || !at->quoted)
        return fail(c, "expect %s %s: the text must be a quoted string", dt->val,
                    kt->val);
    if (copy_text(c, e.text, at, kt->val) < 0) return -1;
    /* Console text is matched line by line, so a newline could never match
     * (and would make no-console vacuously true). */
    bool is_re = e.kind == XS_EXPECT_CONSOLE_RE || e.kind == XS_EXPECT_REPORT_RE;
    if (!is_re && memchr(e.text, '\n', at->len))
        return fail(c, "expect %s %s: text cannot contain a newline", dt->val, kt->val);
    if (is_re) {
        regex_t re;
        int rc = regcomp(&re, e.text, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[256];
            regerror(rc, &re, msg, sizeof(msg));
            return fail(c, "expect %s %s: bad regex \"%s\": %s", dt->val, kt->val,
                        show(at->val, at->len, b, sizeof(b)), msg);
        }
        regfree(&re);
    }
    return add_expect(c, &e);
}

/* disk DOMAIN (path=FILE|size=MiB) [readonly] [id=N] [attach=TIME] [detach=TIME] */
static int st_disk(struct pctx *c, const struct toks *tk)
{
    struct xs_scenario *s = c->s;
    char b[SHOWBUF];
    if (tk->n < 2 || tk->t[1].key || tk->t[1].quoted)
        return fail(c, "usage: disk DOMAIN path=FILE|size=MiB [readonly] [id=N] "
                       "[attach=TIME] [detach=TIME]");
    const struct tok *dt = &tk->t[1];
    int dom = find_domain(s, dt->val);
    if (dom < 0)
        return fail(c, "disk: unknown domain '%s' (domains must be declared before use)",
                    show(dt->val, dt->len, b, sizeof(b)));
    if (s->nr_disks >= XS_SCN_MAX_DISKS)
        return fail(c, "too many disks (max %d)", XS_SCN_MAX_DISKS);
    struct xs_scn_disk dk;
    memset(&dk, 0, sizeof(dk));
    dk.domain = (unsigned)dom;
    dk.line = c->line;
    bool have_path = false, have_size = false, have_id = false, have_at = false,
         have_dt = false;
    for (unsigned i = 2; i < tk->n; i++) {
        const struct tok *t = &tk->t[i];
        uint64_t v;
        if (!t->key && !t->quoted && strcmp(t->val, "readonly") == 0) {
            if (dk.readonly) return fail(c, "disk %s: duplicate 'readonly'", dt->val);
            dk.readonly = true;
        } else if (!t->key) {
            return fail(c, "disk %s: unexpected '%s' (expected KEY=VALUE or readonly)",
                        dt->val, show(t->val, t->len, b, sizeof(b)));
        } else if (strcmp(t->key, "path") == 0) {
            if (have_path) return fail(c, "disk %s: duplicate key 'path'", dt->val);
            if (t->len == 0) return fail(c, "disk %s: path must not be empty", dt->val);
            if (copy_text(c, dk.path, t, "path") < 0) return -1;
            have_path = true;
        } else if (strcmp(t->key, "size") == 0) {
            if (have_size) return fail(c, "disk %s: duplicate key 'size'", dt->val);
            if (parse_range(c, "disk size (MiB)", t->val, 1, 1u << 20, &v) < 0) return -1;
            dk.size_mib = v;
            have_size = true;
        } else if (strcmp(t->key, "id") == 0) {
            if (have_id) return fail(c, "disk %s: duplicate key 'id'", dt->val);
            if (parse_range(c, "disk id", t->val, 0, 65535, &v) < 0) return -1;
            dk.id = (unsigned)v;
            have_id = true;
        } else if (strcmp(t->key, "rogue") == 0) {
            if (dk.rogue) return fail(c, "disk %s: duplicate key 'rogue'", dt->val);
            dk.rogue = xs_blkback_rogue_parse(t->val);
            if (dk.rogue <= 0)
                return fail(
                    c,
                    "disk %s: rogue must be bad-id, bad-status, bad-op or rsp-prod, "
                    "not '%s'",
                    dt->val, show(t->val, t->len, b, sizeof(b)));
        } else if (strcmp(t->key, "attach") == 0 || strcmp(t->key, "detach") == 0) {
            bool at = t->key[0] == 'a';
            if (at ? have_at : have_dt)
                return fail(c, "disk %s: duplicate key '%s'", dt->val, t->key);
            if (parse_duration(c, at ? "disk attach" : "disk detach", t->val,
                               at ? &dk.attach_ns : &dk.detach_ns) < 0)
                return -1;
            *(at ? &have_at : &have_dt) = true;
        } else {
            return fail(c,
                        "disk %s: unknown key '%s' (expected path, size, id, attach, "
                        "detach or rogue)",
                        dt->val, SHOW(t->key, b));
        }
    }
    if (have_path == have_size)
        return fail(c, "disk %s: needs exactly one of path=FILE and size=MiB", dt->val);
    if (have_dt && dk.detach_ns <= dk.attach_ns)
        return fail(c, "disk %s: detach must come after attach", dt->val);
    /* Without id=, the next xvd the domain does not have: xvda, xvdb, ... */
    if (!have_id) dk.id = XS_SCN_DISK_ID0;
    for (bool again = true; again;) {
        again = false;
        for (unsigned i = 0; i < s->nr_disks; i++) {
            const struct xs_scn_disk *o = &s->disks[i];
            if (o->domain != dk.domain || o->id != dk.id) continue;
            if (have_id)
                return fail(c, "disk id %u of %s already declared on line %d", dk.id,
                            dt->val, o->line);
            dk.id += 16;
            again = true;
        }
    }
    if (dk.id > 65535) return fail(c, "disk %s: no free disk id", dt->val);
    s->disks[s->nr_disks++] = dk;
    return 0;
}

/* A disk is a vbd device: its id must not be one a `device vbd` uses. */
static int check_disk_ids(struct pctx *c)
{
    const struct xs_scenario *s = c->s;
    for (unsigned i = 0; i < s->nr_disks; i++)
        for (unsigned j = 0; j < s->nr_devices; j++) {
            const struct xs_scn_device *dv = &s->devices[j];
            if (dv->frontend != s->disks[i].domain || dv->id != s->disks[i].id ||
                strcmp(dv->devclass, "vbd") != 0)
                continue;
            c->line = s->disks[i].line;
            return fail(c, "disk id %u of %s is also device vbd on line %d",
                        s->disks[i].id, s->domains[dv->frontend].name, dv->line);
        }
    return 0;
}

/* nic DOMAIN [switch=NAME] [mac=XX:XX:XX:XX:XX:XX] [pcap=FILE] [id=N] [queues=N]
 *     [attach=TIME] [detach=TIME] */
static int st_nic(struct pctx *c, const struct toks *tk)
{
    struct xs_scenario *s = c->s;
    char b[SHOWBUF];
    if (tk->n < 2 || tk->t[1].key || tk->t[1].quoted)
        return fail(c, "usage: nic DOMAIN [switch=NAME] [mac=XX:XX:XX:XX:XX:XX] "
                       "[pcap=FILE] [id=N] [queues=N] [attach=TIME] [detach=TIME] "
                       "[suspend=serve|freeze]");
    const struct tok *dt = &tk->t[1];
    int dom = find_domain(s, dt->val);
    if (dom < 0)
        return fail(c, "nic: unknown domain '%s' (domains must be declared before use)",
                    show(dt->val, dt->len, b, sizeof(b)));
    if (s->nr_nics >= XS_SCN_MAX_NICS)
        return fail(c, "too many nics (max %d)", XS_SCN_MAX_NICS);
    struct xs_scn_nic nc;
    memset(&nc, 0, sizeof(nc));
    nc.domain = (unsigned)dom;
    nc.line = c->line;
    bool have_sw = false, have_pcap = false, have_id = false, have_q = false,
         have_at = false, have_dt = false, have_susp = false;
    for (unsigned i = 2; i < tk->n; i++) {
        const struct tok *t = &tk->t[i];
        uint64_t v;
        if (!t->key)
            return fail(c, "nic %s: unexpected '%s' (expected KEY=VALUE)", dt->val,
                        show(t->val, t->len, b, sizeof(b)));
        if (strcmp(t->key, "switch") == 0) {
            if (have_sw) return fail(c, "nic %s: duplicate key 'switch'", dt->val);
            if (check_name(c, t, XS_SCN_NAME_MAX - 1, "switch") < 0) return -1;
            memcpy(nc.sw, t->val, t->len + 1);
            have_sw = true;
        } else if (strcmp(t->key, "mac") == 0) {
            if (nc.mac_set) return fail(c, "nic %s: duplicate key 'mac'", dt->val);
            if (xs_netback_parse_mac(t->val, nc.mac))
                return fail(c, "nic %s: mac '%s' is not XX:XX:XX:XX:XX:XX (hex)", dt->val,
                            show(t->val, t->len, b, sizeof(b)));
            if (nc.mac[0] & 1)
                return fail(c, "nic %s: mac '%s' is a multicast address", dt->val,
                            show(t->val, t->len, b, sizeof(b)));
            nc.mac_set = true;
        } else if (strcmp(t->key, "pcap") == 0) {
            if (have_pcap) return fail(c, "nic %s: duplicate key 'pcap'", dt->val);
            if (t->len == 0) return fail(c, "nic %s: pcap must not be empty", dt->val);
            if (copy_text(c, nc.pcap, t, "pcap") < 0) return -1;
            have_pcap = true;
        } else if (strcmp(t->key, "id") == 0) {
            if (have_id) return fail(c, "nic %s: duplicate key 'id'", dt->val);
            if (parse_range(c, "nic id", t->val, 0, 255, &v) < 0) return -1;
            nc.id = (unsigned)v;
            have_id = true;
        } else if (strcmp(t->key, "queues") == 0) {
            if (have_q) return fail(c, "nic %s: duplicate key 'queues'", dt->val);
            if (parse_range(c, "nic queues", t->val, 1, XS_NETBACK_MAX_QUEUES, &v) < 0)
                return -1;
            nc.queues = (unsigned)v;
            have_q = true;
        } else if (strcmp(t->key, "attach") == 0 || strcmp(t->key, "detach") == 0) {
            bool at = t->key[0] == 'a';
            if (at ? have_at : have_dt)
                return fail(c, "nic %s: duplicate key '%s'", dt->val, t->key);
            if (parse_duration(c, at ? "nic attach" : "nic detach", t->val,
                               at ? &nc.attach_ns : &nc.detach_ns) < 0)
                return -1;
            *(at ? &have_at : &have_dt) = true;
        } else if (strcmp(t->key, "suspend") == 0) {
            /* What the backend does while the domain is suspended. */
            if (have_susp) return fail(c, "nic %s: duplicate key 'suspend'", dt->val);
            if (strcmp(t->val, "serve") && strcmp(t->val, "freeze"))
                return fail(c, "nic %s: suspend must be serve or freeze, not '%s'",
                            dt->val, show(t->val, t->len, b, sizeof(b)));
            nc.freeze = t->val[0] == 'f';
            have_susp = true;
        } else {
            return fail(
                c,
                "nic %s: unknown key '%s' (expected switch, mac, pcap, id, queues, "
                "attach, detach or suspend)",
                dt->val, SHOW(t->key, b));
        }
    }
    if (have_dt && nc.detach_ns <= nc.attach_ns)
        return fail(c, "nic %s: detach must come after attach", dt->val);
    /* Without id=, the lowest vif id the domain has free: 0, 1, ... */
    for (bool again = true; again;) {
        again = false;
        for (unsigned i = 0; i < s->nr_nics; i++) {
            const struct xs_scn_nic *o = &s->nics[i];
            if (o->domain != nc.domain || o->id != nc.id) continue;
            if (have_id)
                return fail(c, "nic id %u of %s already declared on line %d", nc.id,
                            dt->val, o->line);
            nc.id++;
            again = true;
        }
    }
    if (nc.id > 255) return fail(c, "nic %s: no free nic id", dt->val);
    s->nics[s->nr_nics++] = nc;
    return 0;
}

/* A nic is a vif device: its id must not be one a `device vif` uses. */
static int check_nic_ids(struct pctx *c)
{
    const struct xs_scenario *s = c->s;
    for (unsigned i = 0; i < s->nr_nics; i++)
        for (unsigned j = 0; j < s->nr_devices; j++) {
            const struct xs_scn_device *dv = &s->devices[j];
            if (dv->frontend != s->nics[i].domain || dv->id != s->nics[i].id ||
                strcmp(dv->devclass, "vif") != 0)
                continue;
            c->line = s->nics[i].line;
            return fail(c, "nic id %u of %s is also device vif on line %d", s->nics[i].id,
                        s->domains[dv->frontend].name, dv->line);
        }
    return 0;
}

/* input DOMAIN "TEXT" */
static int st_input(struct pctx *c, const struct toks *tk)
{
    struct xs_scenario *s = c->s;
    char b[SHOWBUF];
    if (tk->n != 3 || tk->t[1].key || tk->t[1].quoted || tk->t[2].key || !tk->t[2].quoted)
        return fail(c, "usage: input DOMAIN \"TEXT\"");
    const struct tok *dt = &tk->t[1];
    int dom = find_domain(s, dt->val);
    if (dom < 0)
        return fail(c, "input: unknown domain '%s' (domains must be declared before use)",
                    show(dt->val, dt->len, b, sizeof(b)));
    if (s->nr_inputs >= XS_SCN_MAX_INPUTS)
        return fail(c, "too many input statements (max %d)", XS_SCN_MAX_INPUTS);
    if (s->nr_inputs == c->inputs_cap) {
        size_t cap = c->inputs_cap ? c->inputs_cap * 2 : 4;
        struct xs_scn_input *n = realloc(s->inputs, cap * sizeof(*n));
        if (!n) return fail(c, "out of memory");
        s->inputs = n;
        c->inputs_cap = cap;
    }
    struct xs_scn_input *in = &s->inputs[s->nr_inputs];
    if (copy_text(c, in->text, &tk->t[2], "input") < 0) return -1;
    in->domain = (unsigned)dom;
    in->len = tk->t[2].len;
    in->line = c->line;
    s->nr_inputs++;
    return 0;
}

/* The statements, in the order the "expected ..." message lists them. */
static const struct {
    const char *name;
    int (*parse)(struct pctx *c, const struct toks *tk);
} statements[] = {
    {"scenario", st_scenario}, {"domain", st_domain}, {"device", st_device},
    {"disk", st_disk},         {"nic", st_nic},       {"input", st_input},
    {"suspend", st_suspend},   {"save", st_save},     {"restore", st_restore},
    {"migrate", st_migrate},   {"limit", st_limit},   {"expect", st_expect},
};

static int unknown_statement(struct pctx *c, const char *shown)
{
    char list[256];
    size_t n = 0, count = sizeof(statements) / sizeof(statements[0]);
    for (size_t i = 0; i < count; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
                              i == 0           ? ""
                              : i + 1 == count ? " or "
                                               : ", ",
                              statements[i].name);
    return fail(c, "unknown statement '%s' (expected %s)", shown, list);
}

static int parse_statement(struct pctx *c, const char *line, size_t len, struct toks *tk)
{
    char b[SHOWBUF];
    if (lex_line(c, line, len, tk) < 0) return -1;
    if (tk->n == 0) return 0;
    const struct tok *t = &tk->t[0];
    if (t->quoted || t->key)
        return unknown_statement(c, t->key ? SHOW(t->key, b)
                                           : show(t->val, t->len, b, sizeof(b)));
    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++)
        if (strcmp(t->val, statements[i].name) == 0) return statements[i].parse(c, tk);
    return unknown_statement(c, show(t->val, t->len, b, sizeof(b)));
}

/* ---- whole file ------------------------------------------------------------------ */

/* ${domid:NAME} in a command line becomes NAME's domid, so guests can find
 * their peers: domains get 1, 2, ... in declaration order (0 is xensim).
 * Done once every domain is declared, so a domain may name a later one. */
static int expand_domids(struct pctx *c)
{
    static const char pre[] = "${domid:";
    struct xs_scenario *s = c->s;
    char b[SHOWBUF];
    for (unsigned i = 0; i < s->nr_domains; i++) {
        struct xs_scn_domain *d = &s->domains[i];
        if (!strstr(d->cmdline, pre)) continue;
        c->line = d->line;
        char out[XS_SCN_TEXT_MAX];
        size_t o = 0;
        for (const char *p = d->cmdline; *p;) {
            if (strncmp(p, pre, sizeof(pre) - 1) != 0) {
                if (o + 1 >= sizeof(out))
                    return fail(c, "domain %s: cmdline too long after ${domid:...}",
                                d->name);
                out[o++] = *p++;
                continue;
            }
            const char *name = p + sizeof(pre) - 1;
            const char *end = strchr(name, '}');
            if (!end)
                return fail(c, "domain %s: cmdline: unterminated ${domid:", d->name);
            char nm[XS_SCN_NAME_MAX];
            size_t nl = (size_t)(end - name);
            int dom = -1;
            if (nl < sizeof(nm)) {
                memcpy(nm, name, nl);
                nm[nl] = '\0';
                dom = find_domain(s, nm);
            }
            if (dom < 0)
                return fail(c, "domain %s: cmdline: ${domid:%s}: no such domain", d->name,
                            show(name, nl, b, sizeof(b)));
            int n = snprintf(out + o, sizeof(out) - o, "%d", dom + 1);
            if (n < 0 || (size_t)n >= sizeof(out) - o)
                return fail(c, "domain %s: cmdline too long after ${domid:...}", d->name);
            o += (size_t)n;
            p = end + 1;
        }
        out[o] = '\0';
        memcpy(d->cmdline, out, o + 1);
    }
    return 0;
}

static void set_dir(struct xs_scenario *s)
{
    const char *slash = strrchr(s->path, '/');
    if (!slash) {
        strcpy(s->dir, ".");
        return;
    }
    size_t n = (size_t)(slash - s->path);
    while (n > 0 && s->path[n - 1] == '/')
        n--;
    if (n == 0) {
        strcpy(s->dir, "/");
        return;
    }
    memcpy(s->dir, s->path, n);
    s->dir[n] = '\0';
}

static int parse_buf(struct xs_scenario *s, const char *path, const char *buf, size_t len,
                     char *err, size_t errlen)
{
    struct pctx c = {
        .s = s, .path = path ? path : "(null)", .err = err, .errlen = errlen};
    if (err && errlen) err[0] = '\0';
    if (!s) return fail(&c, "no scenario to parse into");
    memset(s, 0, sizeof(*s));
    if (!buf) return fail(&c, "no scenario text");
    if (strlen(c.path) >= sizeof(s->path)) return fail(&c, "path too long");
    strcpy(s->path, c.path);
    set_dir(s);
    s->vtime_limit_ns = DEFAULT_VTIME_NS;
    s->exit_limit = DEFAULT_EXITS;

    /* Big enough for a whole statement; off the stack to stay friendly to
     * small thread stacks and ASan's redzones. */
    struct toks *tk = malloc(sizeof(*tk));
    if (!tk) return fail(&c, "out of memory");
    int rc = 0;
    size_t pos = 0;
    while (rc == 0 && pos < len) {
        c.line++;
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        if (ll > 0 && line[ll - 1] == '\r') /* tolerate CRLF files */
            ll--;
        if (ll > LINE_MAX_BYTES) {
            rc = fail(&c, "line too long (%zu bytes, max %d)", ll, LINE_MAX_BYTES);
            break;
        }
        if (memchr(line, '\0', ll)) {
            rc = fail(&c, "NUL byte in file");
            break;
        }
        rc = parse_statement(&c, line, ll, tk);
    }
    free(tk);
    if (rc == 0 && s->nr_domains == 0) {
        c.line = 0;
        rc = fail(&c, "no domain declared (a scenario needs at least one domain)");
    }
    if (rc == 0) rc = expand_domids(&c);
    if (rc == 0) rc = check_disk_ids(&c);
    if (rc == 0) rc = check_nic_ids(&c);
    if (rc < 0) {
        xs_scenario_free(s);
        return -1;
    }
    return 0;
}

int xs_scenario_parse_text(struct xs_scenario *s, const char *path, const char *text,
                           char *err, size_t errlen)
{
    return parse_buf(s, path, text, text ? strlen(text) : 0, err, errlen);
}

int xs_scenario_parse_file(struct xs_scenario *s, const char *path, char *err,
                           size_t errlen)
{
    struct pctx c = {.path = path ? path : "(null)", .err = err, .errlen = errlen};
    if (s) memset(s, 0, sizeof(*s));
    if (!s || !path) return fail(&c, "no scenario file given");
    FILE *f = fopen(path, "rb");
    if (!f) return fail(&c, "cannot open: %s", strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : fail(&c, "out of memory");
    while (rc == 0) {
        if (len == cap) {
            char *n = realloc(buf, cap * 2);
            if (!n) {
                rc = fail(&c, "out of memory");
                break;
            }
            buf = n;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len > FILE_MAX_BYTES)
            rc = fail(&c, "file too large (max %u bytes)", FILE_MAX_BYTES);
        else if (got == 0 && ferror(f))
            rc = fail(&c, "cannot read: %s", strerror(errno));
        else if (got == 0)
            break;
    }
    fclose(f);
    if (rc == 0) rc = parse_buf(s, path, buf, len, err, errlen);
    free(buf);
    return rc;
}

void xs_scenario_free(struct xs_scenario *s)
{
    if (!s) return;
    free(s->expects);
    free(s->inputs);
    memset(s, 0, sizeof(*s));
}

/* p as the host path it names: absolute, or relative to the scenario's
 * directory.  0, or -1 with errno ENAMETOOLONG (out is then ""). */
static int relative_to_scenario(const struct xs_scenario *s, const char *p, char *out,
                                size_t outlen)
{
    const char *dir = s->dir[0] ? s->dir : ".";
    size_t dl = strlen(dir);
    int n = p[0] == '/' ? snprintf(out, outlen, "%s", p)
                        : snprintf(out, outlen, "%s%s%s", dir,
                                   dl && dir[dl - 1] == '/' ? "" : "/", p);
    if (n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int xs_scenario_image_path(const struct xs_scenario *s, unsigned dom,
                           const char *guest_dir, char *out, size_t outlen)
{
    if (out && outlen) out[0] = '\0';
    if (!s || !out || outlen == 0 || dom >= s->nr_domains || dom >= XS_SCN_MAX_DOMAINS) {
        errno = EINVAL;
        return -1;
    }
    const char *img = s->domains[dom].image;
    if (strchr(img, '/')) return relative_to_scenario(s, img, out, outlen);
    /* A bare name: an app in the guest directory. */
    int n = snprintf(out, outlen, "%s/%s.elf", guest_dir && *guest_dir ? guest_dir : ".",
                     img);
    if (n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int xs_scenario_file_path(const struct xs_scenario *s, const char *file, char *out,
                          size_t outlen)
{
    if (out && outlen) out[0] = '\0';
    if (!s || !file || !out || outlen == 0) {
        errno = EINVAL;
        return -1;
    }
    return relative_to_scenario(s, file, out, outlen);
}

int xs_scenario_disk_path(const struct xs_scenario *s, unsigned disk, char *out,
                          size_t outlen)
{
    if (out && outlen) out[0] = '\0';
    if (!s || !out || outlen == 0 || disk >= s->nr_disks || disk >= XS_SCN_MAX_DISKS) {
        errno = EINVAL;
        return -1;
    }
    const char *p = s->disks[disk].path;
    /* None given: "" (a memory disk, no capture). */
    return p[0] ? relative_to_scenario(s, p, out, outlen) : 0;
}

int xs_scenario_nic_pcap_path(const struct xs_scenario *s, unsigned nic, char *out,
                              size_t outlen)
{
    if (out && outlen) out[0] = '\0';
    if (!s || !out || outlen == 0 || nic >= s->nr_nics || nic >= XS_SCN_MAX_NICS) {
        errno = EINVAL;
        return -1;
    }
    const char *p = s->nics[nic].pcap;
    /* None given: "" (a memory disk, no capture). */
    return p[0] ? relative_to_scenario(s, p, out, outlen) : 0;
}

/* ---- checking -----------------------------------------------------------------------
 */

/* Print text so a report line stays one line whatever the guest wrote. */
static void put_text(FILE *f, const char *s, size_t len, size_t max)
{
    if (!f) return;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i == max) {
            fputs("...", f);
            break;
        }
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
}

/* Names and paths: only control characters need hiding. */
static void put_str(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
}
/* Position in one domain's console: byte offset and lines consumed so far. */
struct cursor {
    size_t off;
    unsigned line;
};

/* Console expectations and their report counterparts work the same way on
 * two different streams of lines. */
static bool is_report_kind(enum xs_expect_kind k)
{
    return k == XS_EXPECT_REPORT || k == XS_EXPECT_REPORT_RE || k == XS_EXPECT_NO_REPORT;
}

static bool is_re_kind(enum xs_expect_kind k)
{
    return k == XS_EXPECT_CONSOLE_RE || k == XS_EXPECT_REPORT_RE;
}

static bool is_absence_kind(enum xs_expect_kind k)
{
    return k == XS_EXPECT_NO_CONSOLE || k == XS_EXPECT_NO_REPORT;
}

/* A stream of '\n'-separated lines. */
struct stream {
    const char *text;
    size_t len;
};

static struct stream stream_of(const struct xs_domain_outcome *o, enum xs_expect_kind k)
{
    if (is_report_kind(k)) return (struct stream){o->reports, o->reports_len};
    return (struct stream){o->console, o->console_len};
}

/* Next line at cur (advancing it); false at the end. */
static bool next_line(struct stream st, struct cursor *cur, const char **l, size_t *ll)
{
    if (!st.text || cur->off >= st.len) return false;
    const char *p = st.text + cur->off;
    size_t rest = st.len - cur->off;
    const char *nl = memchr(p, '\n', rest);
    size_t n = nl ? (size_t)(nl - p) : rest;
    cur->off += n + (nl ? 1 : 0);
    cur->line++;
    *l = p;
    /* CR LF consoles (a 16550 driver) match the same as LF ones. */
    *ll = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
    return true;
}

/* Whether one line satisfies an expectation; <0 if the regex cannot be used. */
static int line_matches(const struct xs_scn_expect *e, const regex_t *re, const char *l,
                        size_t ll, char **tmp, size_t *tmpcap)
{
    if (!is_re_kind(e->kind)) return memmem(l, ll, e->text, strlen(e->text)) != NULL;
    if (ll + 1 > *tmpcap) {
        char *n = realloc(*tmp, ll + 1);
        if (!n) return -1;
        *tmp = n;
        *tmpcap = ll + 1;
    }
    memcpy(*tmp, l, ll);
    (*tmp)[ll] = '\0';
    return regexec(re, *tmp, 0, NULL, 0) == 0;
}

static const char *kind_name(enum xs_expect_kind k)
{
    switch (k) {
    case XS_EXPECT_CONSOLE:
        return "console";
    case XS_EXPECT_CONSOLE_RE:
        return "console-re";
    case XS_EXPECT_NO_CONSOLE:
        return "no-console";
    case XS_EXPECT_END:
        return "end";
    case XS_EXPECT_REPORT:
        return "report";
    case XS_EXPECT_REPORT_RE:
        return "report-re";
    case XS_EXPECT_NO_REPORT:
        return "no-report";
    case XS_EXPECT_SUSPENDS:
        return "suspends";
    case XS_EXPECT_MIGRATES:
        return "migrates";
    }
    return "?";
}

enum why {
    WHY_NONE,
    WHY_NO_MATCH,   /* console/console-re: nothing after the cursor */
    WHY_FOUND,      /* no-console: a line contains the text */
    WHY_END,        /* end: another state */
    WHY_SUSPENDS,   /* suspends: other counts */
    WHY_MIGRATES,   /* migrates: other counts, or a longer downtime */
    WHY_BAD_DOMAIN, /* the struct was not built by the parser */
    WHY_BAD_KIND,
    WHY_BAD_TEXT,
    WHY_BAD_REGEX,
    WHY_NO_OUTCOME,
    WHY_OOM,
};

static void report_line(FILE *f, const struct xs_scenario *s,
                        const struct xs_scn_expect *e,
                        const struct xs_domain_outcome *out, enum why why,
                        unsigned why_line, const char *bad, size_t badlen)
{
    bool valid_dom = e->domain < s->nr_domains && e->domain < XS_SCN_MAX_DOMAINS;
    const char *dname = valid_dom ? s->domains[e->domain].name : "?";
    size_t tlen = strnlen(e->text, sizeof(e->text));

    fputs(why == WHY_NONE ? "ok   " : "FAIL ", f);
    put_str(f, s->path);
    fprintf(f, ":%d: ", e->line);
    put_str(f, dname);
    fprintf(f, " %s ", kind_name(e->kind));
    static const char *const susp_keys[] = {"resumed", "cancelled", "failed"};
    if (e->kind == XS_EXPECT_END) {
        fputs(xs_end_state_name(e->end_state), f);
    } else if (e->kind == XS_EXPECT_SUSPENDS) {
        for (unsigned k = 0, first = 1; k < 3; k++)
            if (e->suspends[k] >= 0) {
                fprintf(f, "%s%s=%d", first ? "" : " ", susp_keys[k], e->suspends[k]);
                first = 0;
            }
    } else if (e->kind == XS_EXPECT_MIGRATES) {
        const char *sep = "";
        if (e->migrates[0] >= 0) fprintf(f, "ok=%d", e->migrates[0]), sep = " ";
        if (e->migrates[1] >= 0)
            fprintf(f, "%sfailed=%d", sep, e->migrates[1]), sep = " ";
        if (e->max_downtime_ns != UINT64_MAX)
            fprintf(f, "%smax-downtime=%" PRIu64 "ns", sep, e->max_downtime_ns);
    } else {
        fputc('"', f);
        put_text(f, e->text, tlen, tlen);
        fputc('"', f);
    }
    switch (why) {
    case WHY_NONE:
        break;
    case WHY_NO_MATCH:
        if (why_line)
            fprintf(f, ": no line after line %u of ", why_line);
        else
            fputs(": no line of ", f);
        put_str(f, dname);
        fprintf(f, "'s %s %s \"", is_report_kind(e->kind) ? "reports" : "console",
                is_re_kind(e->kind) ? "matches" : "contains");
        put_text(f, e->text, tlen, tlen);
        fputc('"', f);
        break;
    case WHY_FOUND:
        fprintf(f, ": line %u of ", why_line);
        put_str(f, dname);
        fprintf(f, "'s %s contains it: \"",
                is_report_kind(e->kind) ? "reports" : "console");
        put_text(f, bad, badlen, 80);
        fputc('"', f);
        break;
    case WHY_END:
        fputs(": ", f);
        put_str(f, dname);
        fprintf(f, " ended '%s', expected '%s'",
                xs_end_state_name(out[e->domain].end_state),
                xs_end_state_name(e->end_state));
        break;
    case WHY_SUSPENDS:
        fputs(": ", f);
        put_str(f, dname);
        fprintf(f, " had resumed=%u cancelled=%u failed=%u", out[e->domain].suspends[0],
                out[e->domain].suspends[1], out[e->domain].suspends[2]);
        break;
    case WHY_MIGRATES:
        fputs(": ", f);
        put_str(f, dname);
        fprintf(f, " had ok=%u failed=%u", out[e->domain].migrates[0],
                out[e->domain].migrates[1]);
        if (out[e->domain].migrates[0])
            fprintf(f, ", longest downtime %" PRIu64 " ns",
                    out[e->domain].max_downtime_ns);
        break;
    case WHY_BAD_DOMAIN:
        fputs(": no such domain", f);
        break;
    case WHY_BAD_KIND:
        fputs(": unknown kind of expectation", f);
        break;
    case WHY_BAD_TEXT:
        fputs(": text is not terminated", f);
        break;
    case WHY_BAD_REGEX:
        fputs(": regex does not compile", f);
        break;
    case WHY_NO_OUTCOME:
        fputs(": no outcome recorded", f);
        break;
    case WHY_OOM:
        fputs(": out of memory", f);
        break;
    }
    fputc('\n', f);
}

int xs_scenario_check(const struct xs_scenario *s, const struct xs_domain_outcome *out,
                      FILE *report)
{
    if (!s) return 0;
    struct cursor cur[2][XS_SCN_MAX_DOMAINS]; /* [is_report_kind] */
    bool report_expected[XS_SCN_MAX_DOMAINS] = {false};
    memset(cur, 0, sizeof(cur));
    char *tmp = NULL; /* NUL-terminated copy of a line for regexec */
    size_t tmpcap = 0;
    int failures = 0;

    for (unsigned i = 0; i < s->nr_expects; i++) {
        const struct xs_scn_expect *e = &s->expects[i];
        enum why why = WHY_NONE;
        unsigned why_line = 0;
        const char *bad = NULL;
        size_t badlen = 0;
        const char *l;
        size_t ll;

        if (e->domain >= s->nr_domains || e->domain >= XS_SCN_MAX_DOMAINS)
            why = WHY_BAD_DOMAIN;
        else if (e->kind < XS_EXPECT_CONSOLE || e->kind > XS_EXPECT_MIGRATES)
            why = WHY_BAD_KIND;
        else if (e->kind != XS_EXPECT_END && e->kind != XS_EXPECT_SUSPENDS &&
                 e->kind != XS_EXPECT_MIGRATES && !memchr(e->text, '\0', sizeof(e->text)))
            why = WHY_BAD_TEXT;
        else if (!out)
            why = WHY_NO_OUTCOME;

        if (why == WHY_NONE &&
            (e->kind == XS_EXPECT_REPORT || e->kind == XS_EXPECT_REPORT_RE))
            report_expected[e->domain] = true;
        if (why == WHY_NONE && e->kind == XS_EXPECT_END) {
            if (out[e->domain].end_state != e->end_state) why = WHY_END;
        } else if (why == WHY_NONE && e->kind == XS_EXPECT_SUSPENDS) {
            for (unsigned k = 0; k < 3; k++)
                if (e->suspends[k] >= 0 &&
                    out[e->domain].suspends[k] != (unsigned)e->suspends[k])
                    why = WHY_SUSPENDS;
        } else if (why == WHY_NONE && e->kind == XS_EXPECT_MIGRATES) {
            const struct xs_domain_outcome *o = &out[e->domain];
            for (unsigned k = 0; k < 2; k++)
                if (e->migrates[k] >= 0 && o->migrates[k] != (unsigned)e->migrates[k])
                    why = WHY_MIGRATES;
            if (e->max_downtime_ns != UINT64_MAX &&
                o->max_downtime_ns > e->max_downtime_ns)
                why = WHY_MIGRATES;
        } else if (why == WHY_NONE && is_absence_kind(e->kind)) {
            struct cursor c = {0, 0};
            while (next_line(stream_of(&out[e->domain], e->kind), &c, &l, &ll)) {
                if (line_matches(e, NULL, l, ll, &tmp, &tmpcap)) {
                    why = WHY_FOUND;
                    why_line = c.line;
                    bad = l;
                    badlen = ll;
                    break;
                }
            }
        } else if (why == WHY_NONE) {
            /* console / console-re (report / report-re): search after the
             * previous match in the same stream only. */
            regex_t re;
            bool is_re = is_re_kind(e->kind);
            struct cursor *pos = &cur[is_report_kind(e->kind)][e->domain];
            if (is_re && regcomp(&re, e->text, REG_EXTENDED | REG_NOSUB) != 0) {
                why = WHY_BAD_REGEX;
            } else {
                struct cursor c = *pos;
                why = WHY_NO_MATCH;
                why_line = c.line;
                while (next_line(stream_of(&out[e->domain], e->kind), &c, &l, &ll)) {
                    int m = line_matches(e, is_re ? &re : NULL, l, ll, &tmp, &tmpcap);
                    if (m < 0) {
                        why = WHY_OOM;
                        break;
                    }
                    if (m) {
                        *pos = c;
                        why = WHY_NONE;
                        break;
                    }
                }
                if (is_re) regfree(&re);
            }
        }
        if (why != WHY_NONE) failures++;
        if (report) report_line(report, s, e, out, why, why_line, bad, badlen);
    }
    /* Sanitizer findings nobody expected fail the run, as ASan's do. */
    for (unsigned d = 0; out && d < s->nr_domains && d < XS_SCN_MAX_DOMAINS; d++) {
        struct cursor c = {0, 0};
        const char *l;
        size_t ll;
        if (report_expected[d] ||
            !next_line(stream_of(&out[d], XS_EXPECT_REPORT), &c, &l, &ll))
            continue;
        failures++;
        if (!report) continue;
        fputs("FAIL ", report);
        put_str(report, s->path);
        fputs(": ", report);
        put_str(report, s->domains[d].name);
        fputs(": unexpected sanitizer report: \"", report);
        put_text(report, l, ll, 200);
        fputs("\"\n", report);
    }
    free(tmp);
    return failures;
}
