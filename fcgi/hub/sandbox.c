/*
 * sandbox.c -- the evaluator child's limits and user, and the bwrap
 * command line that gives it namespaces of its own (see sandbox.h for
 * what is guaranteed and what is not).
 */
#include "sandbox.h"

#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PATH      "/usr/local/bin:/usr/bin:/bin"
#define DEFAULT_BWRAP     "/usr/bin/bwrap"
#define ROOT_DEFAULT_USER "nobody"
#define CHECK_MS          10000 /* the trial run at start */

extern char **environ;

void sandbox_conf_from(const struct conf *c, struct sandbox_conf *out)
{
    memset(out, 0, sizeof *out);
    out->memory_mb = c->evaluator_memory_mb;
    out->cpu_seconds = c->evaluator_cpu_seconds;
    out->processes = c->evaluator_processes;
    out->file_mb = c->evaluator_file_mb;
    out->open_files = c->evaluator_open_files;
    snprintf(out->user, sizeof out->user, "%s", c->evaluator_user);
    snprintf(out->bind, sizeof out->bind, "%s", c->evaluator_bind);
    snprintf(out->bwrap, sizeof out->bwrap, "%s",
             c->bwrap[0] ? c->bwrap : DEFAULT_BWRAP);
}

/* ---- the evaluator's user (root pools) ------------------------------------
 */

int sandbox_prepare(struct sandbox_conf *sb, char *why, size_t whylen)
{
    sb->switch_user = 0;
    if (geteuid() != 0)
        return 0; /* the namespaces separate it; see sandbox.h */
    const char *name = sb->user[0] ? sb->user : ROOT_DEFAULT_USER;
    errno = 0;
    struct passwd *pw = getpwnam(name);
    if (pw == NULL) {
        snprintf(why, whylen, "OPTIMIST_EVALUATOR_USER %s: %s", name,
                 errno ? strerror(errno) : "no such user");
        return -1;
    }
    if (pw->pw_uid == 0) {
        snprintf(why, whylen, "OPTIMIST_EVALUATOR_USER %s is root", name);
        return -1;
    }
    sb->switch_user = 1;
    sb->uid = pw->pw_uid;
    sb->gid = pw->pw_gid;
    return 0;
}

/* Every capability gone, and no way to gain one by exec. */
static int drop_caps(void)
{
    struct __user_cap_header_struct hdr = {.version =
                                               _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
        errno != EINVAL)
        return -1;
    if (syscall(SYS_capset, &hdr, data) != 0)
        return -1;
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* In the child: become the evaluator's user for good. */
static int become(const struct sandbox_conf *sb)
{
    if (setgroups(1, &sb->gid) != 0 || setgid(sb->gid) != 0 ||
        setuid(sb->uid) != 0 || drop_caps() != 0)
        return -1;
    if (setuid(0) == 0 || seteuid(0) == 0) { /* no way back */
        errno = EPERM;
        return -1;
    }
    /* A change of credentials clears the parent-death signal. */
    return prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* ---- in the child
 * ------------------------------------------------------------ */

static int limit(int resource, long value, long unit)
{
    if (value <= 0)
        return 0;
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)value * (rlim_t)unit;
    return setrlimit(resource, &rl);
}

int sandbox_child_limits(const struct sandbox_conf *sb)
{
    /* A forked ASan build has its shadow memory mapped already: a limit on
     * the address space would break every later mmap of the demo. */
#if !defined(__SANITIZE_ADDRESS__)
    if (limit(RLIMIT_AS, sb->memory_mb, 1024L * 1024L) != 0)
        goto fail;
#endif
    if (limit(RLIMIT_CPU, sb->cpu_seconds, 1) != 0 ||
        limit(RLIMIT_FSIZE, sb->file_mb, 1024L * 1024L) != 0 ||
        limit(RLIMIT_NOFILE, sb->open_files, 1) != 0)
        goto fail;
    struct rlimit nocore = {0, 0};
    if (setrlimit(RLIMIT_CORE, &nocore) != 0)
        goto fail;
    /* Counted per user: only meaningful for a user of its own. */
    if (sb->switch_user && limit(RLIMIT_NPROC, sb->processes, 1) != 0)
        goto fail;
    /* No setuid program can give it more (bwrap itself needs none). */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "optimist evaluator: sandbox: limits: %s\n",
            strerror(errno));
    return -1;
}

static int allowed_env(const char *e)
{
    return strncmp(e, "PATH=", 5) == 0 || strncmp(e, "LANG=", 5) == 0 ||
           strncmp(e, "LC_", 3) == 0 || strncmp(e, "TZ=", 3) == 0;
}

/* A bump allocator over the caller's buffer. */
struct store {
    char *p;
    size_t len, used;
};

static char *keep(struct store *s, const char *str, size_t n)
{
    if (s->used + n + 1 > s->len)
        return NULL;
    char *out = s->p + s->used;
    memcpy(out, str, n);
    out[n] = '\0';
    s->used += n + 1;
    return out;
}

/* The host's top folders as they are here: a symlink (merged /usr)
 * becomes the same symlink, a folder a read-only bind. */
static const char *const TOP[] = {"/bin",   "/sbin",  "/lib",
                                  "/lib32", "/lib64", "/libx32"};
/* What a dynamic program or an interpreter may read in /etc. */
static const char *const ETC[] = {"/etc/ld.so.cache", "/etc/alternatives",
                                  "/etc/localtime", "/etc/mime.types"};

/* Appends one argument; -1 when the table is full or the string did not
 * fit the store (NULL). */
static int push(const char **argv, int *n, const char *arg)
{
    if (*n + 2 > SANDBOX_ARGV_MAX || arg == NULL)
        return -1;
    argv[(*n)++] = arg;
    return 0;
}

#define ADD(s)                                                                 \
    do {                                                                       \
        if (push(argv, &n, (s)) != 0)                                          \
            return -1;                                                         \
    } while (0)

int sandbox_argv(const struct sandbox_conf *sb, const char *program,
                 char *const *env, const char **argv, char *storebuf,
                 size_t storelen)
{
    struct store st = {storebuf, storelen, 0};
    int n = 0;
    ADD(sb->bwrap[0] ? sb->bwrap : DEFAULT_BWRAP);
    /* --unshare-all but the cgroup namespace (it adds nothing: no /sys
     * in the run), which the packaged unit's RestrictNamespaces= keeps out
     * of its score. */
    ADD("--unshare-user");
    ADD("--unshare-pid");
    ADD("--unshare-net");
    ADD("--unshare-ipc");
    ADD("--unshare-uts");
    ADD("--die-with-parent");
    ADD("--new-session");
    ADD("--cap-drop");
    ADD("ALL");
    ADD("--ro-bind");
    ADD("/usr");
    ADD("/usr");
    for (size_t i = 0; i < sizeof TOP / sizeof TOP[0]; i++) {
        struct stat s;
        char target[256];
        if (lstat(TOP[i], &s) != 0)
            continue;
        if (S_ISLNK(s.st_mode)) {
            ssize_t t = readlink(TOP[i], target, sizeof target - 1);
            if (t <= 0)
                continue;
            ADD("--symlink");
            ADD(keep(&st, target, (size_t)t));
            ADD(TOP[i]);
        } else if (S_ISDIR(s.st_mode)) {
            ADD("--ro-bind");
            ADD(TOP[i]);
            ADD(TOP[i]);
        }
    }
    for (size_t i = 0; i < sizeof ETC / sizeof ETC[0]; i++) {
        ADD("--ro-bind-try");
        ADD(ETC[i]);
        ADD(ETC[i]);
    }
    /* Extra read-only paths (a runtime outside /usr, the program's data). */
    for (const char *p = sb->bind; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0 && p[0] == '/') {
            const char *path = keep(&st, p, len);
            ADD("--ro-bind");
            ADD(path);
            ADD(path);
        }
        p += len + (end ? 1 : 0);
    }
    ADD("--proc");
    ADD("/proc");
    ADD("--dev");
    ADD("/dev");
    ADD("--tmpfs");
    ADD("/tmp");
    ADD("--chdir");
    ADD("/tmp");
    /* The program itself, unless /usr has it already. */
    if (strncmp(program, "/usr/", 5) != 0) {
        ADD("--ro-bind");
        ADD(program);
        ADD(program);
    }
    ADD("--clearenv");
    int have_path = 0;
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        const char *eq = strchr(env[i], '=');
        if (eq == NULL)
            continue;
        ADD("--setenv");
        ADD(keep(&st, env[i], (size_t)(eq - env[i])));
        ADD(eq + 1);
        have_path |= strncmp(env[i], "PATH=", 5) == 0;
    }
    if (!have_path) {
        ADD("--setenv");
        ADD("PATH");
        ADD(DEFAULT_PATH);
    }
    ADD("--setenv");
    ADD("HOME");
    ADD("/tmp");
    ADD("--setenv");
    ADD("TMPDIR");
    ADD("/tmp");
    ADD("--");
    ADD(program);
    argv[n] = NULL;
    return n;
}

void sandbox_child_exec(const struct sandbox_conf *sb, const char *program,
                        const char *kind, uint64_t evaluation_id,
                        uint64_t bid_id)
{
    static char store[16384];
    static char runvars[3][64];
    char *env[64];
    size_t ne = 0;
    for (char **e = environ; e && *e && ne < 60; e++)
        if (allowed_env(*e))
            env[ne++] = *e;
    snprintf(runvars[0], sizeof runvars[0], "OPTIMIST_EVAL_KIND=%s",
             kind ? kind : "full");
    snprintf(runvars[1], sizeof runvars[1], "OPTIMIST_EVALUATION_ID=%llu",
             (unsigned long long)evaluation_id);
    snprintf(runvars[2], sizeof runvars[2], "OPTIMIST_BID_ID=%llu",
             (unsigned long long)bid_id);
    for (int i = 0; i < 3; i++)
        env[ne++] = runvars[i];
    env[ne] = NULL;
    const char *argv[SANDBOX_ARGV_MAX];
    if (sandbox_argv(sb, program, env, argv, store, sizeof store) < 0) {
        fprintf(stderr, "optimist evaluator: sandbox: too many options\n");
        return;
    }
    if (sb->switch_user && become(sb) != 0) {
        fprintf(stderr, "optimist evaluator: sandbox: becoming uid %d: %s\n",
                (int)sb->uid, strerror(errno));
        return;
    }
    /* bwrap itself gets only PATH: the program's environment is the
     * --setenv list above (after --clearenv). */
    char *bwrap_env[] = {"PATH=" DEFAULT_PATH, NULL};
    execve(argv[0], (char *const *)argv, bwrap_env);
    fprintf(stderr, "optimist evaluator: cannot run %s: %s\n", argv[0],
            strerror(errno));
}

/* ---- at start -------------------------------------------------------------
 */

/* Whether a cgroup v2 subtree is delegated to us: the unified hierarchy,
 * our own cgroup writable, memory and pids controllers available. */
static int cgroup_delegated(char *where, size_t wlen)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f == NULL)
        return 0;
    char line[512], path[600] = "";
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(path, sizeof path, "/sys/fs/cgroup%s", line + 3);
        }
    fclose(f);
    char ctl[700];
    snprintf(ctl, sizeof ctl, "%s/cgroup.controllers", path);
    FILE *c = path[0] ? fopen(ctl, "r") : NULL;
    if (c == NULL)
        return 0;
    char have[256] = "";
    if (fgets(have, sizeof have, c) == NULL)
        have[0] = '\0';
    fclose(c);
    snprintf(where, wlen, "%s", path);
    return access(path, W_OK) == 0 && strstr(have, "memory") != NULL &&
           strstr(have, "pids") != NULL;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sandbox_check(const struct conf *c, char *mode, size_t modelen, char *why,
                  size_t whylen)
{
    struct sandbox_conf sb;
    sandbox_conf_from(c, &sb);
    if (sandbox_prepare(&sb, why, whylen) != 0)
        return -1;
    char cg[600] = "";
    int delegated = cgroup_delegated(cg, sizeof cg);
    snprintf(mode, modelen,
             "evaluators run in bubblewrap (%s) as %s%s; limits: rlimits "
             "(memory %ld MiB of address space, %ld CPU s, processes %s)%s%s%s",
             sb.bwrap,
             sb.switch_user ? (sb.user[0] ? sb.user : ROOT_DEFAULT_USER)
                            : "the pool's user",
             !sb.switch_user && sb.user[0]
                 ? " (OPTIMIST_EVALUATOR_USER ignored: the pool is not "
                   "root)"
                 : "",
             sb.memory_mb, sb.cpu_seconds,
             sb.switch_user ? "per user" : "not capped",
             delegated ? "; a cgroup v2 is delegated at "
                       : "; no cgroup v2 delegated",
             delegated ? cg : "",
             delegated ? " (not used yet: per-run cgroups are not "
                         "implemented)"
                       : "");
    /* The trial: the run's own command line, with /usr/bin/true. */
    int errp[2];
    if (pipe2(errp, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        close(errp[0]);
        close(errp[1]);
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
            dup2(errp[1], 2) < 0)
            _exit(126);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (sandbox_child_limits(&sb) == 0)
            sandbox_child_exec(&sb, "/usr/bin/true", "full", 0, 0);
        _exit(127);
    }
    close(errp[1]);
    char out[512];
    size_t got = 0;
    long long until = mono_ms() + CHECK_MS;
    for (;;) {
        long long left = until - mono_ms();
        struct pollfd pf = {.fd = errp[0], .events = POLLIN};
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            break;
        ssize_t r = read(errp[0], out + got, sizeof out - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == sizeof out - 1)
            break;
    }
    out[got] = '\0';
    out[strcspn(out, "\n")] = '\0';
    close(errp[0]);
    int st = 0, hung = 0;
    if (got == sizeof out - 1 || mono_ms() >= until) {
        hung = waitpid(pid, &st, WNOHANG) == 0;
        if (hung)
            (void)kill(pid, SIGKILL);
    }
    /* After EOF (or the kill) it has exited or is about to. */
    if (!hung || waitpid(pid, &st, WNOHANG) == 0)
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
    if (hung)
        st = -1;
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(why, whylen,
                 "the evaluator sandbox does not work here (%s %s): %s; "
                 "bubblewrap needs unprivileged user namespaces "
                 "(kernel.unprivileged_userns_clone=1, "
                 "user.max_user_namespaces > 0, and a service manager "
                 "that allows them)",
                 sb.bwrap,
                 st == -1        ? "hung"
                 : WIFEXITED(st) ? "failed"
                                 : "killed",
                 got ? out : "no message");
        return -1;
    }
    return 0;
}
