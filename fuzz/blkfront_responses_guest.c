/* Linked into the blk guest that fuzz/blkfront_responses.c runs: clang's
 * inline 8-bit counters in blkfront.o come with a module constructor that
 * registers them through this hook.  A guest never runs constructors (the
 * harness finds the counters in the image's __sancov_cntrs section
 * instead), but the symbol must exist. */
void __sanitizer_cov_8bit_counters_init(char *start, char *stop);

void __sanitizer_cov_8bit_counters_init(char *start, char *stop)
{
    (void)start;
    (void)stop;
}
