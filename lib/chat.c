/*
 * chat.c -- appends to a report's chat history and reads of a slice.
 *
 * Why it is built this way (the figures are in the README):
 *
 * - The append is one transaction that locks the report row first
 *   (SELECT ... FOR UPDATE). Every append to one report therefore takes
 *   its turn, and nothing below can deadlock: the id inserts and the
 *   UPDATE only touch rows that lock protects.
 * - Deduplication is the primary key of report_chat_ids: one indexed
 *   insert per message, whose affected-row count says "new" (1) or "seen"
 *   (0). Its cost does not depend on the history's length, and an id that
 *   appears twice in one call is "seen" the second time. A call refused
 *   for the limit rolls its inserts back with everything else.
 * - The history is never read by the application. One new message is
 *   appended with JSON_ARRAY_APPEND(chat, '$', JSON_OBJECT(...)): the
 *   database builds the object from bound strings, so it is stored as an
 *   object, not as a JSON string (what appending a bound string would
 *   give in MariaDB, where JSON is LONGTEXT). Several new messages go in
 *   one JSON_MERGE_PRESERVE(chat, ?) with a JSON array of them written
 *   here: JSON_ARRAY_APPEND with k values goes through the whole
 *   document once per value (at 10,000 messages, one value took 17 ms,
 *   eight 45 ms, and a merge of 100 messages 24 ms).
 * - Reads take the slice with JSON_EXTRACT(chat, '$[a to b]') in the
 *   server, and skip even that when nothing lies past `after` (a poll for
 *   new messages that finds none parses nothing).
 */
#include "chat.h"

#include "parse.h"
#include "utf8.h"

#include <stdio.h>
#include <string.h>

static const char SQL_LOCK[] =
    "SELECT chat_length FROM reports WHERE id = ? AND tenant_id = ? "
    "FOR UPDATE";
/* The call's `at`, read by a statement of its own once the row is locked:
 * the server fixes UTC_TIMESTAMP when a statement starts, and the locking
 * SELECT starts before its wait for the lock. Read after it, `at` never
 * goes backwards along the history. */
static const char SQL_NOW[] =
    "SELECT CONCAT(LEFT(DATE_FORMAT(UTC_TIMESTAMP(3), "
    "'%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z')";
/* Not INSERT IGNORE: that would also turn a truncation into a warning.
 * Without CLIENT_FOUND_ROWS an existing id counts 0 affected rows. */
static const char SQL_CLAIM_ID[] =
    "INSERT INTO report_chat_ids (report_id, msg_id) VALUES (?, ?) "
    "ON DUPLICATE KEY UPDATE msg_id = msg_id";
static const char SQL_APPEND_ONE[] =
    "UPDATE reports SET chat = JSON_ARRAY_APPEND(chat, '$', "
    "JSON_OBJECT('id', ?, 'role', ?, 'content', ?, 'at', ?)), "
    "chat_length = chat_length + 1 WHERE id = ?";
/* The parameter is a JSON array of objects: JSON_MERGE_PRESERVE of two
 * arrays is their concatenation, in order. */
static const char SQL_APPEND_MANY[] =
    "UPDATE reports SET chat = JSON_MERGE_PRESERVE(chat, ?), "
    "chat_length = chat_length + ? WHERE id = ?";
/* IF() does not evaluate JSON_EXTRACT when the slice starts past the end.
 * (It also keeps a wrapped-around index away from the path parser.) */
static const char SQL_READ[] =
    "SELECT chat_length, IF(chat_length > ?, JSON_EXTRACT(chat, ?), NULL) "
    "FROM reports WHERE id = ? AND tenant_id = ?";

int chat_id_valid(const char *s, size_t n)
{
    if (n == 0 || n > CHAT_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                 c == ':' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

int chat_role_valid(const char *s, size_t n)
{
    static const char *const roles[] = {"user", "assistant", "system"};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (n == strlen(roles[i]) && memcmp(s, roles[i], n) == 0)
            return 1;
    return 0;
}

chat_fault chat_check(const chat_msg *m)
{
    if (m->id == NULL || !chat_id_valid(m->id, m->id_len))
        return CHAT_FAULT_ID;
    if (m->role == NULL || !chat_role_valid(m->role, m->role_len))
        return CHAT_FAULT_ROLE;
    if (m->content == NULL)
        return CHAT_FAULT_ENCODING;
    if (m->content_len > CHAT_MAX_CONTENT)
        return CHAT_FAULT_TOO_LONG;
    /* The body was valid UTF-8, but a JSON escape can still decode to
     * something that is not; the database must never see it. */
    if (!utf8_valid(m->content, m->content_len))
        return CHAT_FAULT_ENCODING;
    return CHAT_FAULT_NONE;
}

const char *chat_fault_text(chat_fault f)
{
    switch (f) {
    case CHAT_FAULT_NONE:
        return "ok";
    case CHAT_FAULT_ID:
        return "\"id\" must be a string of 1 to 64 of A-Z a-z 0-9 _ . : -";
    case CHAT_FAULT_ROLE:
        return "\"role\" must be \"user\", \"assistant\" or \"system\"";
    case CHAT_FAULT_TOO_LONG:
        return "\"content\" is longer than 65536 bytes";
    case CHAT_FAULT_ENCODING:
        return "\"content\" must be a valid UTF-8 string";
    }
    return "bad message";
}

int chat_parse_count(const char *s, uint64_t cap, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = s != NULL ? parse_u64(s, cap, &v) : 0;
    if (n == 0 || s[n] != '\0')
        return -1;
    *out = v;
    return 0;
}

/* ---- append ------------------------------------------------------------ */

struct append_ctx {
    uint64_t report_id;
    uint64_t tenant_id;
    const chat_msg *msgs;
    size_t n;
    unsigned char fresh[CHAT_MAX_BATCH]; /* OUT: msgs[i] is new */
    char at[32];                         /* the call's timestamp */
    chat_result res;                     /* OUT */
    jbuf batch; /* the new messages as a JSON array (owned, freed by
                   chat_append) */
};

/* Writes the new messages of c as a JSON array into c->batch. */
static void write_batch(struct append_ctx *c)
{
    int first = 1;
    jb_reset(&c->batch);
    jb_lit(&c->batch, "[");
    for (size_t i = 0; i < c->n; i++) {
        const chat_msg *m = &c->msgs[i];
        if (!c->fresh[i])
            continue;
        jb_lit(&c->batch, first ? "{\"id\":" : ",{\"id\":");
        first = 0;
        jb_str(&c->batch, m->id, m->id_len);
        jb_lit(&c->batch, ",\"role\":");
        jb_str(&c->batch, m->role, m->role_len);
        jb_lit(&c->batch, ",\"content\":");
        jb_str(&c->batch, m->content, m->content_len);
        jb_lit(&c->batch, ",\"at\":");
        jb_cstr(&c->batch, c->at);
        jb_lit(&c->batch, "}");
    }
    jb_lit(&c->batch, "]");
}

static rec_status append_txn(rec_db *db, void *vctx, rec_err *err)
{
    struct append_ctx *c = vctx;
    rec_rows *rows = NULL;
    uint64_t affected = 0;
    rec_status st;

    /* rec_txn may run this again after a deadlock: start from nothing. */
    memset(&c->res, 0, sizeof c->res);
    memset(c->fresh, 0, sizeof c->fresh);

    rec_param key[2] = {REC_U(c->report_id), REC_U(c->tenant_id)};
    st = rec_exec(db, SQL_LOCK, key, 2, &rows, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    if (rec_rows_count(rows) == 0) {
        rec_rows_free(rows);
        return REC_NOT_FOUND;
    }
    uint64_t length = rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    rows = NULL;
    st = rec_exec(db, SQL_NOW, NULL, 0, &rows, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    const char *at = rec_rows_get(rows, 0, 0);
    snprintf(c->at, sizeof c->at, "%s", at ? at : "");
    rec_rows_free(rows);

    for (size_t i = 0; i < c->n; i++) {
        rec_param p[2] = {REC_U(c->report_id),
                          REC_S(c->msgs[i].id, c->msgs[i].id_len)};
        st = rec_exec(db, SQL_CLAIM_ID, p, 2, NULL, &affected, NULL, err);
        if (st != REC_OK)
            return st;
        c->fresh[i] = affected == 1;
        if (c->fresh[i])
            c->res.appended++;
        else
            c->res.duplicates++;
    }

    c->res.length = (uint32_t)length;
    if (c->res.appended == 0)
        return REC_OK; /* a pure retry: nothing to write */
    if (length + c->res.appended > CHAT_MAX_HISTORY)
        return REC_INVALID_STATE; /* rolls back the ids claimed above */

    if (c->res.appended == 1) {
        size_t i = 0;
        while (!c->fresh[i])
            i++;
        const chat_msg *m = &c->msgs[i];
        rec_param p[5] = {REC_S(m->id, m->id_len), REC_S(m->role, m->role_len),
                          REC_S(m->content, m->content_len),
                          REC_CSTR(c->at), REC_U(c->report_id)};
        st = rec_exec(db, SQL_APPEND_ONE, p, 5, NULL, &affected, NULL, err);
    } else {
        write_batch(c);
        rec_param p[3] = {REC_S(c->batch.p, c->batch.len),
                          REC_U(c->res.appended), REC_U(c->report_id)};
        st = rec_exec(db, SQL_APPEND_MANY, p, 3, NULL, &affected, NULL, err);
    }
    if (st != REC_OK)
        return st;
    if (affected != 1) {
        /* The row is locked by us: it cannot have gone. */
        snprintf(err->msg, sizeof err->msg,
                 "chat append changed %llu rows of report %llu",
                 (unsigned long long)affected,
                 (unsigned long long)c->report_id);
        return REC_ERROR;
    }
    c->res.length = (uint32_t)(length + c->res.appended);
    return REC_OK;
}

rec_status chat_append(rec_db *db, uint64_t report_id, uint64_t tenant_id,
                       const chat_msg *msgs, size_t n, chat_result *out,
                       rec_err *err)
{
    memset(out, 0, sizeof *out);
    if (n == 0 || n > CHAT_MAX_BATCH) {
        snprintf(err->msg, sizeof err->msg, "%zu messages in one append", n);
        return REC_INVALID;
    }
    struct append_ctx c = {.report_id = report_id, .tenant_id = tenant_id,
                           .msgs = msgs, .n = n};
    jb_init(&c.batch);
    rec_status st = rec_txn(db, append_txn, &c, err);
    jb_free(&c.batch);
    if (st == REC_OK || st == REC_INVALID_STATE)
        *out = c.res;
    return st;
}

/* ---- read -------------------------------------------------------------- */

rec_status chat_read(rec_db *db, uint64_t report_id, uint64_t tenant_id,
                     uint64_t after, unsigned limit, jbuf *out,
                     uint32_t *length, rec_err *err)
{
    char path[64];
    rec_rows *rows = NULL;

    *length = 0;
    if (limit == 0 || limit > CHAT_READ_MAX) {
        snprintf(err->msg, sizeof err->msg, "read limit %u", limit);
        return REC_INVALID;
    }
    /* Indexes past any history read nothing; keeping them below 2^31
     * keeps the path's numbers within what the server parses. */
    if (after > INT32_MAX)
        after = INT32_MAX;
    snprintf(path, sizeof path, "$[%llu to %llu]", (unsigned long long)after,
             (unsigned long long)(after + limit - 1));
    rec_param p[4] = {REC_U(after), REC_CSTR(path), REC_U(report_id),
                      REC_U(tenant_id)};
    rec_status st = rec_exec(db, SQL_READ, p, 4, &rows, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    if (rec_rows_count(rows) == 0) {
        rec_rows_free(rows);
        return REC_NOT_FOUND;
    }
    *length = (uint32_t)rec_rows_u64(rows, 0, 0);
    /* A range path always answers an array (even of one element), or
     * NULL when nothing matched. The server's JSON text is embedded as
     * it is, not parsed and printed again. */
    const char *slice = rec_rows_get(rows, 0, 1);
    if (slice == NULL)
        jb_lit(out, "[]");
    else
        jb_raw(out, slice, rec_rows_len(rows, 0, 1));
    rec_rows_free(rows);
    return REC_OK;
}
