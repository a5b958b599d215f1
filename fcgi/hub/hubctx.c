/*
 * hubctx.c -- the hub's shared state (see hubctx.h).
 */
#include "hubctx.h"

#include <time.h>

struct hubctx hub;

long long hub_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hub_poll_at(long long at)
{
    if (hub.poll_asap == 0 || hub.poll_asap > at)
        hub.poll_asap = at;
}
