/*
 * followed.c -- the counting filter of followed rows (see followed.h).
 */
#include "followed.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

struct shared {
    atomic_uint n[FOLLOWED_SLOTS];
};

static struct shared *s; /* NULL: not shared, every change is sent */

int followed_init(void)
{
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    s = p; /* an anonymous mapping starts zeroed */
    return 0;
}

void followed_reset(void)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < FOLLOWED_SLOTS; i++)
        atomic_store(&s->n[i], 0);
}

static size_t slot_of(const char *resource, uint64_t tenant, uint64_t key)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a over the name */
    for (const unsigned char *p = (const unsigned char *)resource; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h ^= tenant * 0x9E3779B97F4A7C15ULL;
    h ^= key * 0xC2B2AE3D27D4EB4FULL;
    h ^= h >> 31;
    h *= 0x94D049BB133111EBULL;
    h ^= h >> 29;
    return (size_t)(h & (FOLLOWED_SLOTS - 1));
}

size_t followed_add(const char *resource, uint64_t tenant, uint64_t key)
{
    size_t i = slot_of(resource, tenant, key);
    if (s != NULL)
        atomic_fetch_add(&s->n[i], 1);
    return i;
}

void followed_remove(size_t slot)
{
    if (s == NULL || slot >= FOLLOWED_SLOTS)
        return;
    /* Never below zero (a reset between add and remove). */
    unsigned v = atomic_load(&s->n[slot]);
    while (v > 0 && !atomic_compare_exchange_weak(&s->n[slot], &v, v - 1))
        ;
}

int followed_maybe(const char *resource, uint64_t tenant, uint64_t key)
{
    if (s == NULL)
        return 1;
    return atomic_load(&s->n[slot_of(resource, tenant, key)]) != 0;
}
