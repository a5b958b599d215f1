/*
 * fiber.c -- fibers, parked on the worker's epoll sets while they wait
 * for the database (see fiber.h).
 *
 * The switch: Debian has no maintained C coroutine library, and the
 * switch is all we need (libmariadb carries its own for its non-blocking
 * API, the same few instructions). glibc's swapcontext also saves and
 * restores the signal mask, a system call each way, four a request; on
 * x86-64 the switch below saves only what the ABI says a call preserves
 * (rbx, rbp, r12-r15, the stack pointer, MXCSR and the x87 control
 * word). Elsewhere swapcontext does the job.
 *
 * Each stack is mmap'd with a guard page below it: an overflow faults
 * instead of writing over the next fiber's stack.
 *
 * Readiness: a fiber's database socket is added to the sets once per
 * connection (edge-triggered, EPOLLIN only), not once per wait. libmariadb
 * reports a wait only after its own read found nothing, so any answer
 * after that raises a new edge; an edge that comes while the fiber is not
 * waiting (a stale one) is dropped, and at worst resumes a later wait
 * early, where libmariadb reads, finds nothing and asks to wait again.
 * Waits to write (a statement larger than the socket's buffer, while
 * MariaDB reads it) are rare and short: they poll in place.
 */
#include "fiber.h"

#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif
#ifdef FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
/* Under valgrind, each fiber's stack is registered as a stack (the macro
 * is a no-op otherwise), so that a switch is not taken for an overflow. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define FIBER_VALGRIND 1
#endif
#endif

#define WAIT_SLEEP 16 /* besides REC_WAIT_READ: a back-off's sleep */

#if defined(__x86_64__)
/* Saves the callee-saved registers on the current stack, stores the
 * stack pointer in *from, loads `to` and restores from there: returns on
 * the other stack. A new stack is laid out as if it had switched away
 * (make_one), so its first switch "returns" into `first`. */
void optimist_fiber_switch(void **from, void *to);
__asm__(".pushsection .text\n"
        ".globl optimist_fiber_switch\n"
        ".type optimist_fiber_switch,@function\n"
        "optimist_fiber_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $16, %rsp\n"
        "    stmxcsr 8(%rsp)\n"
        "    fnstcw (%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    ldmxcsr 8(%rsp)\n"
        "    fldcw (%rsp)\n"
        "    addq $16, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size optimist_fiber_switch, .-optimist_fiber_switch\n"
        ".popsection\n");
#define FIBER_ASM 1
#endif

struct fib {
#ifdef FIBER_ASM
    void *sp; /* saved stack pointer while away */
#else
    ucontext_t ctx;
#endif
    char *map; /* the mapping: guard page, then the stack */
    size_t map_len;
    int waiting;         /* 0, REC_WAIT_READ or WAIT_SLEEP */
    int result;          /* what ended the wait (REC_WAIT_*) */
    long long deadline;  /* CLOCK_MONOTONIC ns; 0: none */
    long long parked_at; /* when the current wait began; 0: running */
    int reg_fd;          /* the socket in the epoll set, and its gen */
    unsigned reg_gen;
    rec_waiter w;
#ifdef FIBER_ASAN
    void *fake; /* ASan's fake stack while away */
#endif
};

static struct fib *fibs;
static unsigned nfibs;
static int current = -1;
static int epfds[2] = {-1, -1};
static unsigned nep;
static unsigned parked; /* fibers waiting in the loop */
static int inplace_ms;  /* see wait_db */
#ifdef FIBER_ASM
static void *loop_sp;
#else
static ucontext_t loop_ctx;
#endif
static void (*entry)(void *);
static void **entry_args;
static void (*resume_hook)(unsigned);
#ifdef FIBER_ASAN
static const void *loop_bottom;
static size_t loop_size;
#endif

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void start(int i)
{
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(NULL, &loop_bottom, &loop_size);
#endif
    entry(entry_args[i]);
    abort(); /* fn never returns (fiber.h) */
}

#ifdef FIBER_ASM
/* The first switch to a fiber lands here, on its own stack. */
static void first(void)
{
    start(current);
}
#endif

/* To fiber i from the loop, and back. */
static void switch_to(struct fib *f)
{
#ifdef FIBER_ASM
    optimist_fiber_switch(&loop_sp, f->sp);
#else
    if (swapcontext(&loop_ctx, &f->ctx) != 0)
        abort(); /* only fails on a bad context: ours are made below */
#endif
}

static void switch_back(struct fib *f)
{
#ifdef FIBER_ASM
    optimist_fiber_switch(&f->sp, loop_sp);
#else
    if (swapcontext(&f->ctx, &loop_ctx) != 0)
        abort();
#endif
}

void fiber_resume(unsigned i)
{
    struct fib *f = &fibs[i];
    if (resume_hook != NULL)
        resume_hook(i);
    current = (int)i;
#ifdef FIBER_ASAN
    void *fake = NULL;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    __sanitizer_start_switch_fiber(&fake, f->map + page, f->map_len - page);
#endif
    switch_to(f);
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    current = -1;
}

void fiber_yield(void)
{
    struct fib *f = &fibs[current];
#ifdef FIBER_ASAN
    __sanitizer_start_switch_fiber(&f->fake, loop_bottom, loop_size);
#endif
    switch_back(f);
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(f->fake, &loop_bottom, &loop_size);
#endif
}

/* `since`: when the wait began (it may have begun in place). */
static void park(struct fib *f, int what, int timeout_ms, long long since)
{
    f->waiting = what;
    f->result = 0;
    long long now = now_ns();
    /* A back-off's sleep holds neither the database nor the CPU: it
     * counts as a wait that began long ago (fiber_parked_since). */
    f->parked_at = what == WAIT_SLEEP ? 1 : since;
    f->deadline = timeout_ms >= 0 ? now + timeout_ms * 1000000LL : 0;
    parked++;
    fiber_yield();
    parked--;
    f->parked_at = 0;
}

static int wait_db(void *ctx, int fd, unsigned gen, int events, int timeout_ms)
{
    struct fib *f = ctx;
    unsigned i = (unsigned)(f - fibs);
    if (events & REC_WAIT_WRITE) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n;
        do
            n = poll(&p, 1, timeout_ms);
        while (n < 0 && errno == EINTR);
        return n == 0 ? REC_WAIT_TIMEOUT : REC_WAIT_WRITE;
    }
    long long since = now_ns();
    if (parked == 0 && inplace_ms > 0) {
        /* No other request waits: wait here first, as the blocking call
         * would, for up to inplace_ms. The loop would have nothing to do
         * meanwhile (it takes no new request while this one makes
         * progress, worker.c), and this costs what the blocking call
         * costs: one poll, no switch, no epoll. */
        int t = timeout_ms >= 0 && timeout_ms < inplace_ms ? timeout_ms
                                                           : inplace_ms;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n;
        do
            n = poll(&p, 1, t);
        while (n < 0 && errno == EINTR);
        if (n != 0)
            return REC_WAIT_READ; /* an error: libmariadb's read says it */
        if (timeout_ms >= 0 && (timeout_ms -= t) <= 0)
            return REC_WAIT_TIMEOUT;
    }
    if (f->reg_fd != fd || f->reg_gen != gen) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                                 .data.u64 = FIBER_TAG | i};
        int rc = 0;
        for (unsigned e = 0; e < nep && rc == 0; e++) {
            rc = epoll_ctl(epfds[e], EPOLL_CTL_ADD, fd, &ev);
            if (rc != 0 && errno == EEXIST)
                rc = epoll_ctl(epfds[e], EPOLL_CTL_MOD, fd, &ev);
        }
        if (rc != 0) {
            /* Not parked: wait in place, as a blocking call would. */
            LOG(LOG_WARN, "epoll_ctl on the database socket: %s",
                strerror(errno));
            struct pollfd p = {.fd = fd, .events = POLLIN};
            int n = poll(&p, 1, timeout_ms);
            return n == 0 ? REC_WAIT_TIMEOUT : REC_WAIT_READ;
        }
        f->reg_fd = fd;
        f->reg_gen = gen;
    }
    park(f, REC_WAIT_READ, timeout_ms, since);
    return f->result;
}

static void sleep_us(void *ctx, unsigned usec)
{
    park(ctx, WAIT_SLEEP, (int)((usec + 999) / 1000), 1);
}

void fiber_event(uint64_t data, uint32_t events)
{
    (void)events; /* an error or a hang-up: libmariadb's read says which */
    unsigned i = (unsigned)(data & 0xffffffffu);
    if (i >= nfibs || fibs[i].waiting != REC_WAIT_READ)
        return; /* a stale edge (see above) */
    fibs[i].waiting = 0;
    fibs[i].result = REC_WAIT_READ;
    fiber_resume(i);
}

int fiber_expire(void)
{
    long long now = 0, next = -1;
    for (unsigned i = 0; i < nfibs; i++) {
        struct fib *f = &fibs[i];
        if (f->waiting == 0 || f->deadline == 0)
            continue;
        if (now == 0)
            now = now_ns();
        if (f->deadline <= now) {
            f->result = f->waiting == WAIT_SLEEP ? 0 : REC_WAIT_TIMEOUT;
            f->waiting = 0;
            fiber_resume(i);
            now = now_ns();
            continue;
        }
        long long left = f->deadline - now;
        if (next < 0 || left < next)
            next = left;
    }
    return next < 0 ? -1 : (int)((next + 999999) / 1000000);
}

const rec_waiter *fiber_waiter(unsigned i)
{
    return &fibs[i].w;
}

/* getcontext returns twice in principle: kept out of fiber_init's loop so
 * that no variable of the loop lives across it. */
static int make_one(struct fib *f, unsigned i, size_t stack_size, size_t page)
{
    f->reg_fd = -1;
    f->map_len = stack_size + page;
    f->map = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (f->map == MAP_FAILED || mprotect(f->map, page, PROT_NONE) != 0)
        return -1;
#ifdef FIBER_VALGRIND
    (void)VALGRIND_STACK_REGISTER(f->map + page, f->map + f->map_len);
#endif
#ifdef FIBER_ASM
    /* As optimist_fiber_switch leaves a stack: the x87 control word and
     * MXCSR (their defaults), six registers, the return address (first),
     * and above it the slot of first's own return address, so that
     * first starts with the stack aligned as after a call. */
    (void)i;
    uint64_t *top = (uint64_t *)(f->map + f->map_len);
    uint64_t *sp = top - 10;
    memset(sp, 0, 10 * sizeof *sp);
    sp[0] = 0x037f; /* x87 control word */
    sp[1] = 0x1f80; /* MXCSR */
    sp[8] = (uint64_t)(uintptr_t)first;
    f->sp = sp;
#else
    if (getcontext(&f->ctx) != 0)
        return -1;
    f->ctx.uc_stack.ss_sp = f->map + page;
    f->ctx.uc_stack.ss_size = stack_size;
    f->ctx.uc_link = NULL;
    makecontext(&f->ctx, (void (*)(void))start, 1, (int)i);
#endif
    f->w = (rec_waiter){.wait = wait_db, .sleep = sleep_us, .ctx = f};
    return 0;
}

long long fiber_parked_since(unsigned i)
{
    return fibs[i].parked_at;
}

long long fiber_now(void)
{
    return now_ns();
}

void fiber_wait_in_place(int ms)
{
    inplace_ms = ms;
}

int fiber_init(unsigned n, size_t stack_size, const int *eps, unsigned neps,
               void (*fn)(void *), void **arg, void (*on_resume)(unsigned))
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    stack_size = (stack_size + page - 1) / page * page;
    fibs = calloc(n, sizeof *fibs);
    if (fibs == NULL)
        return -1;
    nfibs = n;
    nep = neps < 2 ? neps : 2;
    for (unsigned e = 0; e < nep; e++)
        epfds[e] = eps[e];
    entry = fn;
    entry_args = arg;
    resume_hook = on_resume;
    for (unsigned i = 0; i < n; i++)
        if (make_one(&fibs[i], i, stack_size, page) != 0)
            return -1;
    return 0;
}
