/*
 * worker.h -- one worker process: accepts FastCGI requests on the listening
 * socket it inherited and serves them one at a time.
 */
#ifndef OPTIMIST_WORKER_H
#define OPTIMIST_WORKER_H

#include "conf.h"

/* Runs in the child after fork(). `listen_fd` is the master's listening
 * socket (non-blocking); `ready_fd` (or -1) gets one byte once the worker
 * is ready to accept, then is closed. The worker installs its own signal
 * handlers: SIGTERM or SIGINT finish the request in flight, then return;
 * SIGQUIT exits at once. Returns the process exit code: 0 after a graceful
 * stop or after c->max_requests requests, non-zero on a fatal error. */
int worker_run(const conf *c, int listen_fd, int ready_fd);

#endif
