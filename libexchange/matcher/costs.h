/* Private: the cost arithmetic (costs.c), pure so that it is tested on its own. */
#ifndef XCHG_COSTS_H
#define XCHG_COSTS_H

#include "exchange/matcher.h"
#include "exchange/policy.h"

/* counts[i] = {baseline events, outcome events} of the agreement's cost item i. */
void xchg__costs_compute(const xchg_policy_data *pd, const double (*counts)[2], size_t families,
                         int32_t window_days, xchg_matcher_cost_report *out);

#endif
