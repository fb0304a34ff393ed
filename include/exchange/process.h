/*
 * exchange — process hardening for programs that hold secret keys.
 *
 * A core dump of a program that has loaded a secret key, the linkage secret or the store
 * key would hold those secrets in clear (sodium_malloc memory is excluded from dumps only
 * where the kernel honours MADV_DONTDUMP, and not in every copy). Every tool that loads
 * secrets calls xchg_process_harden() first thing in main, before it reads any of them.
 */
#ifndef XCHG_PROCESS_H
#define XCHG_PROCESS_H

#include "exchange/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Make this process safe to hold secrets:
 *  - no core dumps: RLIMIT_CORE soft and hard limits set to 0 (children inherit it);
 *  - not dumpable: prctl(PR_SET_DUMPABLE, 0), so no core is written even through a
 *    piped core_pattern, and other processes of the same user cannot ptrace it or read
 *    its /proc/PID/mem or environ;
 *  - SIGXFSZ ignored: a write past the file size limit (RLIMIT_FSIZE, `ulimit -f`) then
 *    fails with EFBIG, which the library's writers report as "file size limit reached
 *    while writing FILE", instead of killing the process silently half-way through.
 * Returns XCHG_OK, or XCHG_ERR_IO if the kernel refused one of them (the others are
 * still applied); a diagnostic names which one and why.
 */
XCHG_API xchg_err xchg_process_harden(xchg_diag *d);

#ifdef __cplusplus
}
#endif
#endif
