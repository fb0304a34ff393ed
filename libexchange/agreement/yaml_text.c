/*
 * The one way YAML text is loaded (yaml_internal.h): agreements (policy.c) and agencies'
 * mapping files (seal_mapping.c) both come from outside and both are read by libfyaml.
 */
#include "yaml_internal.h"

#include <utf8proc.h>

/*
 * Line of the first byte that is not valid UTF-8, or 0 when all of text is valid. YAML is
 * Unicode text, and libfyaml 0.7.12 loops forever on a directive line ("%...") holding an
 * invalid byte (found by tests/fuzz/fuzz_policy.c), so nothing else reaches it.
 */
unsigned xchg__utf8_bad_line(const char *text, size_t len)
{
    unsigned line = 1;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0)
            return line;
        line += text[i] == '\n';
        i += (size_t)k;
    }
    return 0;
}

/*
 * Where a second YAML document starts ("---" after the first document), or 0 when the
 * text holds one document. fy_document_build_from_string reads the first document only,
 * so without this check everything after a "---" would be silently ignored while the
 * signatories may have read it as part of the agreement. Returns -1 on no memory.
 */
static int second_document(const char *text, size_t len, unsigned *line, unsigned *col)
{
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE};
    struct fy_parser *fyp = fy_parser_create(&cfg);
    if (!fyp)
        return -1;
    int found = 0, docs = 0;
    if (fy_parser_set_string(fyp, text, len) != 0) {
        fy_parser_destroy(fyp);
        return -1;
    }
    struct fy_event *ev;
    while (!found && (ev = fy_parser_parse(fyp)) != NULL) {
        if (ev->type == FYET_DOCUMENT_START && ++docs == 2) {
            const struct fy_mark *m = fy_event_start_mark(ev);
            *line = m ? (unsigned)m->line + 1 : 0;
            *col = m ? (unsigned)m->column + 1 : 0;
            found = 1;
        }
        fy_parser_event_free(fyp, ev);
    }
    fy_parser_destroy(fyp);
    return found;
}

xchg_err xchg__yaml_load(const char *text, size_t len, const char *file, const char *kind,
                         const char *into, struct fy_document **out, struct fy_diag **diag,
                         xchg_diag *d)
{
    *out = NULL;
    *diag = NULL;
    unsigned bad = xchg__utf8_bad_line(text, len);
    if (bad) {
        xchg_diag_add(d, XCHG_SEV_ERROR, file, bad, 0, "not valid UTF-8 text");
        return XCHG_ERR_FORMAT;
    }
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = NULL;
    struct fy_diag *fd = fy_diag_create(&dcfg);
    if (!fd)
        return XCHG_ERR_NOMEM;
    fy_diag_set_collect_errors(fd, true);
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE,
                               .diag = fd};
    struct fy_document *doc = fy_document_build_from_string(&cfg, text, len);
    xchg_err rc = XCHG_OK;
    if (!doc || fy_diag_got_error(fd)) {
        void *it = NULL;
        struct fy_diag_error *e;
        int n = 0;
        while ((e = fy_diag_errors_iterate(fd, &it)) != NULL) {
            if (e->type < FYET_ERROR)
                continue;
            xchg_diag_add(d, XCHG_SEV_ERROR, file, (unsigned)e->line + 1, (unsigned)e->column + 1,
                          "not valid YAML: %s", e->msg);
            n++;
        }
        if (!n)
            xchg_diag_add(d, XCHG_SEV_ERROR, file, 0, 0, "not valid YAML");
        rc = XCHG_ERR_FORMAT;
        goto done;
    }
    unsigned l2 = 0, c2 = 0;
    int second = second_document(text, len, &l2, &c2);
    if (second < 0) {
        rc = XCHG_ERR_NOMEM;
        goto done;
    }
    if (second) {
        xchg_diag_add(d, XCHG_SEV_ERROR, file, l2, c2,
                      "a second YAML document starts here: %s is one document, and nothing "
                      "after the first may be left unread (remove the '---' and what follows, "
                      "or merge it into %s)",
                      kind, into);
        rc = XCHG_ERR_POLICY;
        goto done;
    }
done:
    if (rc != XCHG_OK && doc) {
        fy_document_destroy(doc);
        doc = NULL;
    }
    if (rc != XCHG_OK) {
        fy_diag_destroy(fd);
        fd = NULL;
    }
    *out = doc;
    *diag = fd; /* the document reports through it: destroy it after the document */
    return rc;
}
