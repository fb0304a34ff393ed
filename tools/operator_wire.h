/*
 * The operator endpoints' JSON (xchg-matcherd /v1/operator/..., docs/console.md "Remote
 * mode"): the store's and the release state's structs as JSON objects, written by the
 * daemon and read back, field for field, by the console in remote mode. Readers fill
 * the struct from what is there and truncate over-long text to the struct's buffers
 * (the daemon is authenticated by TLS, but a reader still never overruns).
 */
#ifndef XCHG_OPERATOR_WIRE_H
#define XCHG_OPERATOR_WIRE_H

#include <exchange.h>
#include <jansson.h>

json_t *wire_family(const xchg_store_family *f);
void wire_family_read(const json_t *j, xchg_store_family *f);
json_t *wire_state(const xchg_release_state *s);
void wire_state_read(const json_t *j, xchg_release_state *s);
json_t *wire_decision(const xchg_release_decision *d);
void wire_decision_read(const json_t *j, xchg_release_decision *d);
json_t *wire_member(const xchg_store_member *m);
void wire_member_read(const json_t *j, xchg_store_member *m);
json_t *wire_review(const xchg_review_decision *r);
void wire_review_read(const json_t *j, xchg_review_decision *r);
json_t *wire_pair(const xchg_store_pair *p);
void wire_pair_read(const json_t *j, xchg_store_pair *p);

#endif
