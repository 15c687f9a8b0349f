/* A classic pcap writer (libpcap's file format, nanosecond timestamps,
 * LINKTYPE_ETHERNET, snaplen 65535): netback writes one file per vif with
 * both directions.  Timestamps are the simulation's virtual time, so the
 * same run writes the same bytes. */
#ifndef XS_PCAP_H
#define XS_PCAP_H
#include <stddef.h>
#include <stdint.h>

#define XS_PCAP_MAGIC_NS          0xa1b23c4du /* nanosecond-resolution variant */
#define XS_PCAP_SNAPLEN           65535u
#define XS_PCAP_LINKTYPE_ETHERNET 1u

struct xs_pcap;

/* Create (truncate) path and write the file header: the writer, or NULL
 * and "PATH: reason" in err. */
struct xs_pcap *xs_pcap_open(const char *path, char *err, size_t errlen);
/* Continue the capture in path: records are appended to a file this
 * writer made (the same header: magic, version, snap length, link type),
 * or, when path does not exist or is empty, it is created as by
 * xs_pcap_open.  Any other file is refused (NULL, "PATH: reason"). */
struct xs_pcap *xs_pcap_open_append(const char *path, char *err, size_t errlen);
/* One record at virtual time t_ns (at most the snap length kept): 0, or -1
 * and "PATH: reason" in err. */
int xs_pcap_write(struct xs_pcap *p, uint64_t t_ns, const void *data, uint32_t len,
                  char *err, size_t errlen);
/* Flush and close (p may be NULL): 0, or -1 and "PATH: reason" in err. */
int xs_pcap_close(struct xs_pcap *p, char *err, size_t errlen);
#endif
