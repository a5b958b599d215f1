/*
 * fuzz_router.c -- the route table (fcgi/http/router.c). Input: a method, a
 * space, the path. Rules: a match names a route of that method (GET for
 * HEAD) whose
 * pattern, with the ids it returned written back in decimal, leads to the
 * same route and ids; ROUTER_NO_METHOD comes with a non-empty Allow that
 * does not list the method; at most HTTP_MAX_IDS ids.
 */
#include "fuzz.h"

#include "router.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2048)
        return 0;
    char *in = malloc(size + 1);
    if (in == NULL)
        abort();
    memcpy(in, data, size);
    in[size] = '\0';
    char *sp = strchr(in, ' ');
    const char *method = in, *path = "";
    if (sp != NULL) {
        *sp = '\0';
        path = sp + 1;
    }
    uint64_t ids[HTTP_MAX_IDS];
    int nids = -1;
    char allow[256];
    int i = router_match(method, path, ids, &nids, allow, sizeof allow);
    if (i >= 0) {
        if (i >= router_count() || nids < 0 || nids > HTTP_MAX_IDS)
            fuzz_fail(data, size, "route %d, %d ids", i, nids);
        const struct route *r = router_get(i);
        /* HEAD runs the GET route (HTTP: HEAD works wherever GET does). */
        if (strcmp(r->method, method) != 0 &&
            !(strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
            fuzz_fail(data, size, "route %d is %s", i, r->method);
        /* The pattern with the ids written back. */
        char again[2048];
        size_t n = 0;
        int k = 0;
        for (const char *p = r->pattern; *p && n < sizeof again - 24;) {
            if (strncmp(p, "{id}", 4) == 0) {
                if (k >= nids)
                    fuzz_fail(data, size, "fewer ids than {id}s");
                n += (size_t)snprintf(again + n, sizeof again - n, "%" PRIu64,
                                      ids[k++]);
                p += 4;
            } else {
                again[n++] = *p++;
            }
        }
        again[n] = '\0';
        if (k != nids)
            fuzz_fail(data, size, "%d ids for %d {id}s", nids, k);
        uint64_t ids2[HTTP_MAX_IDS];
        int n2;
        if (router_match(method, again, ids2, &n2, allow, sizeof allow) != i ||
            n2 != nids || memcmp(ids, ids2, sizeof ids[0] * (size_t)nids))
            fuzz_fail(data, size, "%s does not lead back to route %d", again,
                      i);
    } else if (i == ROUTER_NO_METHOD) {
        size_t ml = strlen(method);
        const char *a = allow;
        int listed = 0;
        while (*a) {
            size_t w = strcspn(a, ",");
            if (w == ml && strncmp(a, method, ml) == 0)
                listed = 1;
            a += w;
            while (*a == ',' || *a == ' ')
                a++;
        }
        if (allow[0] == '\0' || listed)
            fuzz_fail(data, size, "405 with Allow: '%s'", allow);
    } else if (i != ROUTER_NO_PATH) {
        fuzz_fail(data, size, "router_match gave %d", i);
    }
    free(in);
    return 0;
}
