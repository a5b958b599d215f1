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
    int32_t holder[STREAMS_MAX];  /* pid of the process holding slot i, or 0:
                                     the worker that claims, then the hub
                                     that runs the evaluation */
    uint64_t tenant[STREAMS_MAX]; /* whose run holds it (0: none) */
    uint64_t run[STREAMS_MAX];    /* the evaluation the hub runs in it */
    uint64_t orphan[STREAMS_MAX]; /* a run whose hub died, for the next
                                     hub to end at once */
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
    (void)workers; /* runs no longer hold workers: the hub runs them */
    int cap = configured > 0 ? configured : STREAMS_DEFAULT_CAP;
    return cap > STREAMS_MAX ? STREAMS_MAX : cap;
}

int streams_tenant_cap(int cap, int configured)
{
    int t = configured > 0 ? configured : cap / 2;
    if (t > cap)
        t = cap;
    return t < 1 ? 1 : t;
}

int streams_acquire_tenant(int cap, uint64_t tenant, int tenant_cap)
{
    int slot = streams_acquire(cap);
    if (slot < 0)
        return -1;
    __atomic_store_n(&s->tenant[slot], tenant, __ATOMIC_RELEASE);
    /* Counted after taking: two that race may both count each other and
     * both give back (a spurious 503), never both stay over the share. */
    int mine = 0;
    for (int i = 0; i < STREAMS_MAX; i++)
        mine += __atomic_load_n(&s->holder[i], __ATOMIC_ACQUIRE) != 0 &&
                __atomic_load_n(&s->tenant[i], __ATOMIC_ACQUIRE) == tenant;
    if (mine > tenant_cap) {
        streams_release(slot);
        return -2;
    }
    return slot;
}

void streams_adopt(int slot, uint64_t eval_id)
{
    if (slot >= 0 && slot < STREAMS_MAX) {
        __atomic_store_n(&s->run[slot], eval_id, __ATOMIC_RELEASE);
        __atomic_store_n(&s->holder[slot], (int32_t)getpid(), __ATOMIC_RELEASE);
    }
}

int streams_take_orphans(uint64_t *ids, int max)
{
    int n = 0;
    for (int i = 0; i < STREAMS_MAX && n < max; i++) {
        uint64_t id = __atomic_exchange_n(&s->orphan[i], 0, __ATOMIC_ACQ_REL);
        if (id != 0)
            ids[n++] = id;
    }
    return n;
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
    if (__atomic_load_n(&s->holder[slot], __ATOMIC_ACQUIRE) == me)
        __atomic_store_n(&s->run[slot], 0, __ATOMIC_RELEASE);
    __atomic_store_n(&s->tenant[slot], 0, __ATOMIC_RELEASE);
    /* Only our own: the master may have cleared it already. */
    (void)__atomic_compare_exchange_n(&s->holder[slot], &me, 0, 0,
                                      __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

void streams_forget(pid_t pid)
{
    for (int i = 0; i < STREAMS_MAX; i++) {
        if (__atomic_load_n(&s->holder[i], __ATOMIC_ACQUIRE) != (int32_t)pid)
            continue;
        /* A run the dead process ran: the next hub ends it at once,
         * rather than at its lease's end. */
        uint64_t run = __atomic_exchange_n(&s->run[i], 0, __ATOMIC_ACQ_REL);
        if (run != 0)
            __atomic_store_n(&s->orphan[i], run, __ATOMIC_RELEASE);
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
