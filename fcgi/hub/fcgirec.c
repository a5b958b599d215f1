/*
 * fcgirec.c -- FastCGI record framing (see fcgirec.h for why by hand).
 */
#include "fcgirec.h"

static void header(jbuf *out, unsigned type, uint16_t id, size_t len,
                   unsigned pad)
{
    char h[8] = {1,
                 (char)type,
                 (char)(id >> 8),
                 (char)(id & 0xff),
                 (char)((len >> 8) & 0xff),
                 (char)(len & 0xff),
                 (char)pad,
                 0};
    jb_raw(out, h, sizeof h);
}

static void record(jbuf *out, unsigned type, uint16_t id, const char *p,
                   size_t n)
{
    static const char zeros[8] = {0};
    unsigned pad = (unsigned)((8 - n % 8) % 8);
    header(out, type, id, n, pad);
    if (n > 0)
        jb_raw(out, p, n);
    if (pad > 0)
        jb_raw(out, zeros, pad);
}

void fcgirec_stdout(jbuf *out, uint16_t request_id, const char *p, size_t n)
{
    while (n > 0) {
        size_t take = n > FCGIREC_MAX_CONTENT ? FCGIREC_MAX_CONTENT : n;
        record(out, FCGIREC_STDOUT, request_id, p, take);
        p += take;
        n -= take;
    }
}

void fcgirec_end(jbuf *out, uint16_t request_id)
{
    static const char body[8] = {0, 0, 0, 0, 0 /* REQUEST_COMPLETE */, 0, 0, 0};
    record(out, FCGIREC_STDOUT, request_id, "", 0);
    record(out, FCGIREC_END_REQUEST, request_id, body, sizeof body);
}
