/*
 * streams.c -- the evaluation slots: an array of pids in a shared
 * anonymous mapping, taken and given back with compare-and-swap, so no
 * lock is held across processes and a process that dies holding a slot
 * leaves nothing locked (the master clears its pid when it reaps it).
 */
#include "streams.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct shared {
    int32_t holder[STREAMS_MAX]; /* pid of the worker holding slot i, or 0 */
};

static struct shared local; /* until streams_init maps the shared one */
static struct shared *s = &local;

int streams_init(void)
{
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    memset(p, 0, sizeof(struct shared));
    s = p;
    return 0;
}

int streams_cap(int workers, int configured)
{
    int cap = configured > 0 ? configured : workers / 2;
    if (cap > workers - 1)
        cap = workers - 1;
    if (cap > STREAMS_MAX)
        cap = STREAMS_MAX;
    /* One worker alone cannot both stream and stay free; it streams. */
    return cap < 1 ? 1 : cap;
}

int streams_acquire(int cap)
{
    int32_t me = (int32_t)getpid();
    if (cap > STREAMS_MAX)
        cap = STREAMS_MAX;
    for (int i = 0; i < cap; i++) {
        int32_t expected = 0;
        if (__atomic_compare_exchange_n(&s->holder[i], &expected, me, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return i;
    }
    return -1;
}

void streams_release(int slot)
{
    if (slot < 0 || slot >= STREAMS_MAX)
        return;
    int32_t me = (int32_t)getpid();
    /* Only our own: the master may have cleared it already. */
    (void)__atomic_compare_exchange_n(&s->holder[slot], &me, 0, 0,
                                      __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

void streams_forget(pid_t pid)
{
    for (int i = 0; i < STREAMS_MAX; i++) {
        int32_t held = (int32_t)pid;
        (void)__atomic_compare_exchange_n(&s->holder[i], &held, 0, 0,
                                          __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    }
}

int streams_running(void)
{
    int n = 0;
    for (int i = 0; i < STREAMS_MAX; i++)
        n += __atomic_load_n(&s->holder[i], __ATOMIC_RELAXED) != 0;
    return n;
}
