/* exchange — privacy-preserving data exchange for whole-family programmes. */
#ifndef XCHG_EXCHANGE_H
#define XCHG_EXCHANGE_H

#include "exchange/common.h"
#include "exchange/audit.h"
#include "exchange/clk.h"
#include "exchange/consent.h"
#include "exchange/crypto.h"
#include "exchange/csvread.h"
#include "exchange/date.h"
#include "exchange/extract.h"
#include "exchange/fileio.h"
#include "exchange/keys.h"
#include "exchange/link.h"
#include "exchange/matcher.h"
#include "exchange/packet.h"
#include "exchange/policy.h"
#include "exchange/record.h"
#include "exchange/referral.h"
#include "exchange/evidence.h"
#include "exchange/release.h"
#include "exchange/seal.h"
#include "exchange/secret.h"
#include "exchange/store.h"
#include "exchange/textsafe.h"
#include "exchange/threshold.h"
#include "exchange/netauth.h"
#include "exchange/oprf.h"
#include "exchange/normalise.h"
#include "exchange/xex.h"
#include "exchange/process.h"

#endif
