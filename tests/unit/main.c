/* Unit test runner: every suite in the registry goes into one SRunner.
 * Select a subset with Check's own CK_RUN_SUITE / CK_RUN_CASE variables. */
#include <stdlib.h>

#include "unit.h"

/* Adding a suite: declare its constructor in unit.h and list it here. */
static Suite *(*const registry[])(void) = {
    loader_suite,
    start_info_suite,
    scenario_suite,
    decode_suite,
    hypercall_suite,
    vcpu_suite,
    evtchn_suite,
    gnttab_suite,
    xenstore_suite,
    console_suite,
    blkback_suite,
    migstream_suite,
    netback_suite,
    suspend_suite,
    migrate_suite,
    vif_image_suite,
    NULL,
};

int main(void)
{
    SRunner *sr = srunner_create(NULL);
    for (size_t i = 0; registry[i]; i++)
        srunner_add_suite(sr, registry[i]());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
