/*
 * hubdb.c -- the hub's job threads (see hubdb.h). One mutex, one
 * condition variable, an eventfd to wake the loop; a job is a small
 * malloc'd record that lives in the queue, then on a thread, then in the
 * finished list until the loop runs its `done`.
 */
#include "hubdb.h"

#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <mysql.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct job {
    uint64_t key;
    hubdb_work work;
    hubdb_done done;
    void *arg;
    struct job *next;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *queue, **queue_tail; /* waiting, in order */
    struct job *finished, **finished_tail;
    uint64_t busy[HUBDB_THREADS]; /* the key each thread runs (0: none) */
    int busy_set[HUBDB_THREADS];
    pthread_t threads[HUBDB_THREADS];
    rec_db *dbs[HUBDB_THREADS];
    int nthreads;
    int stopping;
    size_t pending;
    int efd;
    rec_db *fallback;
} Q = {
    .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .efd = -1};

static int key_busy(uint64_t key)
{
    for (int i = 0; i < Q.nthreads; i++)
        if (Q.busy_set[i] && Q.busy[i] == key)
            return 1;
    return 0;
}

/* The first queued job whose key no thread is running (mu held). */
static struct job *take(void)
{
    for (struct job **pp = &Q.queue; *pp; pp = &(*pp)->next) {
        struct job *j = *pp;
        if (key_busy(j->key))
            continue;
        *pp = j->next;
        if (Q.queue_tail == &j->next)
            Q.queue_tail = pp;
        j->next = NULL;
        return j;
    }
    return NULL;
}

static void wake_loop(void)
{
    uint64_t one = 1;
    while (write(Q.efd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

static void *thread_main(void *vself)
{
    int self = (int)(intptr_t)vself;
    (void)mysql_thread_init();
    pthread_mutex_lock(&Q.mu);
    for (;;) {
        struct job *j = take();
        if (j == NULL) {
            if (Q.stopping && Q.queue == NULL)
                break;
            pthread_cond_wait(&Q.cv, &Q.mu);
            continue;
        }
        Q.busy[self] = j->key;
        Q.busy_set[self] = 1;
        pthread_mutex_unlock(&Q.mu);
        j->work(Q.dbs[self], j->arg);
        pthread_mutex_lock(&Q.mu);
        Q.busy_set[self] = 0;
        *Q.finished_tail = j;
        Q.finished_tail = &j->next;
        /* Another job of the same key may be waiting for this one. */
        pthread_cond_broadcast(&Q.cv);
        wake_loop();
    }
    pthread_mutex_unlock(&Q.mu);
    rec_db_close(Q.dbs[self]);
    Q.dbs[self] = NULL;
    mysql_thread_end();
    return NULL;
}

int hubdb_start(const rec_config *cfg, rec_db *fallback)
{
    Q.fallback = fallback;
    Q.queue = Q.finished = NULL;
    Q.queue_tail = &Q.queue;
    Q.finished_tail = &Q.finished;
    Q.stopping = 0;
    Q.pending = 0;
    Q.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (Q.efd < 0)
        return -1;
    /* Before any thread: libmariadb's global set-up is not thread-safe. */
    if (mysql_library_init(0, NULL, NULL) != 0)
        return -1;
    for (int i = 0; i < HUBDB_THREADS; i++) {
        Q.dbs[i] = rec_db_new(cfg);
        if (Q.dbs[i] == NULL || pthread_create(&Q.threads[i], NULL, thread_main,
                                               (void *)(intptr_t)i) != 0) {
            rec_db_close(Q.dbs[i]);
            Q.dbs[i] = NULL;
            break;
        }
        Q.nthreads++;
    }
    if (Q.nthreads == 0)
        LOG(LOG_ERROR, "hub: no database thread could start; the hub's "
                       "writes run on its loop");
    return Q.nthreads > 0 ? 0 : -1;
}

int hubdb_fd(void)
{
    return Q.efd;
}

void hubdb_submit(uint64_t key, hubdb_work work, hubdb_done done, void *arg)
{
    if (Q.nthreads == 0) {
        work(Q.fallback, arg);
        if (done != NULL)
            done(arg);
        return;
    }
    struct job *j = xcalloc(1, sizeof *j);
    j->key = key;
    j->work = work;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&Q.mu);
    *Q.queue_tail = j;
    Q.queue_tail = &j->next;
    Q.pending++;
    pthread_cond_broadcast(&Q.cv);
    pthread_mutex_unlock(&Q.mu);
}

void hubdb_dispatch(void)
{
    uint64_t n;
    while (read(Q.efd, &n, sizeof n) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&Q.mu);
    struct job *list = Q.finished;
    Q.finished = NULL;
    Q.finished_tail = &Q.finished;
    pthread_mutex_unlock(&Q.mu);
    while (list) {
        struct job *next = list->next;
        if (list->done != NULL)
            list->done(list->arg);
        pthread_mutex_lock(&Q.mu);
        Q.pending--;
        pthread_mutex_unlock(&Q.mu);
        free(list);
        list = next;
    }
}

int hubdb_key_pending(uint64_t key)
{
    pthread_mutex_lock(&Q.mu);
    int hit = key_busy(key);
    for (struct job *j = Q.queue; j && !hit; j = j->next)
        hit = j->key == key;
    for (struct job *j = Q.finished; j && !hit; j = j->next)
        hit = j->key == key;
    pthread_mutex_unlock(&Q.mu);
    return hit;
}

size_t hubdb_pending(void)
{
    pthread_mutex_lock(&Q.mu);
    size_t n = Q.pending;
    pthread_mutex_unlock(&Q.mu);
    return n;
}

void hubdb_stop(void)
{
    pthread_mutex_lock(&Q.mu);
    Q.stopping = 1;
    pthread_cond_broadcast(&Q.cv);
    pthread_mutex_unlock(&Q.mu);
    for (int i = 0; i < Q.nthreads; i++)
        pthread_join(Q.threads[i], NULL);
    Q.nthreads = 0;
    hubdb_dispatch();
    if (Q.efd >= 0)
        close(Q.efd);
    Q.efd = -1;
}
