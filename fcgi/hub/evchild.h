/*
 * evchild.h -- starting an evaluator's child process (evchild.c): the
 * pipes, the fork and the child's set-up before exec. evaluator.c is the
 * only caller; it reads, limits and reaps what this starts.
 */
#ifndef OPTIMIST_EVCHILD_H
#define OPTIMIST_EVCHILD_H

#include "evaluator.h"

#include <stddef.h>
#include <sys/types.h>

/* Forks the child for spec with its stdin, stdout and (errfd not NULL)
 * stderr on pipes; *infd, *outfd and *errfd get the parent's ends.
 * Returns the child's pid, or -1 with `why` set. */
pid_t evchild_spawn(const ev_spec *spec, int *infd, int *outfd, int *errfd,
                    char *why, size_t whylen);

/* Sleeps ms milliseconds, through signals. */
void evchild_sleep_ms(long long ms);

#endif
