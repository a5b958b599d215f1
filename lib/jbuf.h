/*
 * jbuf.h -- a growing byte buffer for writing JSON text directly: response
 * bodies are written, not built as a tree and serialised. The caller owns
 * the buffer: jb_init() it, jb_free() it. Out of memory aborts (a worker
 * that cannot allocate is replaced by the master).
 */
#ifndef OPTIMIST_JBUF_H
#define OPTIMIST_JBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct jbuf {
    char *p;    /* NUL-terminated after every append; NULL until first use */
    size_t len; /* bytes written, without the NUL */
    size_t cap;
} jbuf;

void jb_init(jbuf *b);
void jb_free(jbuf *b);
void jb_reset(jbuf *b); /* len = 0, keeps the memory */

void jb_raw(jbuf *b, const char *s, size_t n); /* bytes as they are */
void jb_lit(jbuf *b, const char *s);           /* a C string as is */
void jb_str(jbuf *b, const char *s, size_t n); /* a quoted JSON string */
void jb_cstr(jbuf *b, const char *s);          /* quoted, or null */
void jb_u64(jbuf *b, uint64_t v);
/* v in decimal into out, NUL-terminated; returns its length. */
size_t jb_fmt_u64(char out[21], uint64_t v);
/* `{"id":id,"version":version`: how the answer of every versioned record
 * opens; the caller adds its other members and the closing brace. */
void jb_record_head(jbuf *b, uint64_t id, uint64_t version);
/* A database DATETIME(3) text "YYYY-MM-DD HH:MM:SS.mmm" as an RFC 3339
 * string "YYYY-MM-DDTHH:MM:SS.mmmZ"; NULL gives null. */
void jb_time(jbuf *b, const char *dbtime);

#endif
