/*
 * fuzz_precond.c -- If-Match and If-None-Match (fcgi/http/precond.c) against
 * an oracle written from the contract ("Details": If-Match takes "N" or
 * *, a weak tag W/"N" never matches, anything else is 400; N is 1 to
 * 4294967295 without leading zeros), with POSIX regular expressions:
 *   If-Match:      ^[ \t]*(\*|(W/)?"[1-9][0-9]*")[ \t]*$ (and N in range)
 *   If-None-Match: a list of such tags (or *) matches the version it
 *                  names; a header that is one tag or a list of tags
 *                  matches exactly the versions listed.
 * The input is the header value (up to its first NUL, as a header is).
 */
#include "fuzz.h"

#include "precond.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

static regex_t im_re, list_re, tag_re;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (regcomp(&im_re, "^[ \t]*(\\*|(W/)?\"([1-9][0-9]*)\")[ \t]*$",
                REG_EXTENDED) ||
        regcomp(&list_re,
                "^[ \t]*(W/)?\"[1-9][0-9]*\"[ \t]*(,[ \t]*(W/)?\"[1-9][0-9]*\""
                "[ \t]*)*$",
                REG_EXTENDED) ||
        regcomp(&tag_re, "\"([1-9][0-9]*)\"", REG_EXTENDED))
        abort();
    return 0;
}

/* The number of s[m.rm_so..m.rm_eo), or UINT64_MAX past 10 digits. */
static uint64_t number(const char *s, regmatch_t m)
{
    if (m.rm_eo - m.rm_so > 10)
        return UINT64_MAX;
    uint64_t v = 0;
    for (regoff_t i = m.rm_so; i < m.rm_eo; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *h = malloc(size + 1);
    if (h == NULL)
        abort();
    memcpy(h, data, size);
    h[size] = '\0';

    /* If-Match */
    enum if_match_kind kind;
    uint32_t v;
    int rc = precond_parse_if_match(h, &kind, &v);
    regmatch_t m[4];
    int ok = regexec(&im_re, h, 4, m, 0) == 0;
    uint64_t want = 0;
    if (ok && m[3].rm_so >= 0) {
        want = number(h, m[3]);
        ok = want <= 4294967295u;
    }
    if ((rc == 0) != ok)
        fuzz_fail(data, size, "If-Match: parsed %d, the contract says %s", rc,
                  ok ? "valid" : "400");
    if (ok) {
        enum if_match_kind k = m[3].rm_so < 0    ? IM_ANY
                               : m[2].rm_so >= 0 ? IM_WEAK
                                                 : IM_TAG;
        if (kind != k || (k != IM_ANY && v != want))
            fuzz_fail(data, size, "If-Match: kind %d version %u", kind, v);
    }

    /* If-None-Match: a well-formed list matches each version it names,
     * and only those. */
    if (regexec(&list_re, h, 0, NULL, 0) == 0) {
        const char *s = h;
        uint64_t listed[64];
        size_t n = 0;
        while (n < 64 && regexec(&tag_re, s, 2, m, 0) == 0) {
            listed[n++] = number(s, m[1]);
            s += m[0].rm_eo;
        }
        for (size_t i = 0; i < n; i++)
            if (listed[i] <= 4294967295u &&
                !precond_none_match(h, (uint32_t)listed[i]))
                fuzz_fail(data, size, "If-None-Match misses %llu",
                          (unsigned long long)listed[i]);
        /* A version not listed. */
        uint32_t other = 4294967295u;
        for (int again = 1; again;) {
            again = 0;
            for (size_t i = 0; i < n; i++)
                if (listed[i] == other) {
                    other--;
                    again = 1;
                }
        }
        if (n < 64 && precond_none_match(h, other))
            fuzz_fail(data, size, "If-None-Match matches %u", other);
    } else {
        (void)precond_none_match(h, 1); /* no crash, whatever it says */
    }
    free(h);
    return 0;
}
