/* Private: what the release module needs of the store. Not installed. */
#ifndef XCHG_STORE_INTERNAL_H
#define XCHG_STORE_INTERNAL_H

#include "exchange/store.h"
#include <sqlcipher/sqlite3.h>

sqlite3 *xchg__store_db(xchg_store *s);
const char *xchg__store_path(const xchg_store *s);

#endif
