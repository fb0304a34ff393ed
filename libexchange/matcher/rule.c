/* The identification rule's evidence window (rule.h). */
#include "rule.h"

int xchg__rule_in_window(const xchg_policy_data *pd, unsigned problem, int32_t start, int32_t end,
                         int32_t run_date)
{
    if (problem >= pd->nproblems)
        return 0;
    int32_t w = pd->problems[problem].window_days > 0 ? (int32_t)pd->problems[problem].window_days
                                                      : (int32_t)pd->rule_window_days;
    int32_t from = run_date - w + 1;
    return !(end < from || start > run_date);
}
