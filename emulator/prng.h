/* The simulation's only source of randomness: xoshiro256** seeded through
 * splitmix64 from the run's seed. */
#ifndef XS_PRNG_H
#define XS_PRNG_H
#include <stdint.h>

struct xs_prng {
    uint64_t s[4];
};

static inline uint64_t xs_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void xs_prng_seed(struct xs_prng *p, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        p->s[i] = xs_splitmix64(&seed);
}

static inline uint64_t xs_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t xs_prng_next(struct xs_prng *p)
{
    uint64_t *s = p->s;
    uint64_t r = xs_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = xs_rotl(s[3], 45);
    return r;
}

/* Uniform in [0, n), n > 0 (rejection sampling keeps it unbiased). */
static inline uint64_t xs_prng_below(struct xs_prng *p, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do
        r = xs_prng_next(p);
    while (r >= limit);
    return r % n;
}
#endif
