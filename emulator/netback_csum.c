/* netback's checksum offload, as Linux's netback and network core do it:
 * a frame sent with NETTXF_csum_blank (or GSO) must be TCP or UDP over
 * IPv4 or IPv6 (skb_checksum_setup: else it is dropped), and a frame whose
 * checksum is still partial is completed in software (skb_checksum_help)
 * before it reaches a frontend that did not offer to take such frames
 * (feature-no-csum-offload for IPv4, no feature-ipv6-csum-offload for
 * IPv6).  "Partial", as netfront leaves it: the checksum field holds the
 * pseudo-header's sum, the rest is summed over the transport header and
 * payload.  Only what Linux's setup handles without walking: IPv4 that is
 * not a fragment, IPv6 without extension headers. */
#include <string.h>

#include "netback_int.h"

#define IPPROTO_TCP_ 6u
#define IPPROTO_UDP_ 17u

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

bool xs_nb_csum_locate(const uint8_t *d, unsigned len, struct nb_csum *c)
{
    if (len < NB_ETH_HLEN) return false;
    unsigned type = be16(d + 12), l4, end, proto;
    const uint8_t *ip = d + NB_ETH_HLEN;
    if (type == 0x0800) {
        if (len < NB_ETH_HLEN + 20 || ip[0] >> 4 != 4) return false;
        unsigned ihl = (ip[0] & 15u) * 4u, tot = be16(ip + 2);
        if (ihl < 20 || tot < ihl || NB_ETH_HLEN + tot > len) return false;
        if (be16(ip + 6) & 0x3fff) return false; /* a fragment: MF or an offset */
        proto = ip[9];
        l4 = NB_ETH_HLEN + ihl;
        end = NB_ETH_HLEN + tot;
        c->v6 = false;
    } else if (type == 0x86dd) {
        if (len < NB_ETH_HLEN + 40 || ip[0] >> 4 != 6) return false;
        proto = ip[6];
        l4 = NB_ETH_HLEN + 40;
        end = l4 + be16(ip + 4);
        if (end > len) return false;
        c->v6 = true;
    } else {
        return false;
    }
    if (proto == IPPROTO_TCP_ && end - l4 >= 20) {
        c->field = l4 + 16;
        c->udp = false;
    } else if (proto == IPPROTO_UDP_ && end - l4 >= 8) {
        c->field = l4 + 6;
        c->udp = true;
    } else {
        return false;
    }
    c->l4 = l4;
    c->end = end;
    return true;
}

static uint32_t sum16(uint32_t sum, const uint8_t *p, unsigned n)
{
    for (unsigned i = 0; i + 1 < n; i += 2)
        sum += be16(p + i);
    if (n & 1) sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

void xs_nb_csum_pseudo(uint8_t *d, const struct nb_csum *c)
{
    unsigned l4len = c->end - c->l4;
    const uint8_t *ip = d + NB_ETH_HLEN;
    uint32_t sum = c->v6 ? sum16(0, ip + 8, 32) : sum16(0, ip + 12, 8);
    sum += (c->udp ? IPPROTO_UDP_ : IPPROTO_TCP_) + l4len;
    uint16_t v = fold(sum);
    d[c->field] = (uint8_t)(v >> 8);
    d[c->field + 1] = (uint8_t)v;
}

void xs_nb_csum_complete(uint8_t *d, const struct nb_csum *c)
{
    uint16_t v = (uint16_t)~fold(sum16(0, d + c->l4, c->end - c->l4));
    if (c->udp && v == 0) v = 0xffff; /* 0 means "no checksum" in UDP */
    d[c->field] = (uint8_t)(v >> 8);
    d[c->field + 1] = (uint8_t)v;
}
