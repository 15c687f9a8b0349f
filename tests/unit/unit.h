/* xensim unit tests (Check).  Each test file provides one suite constructor,
 * declared here and listed in the registry in main.c. */
#ifndef XS_UNIT_H
#define XS_UNIT_H
#include <check.h>

Suite *loader_suite(void);
Suite *start_info_suite(void);
Suite *scenario_suite(void);
Suite *decode_suite(void);
Suite *hypercall_suite(void);
Suite *evtchn_suite(void);
Suite *vcpu_suite(void);
Suite *gnttab_suite(void);
Suite *xenstore_suite(void);
Suite *console_suite(void);
Suite *blkback_suite(void);
Suite *netback_suite(void);
Suite *migstream_suite(void);
Suite *suspend_suite(void);
Suite *migrate_suite(void);
Suite *vif_image_suite(void);

#endif
