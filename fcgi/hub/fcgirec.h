/*
 * fcgirec.h -- FastCGI records written by hand, for the hub (hub.c), which
 * answers requests whose connections a worker handed over: libfcgi cannot
 * serve there (its FCGX_Stream writes block, and it owns one request per
 * FCGX_Request taken by FCGX_Accept_r, which the hub never calls). The
 * framing is small and fixed (FastCGI 1.0, section 3.3): an 8-byte header
 * (version 1, type, request id, content length, padding length), the
 * content, padding to a multiple of 8.
 */
#ifndef OPTIMIST_FCGIREC_H
#define OPTIMIST_FCGIREC_H

#include "jbuf.h"

#include <stddef.h>
#include <stdint.h>

#define FCGIREC_STDOUT      6
#define FCGIREC_END_REQUEST 3
#define FCGIREC_MAX_CONTENT 65535

/* Appends n bytes as FCGI_STDOUT records (split at 65535) to out. n = 0
 * appends nothing: an empty STDOUT record would end the stream. */
void fcgirec_stdout(jbuf *out, uint16_t request_id, const char *p, size_t n);

/* Appends the end of a response: the empty STDOUT record that closes the
 * stream, then FCGI_END_REQUEST (app status 0, REQUEST_COMPLETE). */
void fcgirec_end(jbuf *out, uint16_t request_id);

#endif
