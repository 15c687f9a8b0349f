#ifndef GUEST_TYPES_H
#define GUEST_TYPES_H
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdarg.h>

#define PAGE_SHIFT       12
#define PAGE_SIZE        (1UL << PAGE_SHIFT)
#define ALIGN_UP(x, a)   (((x) + (a)-1) & ~((uint64_t)(a)-1))
#define ARRAY_SIZE(a)    (sizeof(a) / sizeof((a)[0]))
#define __aligned(n)     __attribute__((aligned(n)))
#define __noreturn       __attribute__((noreturn))
#define __section(s)     __attribute__((section(s)))
#define barrier()        __asm__ __volatile__("" ::: "memory")
#define READ_ONCE(x)     (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/* Xen's public headers need these before inclusion. */
#define xen_mb()  __asm__ __volatile__("mfence" ::: "memory")
#define xen_rmb() barrier()
#define xen_wmb() barrier()
#endif
