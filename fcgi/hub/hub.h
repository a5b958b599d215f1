/*
 * hub.h -- the pool's stream and evaluation process (see hub.c). The
 * master forks it next to the workers and forks another if it dies.
 */
#ifndef OPTIMIST_HUB_H
#define OPTIMIST_HUB_H

#include "conf.h"

/* Runs the hub until SIGTERM (or the master's death). Returns the exit
 * code. */
int hub_run(const conf *c);

#endif
