/* A registry of the MSRs a PVH guest touches. */
#include "guest_mem.h"
#include "hypercall.h"
#include "msr.h"
#include "vtime.h"

#define MSR_IA32_TSC         0x10
#define MSR_IA32_APICBASE    0x1b
#define MSR_IA32_MISC_ENABLE 0x1a0
#define APICBASE_DEFAULT     0xfee00000ULL
#define APICBASE_ENABLE      (1ULL << 11)
#define APICBASE_BSP         (1ULL << 8)

struct msr_desc {
    uint32_t msr;
    int (*read)(struct xs_vcpu *v, uint64_t *val);
    int (*write)(struct xs_vcpu *v, uint64_t val);
};

static int hypercall_page_write(struct xs_vcpu *v, uint64_t val)
{
    /* Bits 0-11 select which hypercall page: there is one. */
    if (val & (XS_PAGE_SIZE - 1)) return -1;
    return xs_hypercall_page_fill(v, val) ? -1 : 0;
}

static int tsc_read(struct xs_vcpu *v, uint64_t *val)
{
    *val = xs_vtsc(v->dom->sim);
    return 0;
}

static int apicbase_read(struct xs_vcpu *v, uint64_t *val)
{
    *val = APICBASE_DEFAULT | APICBASE_ENABLE | (v->id == 0 ? APICBASE_BSP : 0);
    return 0;
}

static int zero_read(struct xs_vcpu *v, uint64_t *val)
{
    (void)v;
    *val = 0;
    return 0;
}

static const struct msr_desc msrs[] = {
    {XS_HYPERCALL_MSR, NULL, hypercall_page_write},
    {MSR_IA32_TSC, tsc_read, NULL},
    {MSR_IA32_APICBASE, apicbase_read, NULL},
    {MSR_IA32_MISC_ENABLE, zero_read, NULL},
};

static const struct msr_desc *find(uint32_t msr)
{
    for (size_t i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++)
        if (msrs[i].msr == msr) return &msrs[i];
    return NULL;
}

int xs_msr_read(struct xs_vcpu *v, uint32_t msr, uint64_t *val)
{
    const struct msr_desc *m = find(msr);
    return m && m->read ? m->read(v, val) : -1;
}

int xs_msr_write(struct xs_vcpu *v, uint32_t msr, uint64_t val)
{
    const struct msr_desc *m = find(msr);
    return m && m->write ? m->write(v, val) : -1;
}
