/*
 * metrics_access.c -- the /metrics token (see metrics_access.h).
 */
#include "metrics_access.h"

#include "../lib/sha256.h"
#include "reply.h"

#include <string.h>
#include <strings.h>

int metrics_access_or_reply(http_req *r)
{
    const char *want = r->conf->metrics_token;
    if (want[0] == '\0')
        return 0;
    const char *h = r->authorization;
    /* Both sides hashed, then compared in constant time: neither the
     * token's bytes nor its length leak through the timing. */
    if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
        uint8_t a[SHA256_LEN], b[SHA256_LEN];
        sha256(h + 7, strlen(h + 7), a);
        sha256(want, strlen(want), b);
        if (ct_equal(a, b, SHA256_LEN))
            return 0;
    }
    http_header(r, "WWW-Authenticate", "Bearer realm=\"metrics\"");
    reply_error(r, 401, "unauthorized",
                "/metrics needs the metrics token (OPTIMIST_METRICS_TOKEN)",
                NULL);
    return -1;
}
