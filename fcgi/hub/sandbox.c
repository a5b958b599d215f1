/*
 * sandbox.c -- the evaluator child's environment, limits, user, working
 * directory, and the end of its processes (see sandbox.h for what is
 * guaranteed and what is not).
 */
#include "sandbox.h"

#include "conf.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define SWEEP_ROUNDS 1000 /* a fork bomb outrunning the kills: give up */
#define MAX_CHILDREN 256  /* read per round */

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
    snprintf(out->workdir_base, sizeof out->workdir_base, "%s",
             c->evaluator_workdir);
}

/* ---- the evaluator's user -------------------------------------------------
 */

/* Every capability gone: the pool may hold CAP_SETUID and CAP_SETGID
 * (to start evaluators under their own user without being root: see
 * scripts/run.sh), and a change between two non-root users keeps them. */
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

/* In a child: become the evaluator's user for good. */
static int become(const struct sandbox_conf *sb)
{
    uid_t was = geteuid();
    if (setgroups(1, &sb->gid) != 0 || setgid(sb->gid) != 0 ||
        setuid(sb->uid) != 0 || drop_caps() != 0)
        return -1;
    /* No way back: a way back would undo all of it. */
    if (sb->uid != was && (setuid(was) == 0 || seteuid(was) == 0)) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

/* Runs fn(arg) in a child that is the evaluator's user (the pool's own
 * user may not be able to make or remove what that user owns). */
static int as_user(const struct sandbox_conf *sb, int (*fn)(const char *),
                   const char *arg)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(become(sb) == 0 && fn(arg) == 0 ? 0 : 1);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int make_dir(const char *path)
{
    return mkdir(path, 0700);
}

/* ---- before fork ------------------------------------------------------------
 */

int sandbox_prepare(struct sandbox_conf *sb, char *why, size_t whylen)
{
    sb->workdir[0] = '\0';
    sb->switch_user = 0;
    if (sb->user[0] != '\0') {
        errno = 0;
        struct passwd *pw = getpwnam(sb->user);
        if (pw == NULL) {
            snprintf(why, whylen, "OPTIMIST_EVALUATOR_USER %s: %s", sb->user,
                     errno ? strerror(errno) : "no such user");
            return -1;
        }
        sb->switch_user = 1;
        sb->uid = pw->pw_uid;
        sb->gid = pw->pw_gid;
    }
    /* Orphans of the run become our children, not init's: that is how
     * sandbox_kill_group finds a process that left the group. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        snprintf(why, whylen, "prctl(PR_SET_CHILD_SUBREAPER): %s",
                 strerror(errno));
        return -1;
    }
    const char *base = sb->workdir_base;
    if (base[0] == '\0') {
        base = getenv("TMPDIR");
        if (base == NULL || base[0] != '/')
            base = "/tmp";
    }
    int n = snprintf(sb->workdir, sizeof sb->workdir, "%s/optimist-eval.XXXXXX",
                     base);
    if (n < 0 || (size_t)n >= sizeof sb->workdir) {
        snprintf(why, whylen, "evaluator working directory: path too long");
        sb->workdir[0] = '\0';
        return -1;
    }
    if (!sb->switch_user || geteuid() == 0) {
        if (mkdtemp(sb->workdir) == NULL) { /* mode 0700 */
            snprintf(why, whylen, "mkdtemp %s: %s", sb->workdir,
                     strerror(errno));
            sb->workdir[0] = '\0';
            return -1;
        }
        if (sb->switch_user && chown(sb->workdir, sb->uid, sb->gid) != 0) {
            snprintf(why, whylen, "chown %s: %s", sb->workdir, strerror(errno));
            (void)rmdir(sb->workdir);
            sb->workdir[0] = '\0';
            return -1;
        }
        return 0;
    }
    /* Not root (only CAP_SETUID/CAP_SETGID): made by the evaluator's user
     * itself, in a folder it may write to (/tmp), so that it owns it; the
     * name is ours (mkdir fails on an existing one, as mkdtemp would). */
    static const char hex[] = "0123456789abcdef";
    for (int attempt = 0;; attempt++) {
        unsigned char rnd[6];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
            snprintf(why, whylen, "getrandom: %s", strerror(errno));
            sb->workdir[0] = '\0';
            return -1;
        }
        char *x = sb->workdir + n - 6;
        for (int i = 0; i < 6; i++)
            x[i] = hex[rnd[i] & 15];
        if (as_user(sb, make_dir, sb->workdir) == 0)
            break;
        if (attempt == 9) {
            snprintf(why, whylen, "cannot make %s as %s", sb->workdir,
                     sb->user);
            sb->workdir[0] = '\0';
            return -1;
        }
    }
    return 0;
}

/* ---- in the child
 * ------------------------------------------------------------ */

static int allowed_env(const char *e)
{
    return strncmp(e, "PATH=", 5) == 0 || strncmp(e, "LANG=", 5) == 0 ||
           strncmp(e, "LC_", 3) == 0 || strncmp(e, "TZ=", 3) == 0;
}

/* Keeps the allow-listed variables, drops all the others. */
static int set_env(const struct sandbox_conf *sb)
{
    size_t n = 0, cap = 0;
    for (char **e = environ; e && *e; e++)
        cap++;
    char **keep = calloc(cap + 1, sizeof *keep);
    if (keep == NULL)
        return -1;
    int have_path = 0;
    for (char **e = environ; e && *e; e++) {
        if (!allowed_env(*e) || strchr(*e, '=') == NULL)
            continue;
        if ((keep[n] = strdup(*e)) == NULL)
            return -1;
        have_path |= strncmp(*e, "PATH=", 5) == 0;
        n++;
    }
    if (clearenv() != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (putenv(keep[i]) != 0)
            return -1;
    free(keep); /* the strings now belong to the environment */
    if (!have_path && setenv("PATH", DEFAULT_PATH, 1) != 0)
        return -1;
    if (sb->workdir[0] != '\0' && (setenv("HOME", sb->workdir, 1) != 0 ||
                                   setenv("TMPDIR", sb->workdir, 1) != 0))
        return -1;
    return 0;
}

static int limit(int resource, long value, long unit)
{
    if (value <= 0)
        return 0;
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)value * (rlim_t)unit;
    return setrlimit(resource, &rl);
}

int sandbox_child_setup(const struct sandbox_conf *sb)
{
    const char *step = "environment";
    if (set_env(sb) != 0)
        goto fail;
    step = "setrlimit";
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
    if (sb->switch_user) {
        if (limit(RLIMIT_NPROC, sb->processes, 1) != 0)
            goto fail;
        step = "setgroups/setgid/setuid/capset";
        if (become(sb) != 0)
            goto fail;
        /* A change of credentials clears the parent-death signal. */
        step = "prctl";
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
            goto fail;
    }
    /* Last: the folder is the evaluator's user's own, 0700. */
    step = "chdir";
    if (sb->workdir[0] != '\0' && chdir(sb->workdir) != 0)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "optimist evaluator: sandbox: %s: %s\n", step,
            strerror(errno));
    return -1;
}

/* ---- after the run ---------------------------------------------------------
 */

/* Our children, from /proc/self/task/<tid>/children (one thread: the
 * spawner's tasks are its one thread); or, without that file, by a scan
 * of /proc for parent == us. */
static size_t list_children(pid_t *out, size_t max)
{
    char path[64];
    size_t n = 0;
    pid_t self = getpid();
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)self,
             (int)self);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        long v;
        while (n < max && fscanf(f, "%ld", &v) == 1)
            out[n++] = (pid_t)v;
        fclose(f);
        return n;
    }
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    struct dirent *de;
    while (n < max && (de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        char sp[64], buf[512];
        snprintf(sp, sizeof sp, "/proc/%ld/stat", pid);
        FILE *s = fopen(sp, "r");
        if (s == NULL)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, s);
        fclose(s);
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');
        char state;
        long ppid;
        if (rp != NULL && sscanf(rp + 1, " %c %ld", &state, &ppid) == 2 &&
            ppid == (long)self)
            out[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

/* Ours to keep: the run's own leader (reaped by the caller), another
 * run's leader, or a member of another run's group (orphaned by a leader
 * that exited: that run's own kill_group comes next). */
static int kept(pid_t p, pid_t pid, const pid_t *keep, size_t nkeep)
{
    if (p == pid)
        return 1;
    pid_t pg = getpgid(p);
    for (size_t i = 0; i < nkeep; i++)
        if (keep[i] == p || (pg > 0 && keep[i] == pg))
            return 1;
    return 0;
}

int sandbox_kill_group(pid_t pid, const pid_t *keep, size_t nkeep)
{
    int escaped = 0;
    if (pid > 0)
        (void)kill(-pid, SIGKILL); /* ESRCH: the group is empty */
    for (int round = 0; round < SWEEP_ROUNDS; round++) {
        pid_t kids[MAX_CHILDREN];
        size_t n = list_children(kids, MAX_CHILDREN), killed = 0;
        for (size_t i = 0; i < n; i++) {
            if (kept(kids[i], pid, keep, nkeep))
                continue;
            /* It left the run's group: its own group too (what it started
             * after its setsid), then it. */
            (void)kill(-kids[i], SIGKILL);
            (void)kill(kids[i], SIGKILL);
            while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
                ;
            killed++;
        }
        escaped += (int)killed;
        if (killed == 0)
            break;
    }
    return escaped;
}

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DNR) /* a folder the evaluator made unreadable */
        (void)chmod(path, 0700);
    (void)remove(path);
    return 0;
}

static int remove_tree(const char *path)
{
    (void)nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
}

void sandbox_cleanup(struct sandbox_conf *sb)
{
    if (sb->workdir[0] == '\0')
        return;
    int rc = sb->switch_user && geteuid() != 0
                 ? as_user(sb, remove_tree, sb->workdir)
                 : remove_tree(sb->workdir);
    if (rc != 0)
        fprintf(stderr, "optimist: cannot remove %s\n", sb->workdir);
    sb->workdir[0] = '\0';
}
