/* Process hardening for programs that hold secrets: include/exchange/process.h. */
#include "exchange/process.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

xchg_err xchg_process_harden(xchg_diag *d)
{
    xchg_err rc = XCHG_OK;
    const struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "cannot turn core dumps off: %s",
                      strerror(errno));
        rc = XCHG_ERR_IO;
    }
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "cannot make the process non-dumpable: %s",
                      strerror(errno));
        rc = XCHG_ERR_IO;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGXFSZ, &sa, NULL) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "cannot ignore SIGXFSZ: %s", strerror(errno));
        rc = XCHG_ERR_IO;
    }
    return rc;
}
