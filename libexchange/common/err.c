#include "exchange/common.h"

#include <sodium.h>

const char *xchg_strerror(xchg_err err)
{
    switch (err) {
    case XCHG_OK: return "success";
    case XCHG_ERR_NOMEM: return "out of memory";
    case XCHG_ERR_IO: return "input/output error";
    case XCHG_ERR_ARG: return "invalid argument";
    case XCHG_ERR_FORMAT: return "malformed input";
    case XCHG_ERR_VERSION: return "unsupported version or algorithm";
    case XCHG_ERR_VERIFY: return "verification failed";
    case XCHG_ERR_PASSPHRASE: return "wrong passphrase or damaged key";
    case XCHG_ERR_EXISTS: return "file exists";
    case XCHG_ERR_POLICY: return "invalid agreement";
    case XCHG_ERR_VALIDITY: return "agreement not in force";
    case XCHG_ERR_UNSIGNED: return "missing signature";
    case XCHG_ERR_UNKNOWN_KEY: return "unknown key";
    case XCHG_ERR_CRYPTO: return "cryptographic library failure";
    case XCHG_ERR_NOT_FOUND: return "not found";
    case XCHG_ERR_DENIED: return "not allowed by the agreement";
    case XCHG_ERR_TRUNCATED: return "input is truncated";
    }
    return "unknown error";
}

const char *xchg_version(void)
{
    return XCHG_LIB_VERSION;
}

xchg_err xchg_init(void)
{
    return sodium_init() < 0 ? XCHG_ERR_CRYPTO : XCHG_OK;
}
