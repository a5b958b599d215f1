/*
 * metrics_access.c -- the /metrics token (see metrics_access.h).
 */
#include "metrics_access.h"

#include "reply.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

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
        unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)h + 7, strlen(h + 7), a);
        SHA256((const unsigned char *)want, strlen(want), b);
        if (CRYPTO_memcmp(a, b, sizeof a) == 0)
            return 0;
    }
    http_header(r, "WWW-Authenticate", "Bearer realm=\"metrics\"");
    reply_error(r, 401, "unauthorized",
                "/metrics needs the metrics token (OPTIMIST_METRICS_TOKEN)",
                NULL);
    return -1;
}
