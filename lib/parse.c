/*
 * parse.c -- see parse.h.
 */
#include "parse.h"

size_t parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    int over = 0; /* v passed max: the rest is only counted */
    size_t n = 0;
    for (; s[n] >= '0' && s[n] <= '9'; n++) {
        uint64_t d = (uint64_t)(s[n] - '0');
        if (over)
            continue;
        if (d > max || v > (max - d) / 10) /* v * 10 + d > max */
            over = 1;
        else
            v = v * 10 + d;
    }
    *out = over ? max : v;
    return n;
}
