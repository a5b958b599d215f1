/*
 * chat.h -- the chat history of a report: appends that never lose a
 * message and never append one twice, and reads of a slice.
 *
 * The history is a sequence of segments (report_chat_segments rows of at
 * most CHAT_SEG_MAX messages). An append runs in one transaction: lock the
 * report row, insert each message id into report_chat_ids (the primary key says
 * which ids are new), check the limits, then append the new messages
 * inside the database to the tail segment, or open the next one. The
 * application never reads the history to write it back, and an append
 * costs the same at any length of history. One message is all of that in
 * one round trip: the stored procedure chat_append_one (sql/0013).
 *
 * No HTTP in here; the limits are the contract's, checked by chat_check()
 * before anything is sent to the database.
 */
#ifndef OPTIMIST_CHAT_H
#define OPTIMIST_CHAT_H

#include "jbuf.h"
#include "rec.h"

#include <stddef.h>
#include <stdint.h>

#define CHAT_MAX_BATCH    100     /* messages in one append call */
#define CHAT_MAX_CONTENT  65536   /* bytes of one message's content */
#define CHAT_MAX_HISTORY  1000000 /* messages in one report's chat */
#define CHAT_MAX_BYTES    (256u * 1024u * 1024u) /* bytes of content in it */
#define CHAT_ID_MAX       64                     /* bytes of a message id */
#define CHAT_READ_DEFAULT 100  /* messages a read returns by default */
#define CHAT_READ_MAX     1000 /* and at most */

/* The segments (sql/0008_chat_segments.sql cuts the same way): at most
 * CHAT_SEG_MAX messages, and the next one opens where the content would
 * pass CHAT_SEG_BYTES (a message bigger than that is alone in its own).
 * Chosen by measurement (BENCH.md, "Chat segments"): an append costs the
 * server about 1.4 us more per message already in the tail, and a segment
 * of small messages stays inside its InnoDB page (no off-page BLOB) up to
 * about 60 of them; reading the last 100 costs least from 10 to 50. */
#define CHAT_SEG_MAX   25
#define CHAT_SEG_BYTES 6144

/* One message to append. The strings are borrowed for the call. */
typedef struct chat_msg {
    const char *id; /* the client's id: 1..64 of [A-Za-z0-9_.:-] */
    size_t id_len;
    const char *role; /* "user", "assistant" or "system" */
    size_t role_len;
    const char *content; /* UTF-8, at most CHAT_MAX_CONTENT bytes */
    size_t content_len;
} chat_msg;

/* What is wrong with a message, for the client's 400. */
typedef enum chat_fault {
    CHAT_FAULT_NONE = 0, /* the message can be appended */
    CHAT_FAULT_ID,       /* id empty, too long, or a byte outside the set */
    CHAT_FAULT_ROLE,     /* not one of the three roles */
    CHAT_FAULT_TOO_LONG, /* content over CHAT_MAX_CONTENT bytes */
    CHAT_FAULT_ENCODING  /* content not valid UTF-8 */
} chat_fault;

/* 1 if s[0..n) is a message id: 1 to 64 bytes of A-Z a-z 0-9 _ . : - */
int chat_id_valid(const char *s, size_t n);

/* 1 if s[0..n) is "user", "assistant" or "system" (case matters). */
int chat_role_valid(const char *s, size_t n);

/* Checks one message against the contract's limits. */
chat_fault chat_check(const chat_msg *m);

/* A text for the client naming the fault ("\"id\" must be ..."). */
const char *chat_fault_text(chat_fault f);

/* Parses a query value that counts messages: decimal digits only (no
 * sign, no space, at least one digit). Values above `cap` are stored as
 * cap (a skip beyond any history is just "nothing left"). Returns 0, or
 * -1 when s is not such a number. */
int chat_parse_count(const char *s, uint64_t cap, uint64_t *out /* OUT */);

/* The outcome of an append. */
typedef struct chat_result {
    uint32_t appended;   /* messages added to the history */
    uint32_t duplicates; /* messages whose id was already there (or came
                            earlier in the same call) */
    uint32_t length;     /* the history's length after the call; on
                            REC_INVALID_STATE, the length that is there */
    uint64_t bytes;      /* the same for its bytes of content */
} chat_result;

/* Appends msgs[0..n) (each already passed chat_check) to the chat of
 * report `report_id` of `tenant_id`, all or nothing, in order, skipping
 * ids already in the chat. The server's clock stamps "at" (RFC 3339, ms,
 * UTC), the same for the whole call, read once the row is locked.
 * Returns REC_OK; REC_NOT_FOUND (no such report for the tenant);
 * REC_INVALID_STATE when the new messages would take the history past
 * CHAT_MAX_HISTORY messages or CHAT_MAX_BYTES of content (nothing
 * appended); REC_INVALID for n of 0 or over
 * CHAT_MAX_BATCH; or a database failure. Never changes the version. */
rec_status chat_append(rec_db *db, uint64_t report_id, uint64_t tenant_id,
                       const chat_msg *msgs, size_t n,
                       chat_result *out /* OUT */, rec_err *err) REC_MUST_CHECK;

/* Writes the JSON array of messages after+1 .. after+limit (at most
 * limit, in append order; [] past the end) of a report's chat to `out`
 * (appended to what it holds; the caller owns it) and the history's length
 * to *length, both from one statement that reads only the segments
 * holding those messages. limit is 1..CHAT_READ_MAX.
 * REC_NOT_FOUND when the report is not the tenant's. */
rec_status chat_read(rec_db *db, uint64_t report_id, uint64_t tenant_id,
                     uint64_t after, unsigned limit, jbuf *out,
                     uint32_t *length /* OUT */, rec_err *err) REC_MUST_CHECK;

#endif
