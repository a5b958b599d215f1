/*
 * testhook.c -- TEST ONLY: OPTIMIST_TEST_PAUSE (see testhook.h). Read
 * once per process; unset, every call is one comparison.
 */
#include "testhook.h"

#include "log.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static int loaded;
static char point_want[32];
static char prefix_want[256];

static void load(void)
{
    loaded = 1;
    const char *v = getenv("OPTIMIST_TEST_PAUSE");
    if (v == NULL || v[0] == '\0')
        return;
    const char *colon = strchr(v, ':');
    size_t plen = colon ? (size_t)(colon - v) : strlen(v);
    if (plen == 0 || plen >= sizeof point_want ||
        (colon && strlen(colon + 1) >= sizeof prefix_want)) {
        LOG(LOG_ERROR, "OPTIMIST_TEST_PAUSE: malformed, ignored");
        return;
    }
    memcpy(point_want, v, plen);
    point_want[plen] = '\0';
    strcpy(prefix_want, colon ? colon + 1 : "");
    LOG(LOG_WARN, "TEST ONLY: OPTIMIST_TEST_PAUSE=%s is set", v);
}

int testhook_wants(const char *point, const http_req *r)
{
    if (!loaded)
        load();
    if (point_want[0] == '\0' || strcmp(point, point_want) != 0)
        return 0;
    if (r->method == NULL || strcmp(r->method, "GET") == 0 ||
        strcmp(r->method, "HEAD") == 0 ||
        strncmp(r->path, prefix_want, strlen(prefix_want)) != 0)
        return 0;
    return 1;
}

void testhook_pause(const char *point, const http_req *r)
{
    if (!testhook_wants(point, r))
        return;
    LOG(LOG_WARN, "TEST PAUSE %s %s %s: stopping until killed", point,
        r->method, r->path);
    (void)raise(SIGSTOP);
}
