/*
 * replay.c -- runs a fuzz target over files, without libFuzzer: every
 * file under each argument (a file or a folder, walked recursively), or
 * under $FUZZ_CORPUS when there is no argument. `make test` replays the
 * committed corpora this way (tests/run.sh, suite fuzz), so that each
 * seed and each fixed crash stays a test. Exit 0 if every input ran.
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static unsigned long inputs;

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (nb == NULL)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (buf == NULL)
        abort();
    /* An exact-size copy, so that ASan sees a read past the end. */
    uint8_t *exact = malloc(n ? n : 1);
    if (exact == NULL)
        abort();
    memcpy(exact, buf, n);
    free(buf);
    (void)LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    inputs++;
    return 0;
}

static int walk(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path);
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        perror(path);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        if (nm[0] != '.') {
            size_t len = strlen(path) + strlen(nm) + 2;
            char *sub = malloc(len);
            if (sub == NULL)
                abort();
            snprintf(sub, len, "%s/%s", path, nm);
            if (walk(sub) != 0)
                rc = -1;
            free(sub);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0;
    (void)LLVMFuzzerInitialize(&argc, &argv);
    if (argc < 2) {
        const char *dir = getenv("FUZZ_CORPUS");
        if (dir == NULL) {
            fprintf(stderr, "usage: %s FILE-OR-FOLDER... (or FUZZ_CORPUS)\n",
                    argv[0]);
            return 2;
        }
        rc = walk(dir);
    }
    for (int i = 1; i < argc; i++)
        if (walk(argv[i]) != 0)
            rc = -1;
    printf("%s: replayed %lu inputs\n", argv[0], inputs);
    return rc == 0 && inputs > 0 ? 0 : 1;
}
