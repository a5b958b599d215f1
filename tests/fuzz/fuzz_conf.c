/*
 * fuzz_conf.c -- the pool's configuration file (fcgi/core/conf.c): the input
 * is the file OPTIMIST_CONFIG names. Rules: a refusal comes with a
 * message; an accepted file leaves every option within its range and
 * every string terminated inside its field.
 */
#include "fuzz.h"

#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;
static char path[64];

static void remove_file(void)
{
    (void)unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Only the file speaks: no OPTIMIST_* from the environment. */
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++)
            if (strncmp(*e, "OPTIMIST_", 9) == 0) {
                char name[128];
                size_t n = strcspn(*e, "=");
                snprintf(name, sizeof name, "%.*s", (int)n, *e);
                unsetenv(name);
                again = 1;
                break;
            }
    }
    snprintf(path, sizeof path, "/tmp/optimist-fuzz-conf.XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    atexit(remove_file);
    setenv("OPTIMIST_CONFIG", path, 1);
    return 0;
}

#define TERMINATED(f) (memchr((f), 0, sizeof(f)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    conf c;
    char err[512] = "";
    if (conf_load(&c, err, sizeof err) != 0) {
        if (err[0] == '\0')
            fuzz_fail(data, size, "refused without a message");
        return 0;
    }
    if (c.workers < 1 || c.max_requests < 0 || c.db_port < 0 ||
        c.db_port > 65535 || c.db_retries < 0)
        fuzz_fail(data, size,
                  "out of range: workers %d max_requests %ld "
                  "port %d retries %d",
                  c.workers, c.max_requests, c.db_port, c.db_retries);
    if (!TERMINATED(c.listen) || !TERMINATED(c.pidfile) ||
        !TERMINATED(c.db_socket) || !TERMINATED(c.db_host) ||
        !TERMINATED(c.db_user) || !TERMINATED(c.db_password) ||
        !TERMINATED(c.db_name) || !TERMINATED(c.evaluator))
        fuzz_fail(data, size, "a string not terminated in its field");
    return 0;
}
