/* Xen's HVM save format (<xen/hvm/save.h>: struct hvm_save_descriptor,
 * HVM_SAVE_CODE(HEADER/CPU/END), struct hvm_hw_cpu), for the HVM_CONTEXT
 * record.  The header refuses strict ISO mode because it predates C11's
 * anonymous unions; C11 has them, so the check is lifted for it alone. */
#ifndef XS_MIGSTREAM_HVM_H
#define XS_MIGSTREAM_HVM_H
#include <stdint.h>
#include <xen/xen.h>

#pragma push_macro("__STRICT_ANSI__")
#undef __STRICT_ANSI__
#include <xen/hvm/save.h>
#pragma pop_macro("__STRICT_ANSI__")
#endif
