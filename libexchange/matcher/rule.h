/*
 * Private: the agreement's identification rule as the matcher applies it — one place for
 * the evidence window, so the linkage run (which decides eligibility) and the release
 * (which lists the evidence released to a recipient) can never disagree.
 */
#ifndef XCHG_RULE_H
#define XCHG_RULE_H

#include "exchange/policy.h"

/* 1 when an indicator event of `problem` spanning [start, end] (days since 1970) falls in
 * the evidence window ending on run_date: the problem's window_days, else the rule's. */
int xchg__rule_in_window(const xchg_policy_data *pd, unsigned problem, int32_t start,
                         int32_t end, int32_t run_date);

#endif
