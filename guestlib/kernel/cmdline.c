/* key=value lookups in the command line from start_info. */
#include <guest/kernel.h>
#include <guest/string.h>

static const char *find_key(const char *key)
{
    const char *p = boot.cmdline;
    size_t kl = strlen(key);
    while (p && *p) {
        while (*p == ' ')
            p++;
        if (!strncmp(p, key, kl) && (p[kl] == '=' || p[kl] == ' ' || p[kl] == '\0'))
            return p + kl;
        while (*p && *p != ' ')
            p++;
    }
    return NULL;
}

bool cmdline_has(const char *key)
{
    return find_key(key) != NULL;
}

const char *cmdline_get(const char *key, char *buf, size_t len)
{
    const char *p = find_key(key);
    if (!p || *p != '=' || !len) return NULL;
    p++;
    size_t n = 0;
    while (p[n] && p[n] != ' ' && n + 1 < len) {
        buf[n] = p[n];
        n++;
    }
    buf[n] = '\0';
    return buf;
}

unsigned cmdline_uint(const char *key, unsigned def)
{
    char buf[16];
    const char *s = cmdline_get(key, buf, sizeof(buf));
    if (!s || !*s) return def;
    unsigned n = 0;
    for (; *s >= '0' && *s <= '9' && n < 100000000u; s++)
        n = n * 10 + (unsigned)(*s - '0');
    return *s ? def : n;
}
