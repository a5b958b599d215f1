/*
 * auth.c -- bearer tokens. The token is looked up by its public key and
 * its SHA-256 compared in constant time (lib/tenant.c); an unknown and a
 * revoked token answer the same 401.
 */
#include "auth.h"

#include "reply.h"

#include <string.h>
#include <strings.h>

void auth_init(void)
{
}

void auth_free(void)
{
}

int auth_tenant_or_reply(http_req *r)
{
    const char *h = r->authorization;
    if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
        const char *tok = h + 7;
        while (*tok == ' ')
            tok++;
        size_t len = strlen(tok);
        while (len > 0 && tok[len - 1] == ' ')
            len--;
        uint64_t tenant = 0;
        rec_err err = {0};
        rec_status st = rec_token_tenant(r->db, tok, len, &tenant, &err);
        if (st == REC_OK) {
            r->tenant_id = tenant;
            return 0;
        }
        if (st != REC_NOT_FOUND) {
            reply_rec(r, st, &err);
            return -1;
        }
    }
    http_header(r, "WWW-Authenticate", "Bearer");
    reply_error(r, 401, "unauthorized",
                h ? "unknown or revoked token"
                  : "send Authorization: Bearer <token>",
                NULL);
    return -1;
}
