/*
 * chat.c -- appends to a report's chat history and reads of a slice.
 *
 * Why it is built this way (the figures are in docs/design.md and BENCH.md):
 *
 * - The history is a sequence of segments, rows of report_chat_segments
 *   (sql/0008_chat_segments.sql) of at most CHAT_SEG_MAX messages and about
 *   CHAT_SEG_BYTES of content each, keyed by the index of their first
 *   message. An append rewrites the tail segment only, so it costs the same
 *   at any length of history; one JSON array for the whole history made an
 *   append to 9,000 messages ~9,000 times dearer than one to none.
 * - The append is one transaction that locks the report row first
 *   (SELECT ... FOR UPDATE, which also reads the tail's fill). Every append
 *   to one report therefore takes its turn, and nothing below can
 *   deadlock: the id inserts and the writes only touch rows that lock
 *   protects. Opening the next segment is atomic for the same reason: the
 *   INSERT of the new tail and the move of reports.chat_tail happen in the
 *   transaction that holds the lock, or not at all.
 * - Deduplication is the primary key of report_chat_ids: one indexed
 *   insert per message, whose affected-row count says "new" (1) or "seen"
 *   (0). Its cost does not depend on the history's length, and an id that
 *   appears twice in one call is "seen" the second time. A call refused
 *   for a limit rolls its inserts back with everything else.
 * - The history is never read by the application. One new message is
 *   appended with JSON_ARRAY_APPEND(msgs, '$', JSON_OBJECT(...)): the
 *   database builds the object from bound strings, so it is stored as an
 *   object, not as a JSON string (what appending a bound string would
 *   give in MariaDB, where JSON is LONGTEXT). Several new messages go in
 *   one JSON_MERGE_PRESERVE(msgs, ?) with a JSON array of them written
 *   here (JSON_ARRAY_APPEND with k values goes through the document k
 *   times). The report's counters move in a second UPDATE (one
 *   multi-table UPDATE was 8 times dearer: see SQL_TAIL_ONE).
 * - One message, nearly every call, is one round trip: a CALL of the
 *   stored procedure chat_append_one (sql/0013_chat_append_proc.sql),
 *   which runs the statements below (SQL_LOCK, SQL_CLAIM_ID, the limits,
 *   SQL_TAIL_ONE or SQL_OPEN_ONE, SQL_MOVE_TAIL) in the server, in a
 *   transaction of its own. Sent from here they were 6 round trips with
 *   BEGIN and COMMIT, each ~25-30 us of system calls and task switches in
 *   the pool and a statement's dispatch in MariaDB: the pool's CPU an
 *   append halved (docs/design.md, "One round trip for one message"). Its
 *   errors (deadlock, lock wait, certification) roll it back in the server
 *   and come here as before, so rec_autocommit retries as rec_txn would.
 *   Under a held transaction (Idempotency-Key) it joins that one instead.
 *   A batch keeps the statements sent from here, in rec_txn: it pays the
 *   round trips once for up to CHAT_MAX_BATCH messages, and its JSON array
 *   and cuts into segments are simpler in C.
 * - A batch goes to the tail when all of it fits there; otherwise it
 *   opens new segments, cut at CHAT_SEG_MAX messages or CHAT_SEG_BYTES of
 *   content (a message bigger than that alone in its own): a segment never
 *   holds more than CHAT_SEG_MAX messages.
 * - Reads take each needed segment's slice with JSON_EXTRACT(msgs,
 *   '$[a to b]') in the server, from one statement that reaches only the
 *   segments overlapping [after, after + limit): the one holding `after`
 *   (the greatest first <= after, one index dive) and those after it,
 *   put in order here (see SQL_READ).
 */
#include "chat.h"

#include "parse.h"
#include "utf8.h"

#include <stdio.h>
#include <string.h>

/* The report's counters and its tail segment's fill (NULL when the history
 * is empty), under the report row's lock. */
static const char SQL_LOCK[] =
    "SELECT r.chat_length, r.chat_bytes, r.chat_tail, s.n, s.bytes "
    "FROM reports r LEFT JOIN report_chat_segments s "
    "ON s.report_id = r.id AND s.first = r.chat_tail "
    "WHERE r.id = ? AND r.tenant_id = ? FOR UPDATE";
/* The call's `at` comes from a statement that starts once the row is
 * locked: the server fixes UTC_TIMESTAMP when a statement starts, and the
 * locking SELECT starts before its wait for the lock. Read after it, `at`
 * never goes backwards along the history. One new message takes it in the
 * statement that writes it (AT_SQL); several read it once (SQL_NOW), to
 * give them all the same. */
#define AT_SQL                                                                 \
    "CONCAT(LEFT(DATE_FORMAT(UTC_TIMESTAMP(3), '%Y-%m-%dT%H:%i:%s.%f'), "      \
    "23), 'Z')"
static const char SQL_NOW[] = "SELECT " AT_SQL;
/* Not INSERT IGNORE: that would also turn a truncation into a warning.
 * Without CLIENT_FOUND_ROWS an existing id counts 0 affected rows. */
static const char SQL_CLAIM_ID[] =
    "INSERT INTO report_chat_ids (report_id, msg_id) VALUES (?, ?) "
    "ON DUPLICATE KEY UPDATE msg_id = msg_id";
/* To the tail segment. (Not one multi-table UPDATE of the segment and the
 * report: MariaDB buffers the rows of the second table in a temporary
 * table, on disk for a BLOB, and that statement cost 1.7 ms of server
 * time against 0.2 ms for the two single-table ones.) */
static const char SQL_TAIL_ONE[] =
    "UPDATE report_chat_segments SET msgs = JSON_ARRAY_APPEND(msgs, '$', "
    "JSON_OBJECT('id', ?, 'role', ?, 'content', ?, 'at', " AT_SQL ")), "
    "n = n + 1, bytes = bytes + ? WHERE report_id = ? AND first = ?";
/* The parameter is a JSON array of objects: JSON_MERGE_PRESERVE of two
 * arrays is their concatenation, in order. */
static const char SQL_TAIL_MANY[] =
    "UPDATE report_chat_segments SET msgs = JSON_MERGE_PRESERVE(msgs, ?), "
    "n = n + ?, bytes = bytes + ? WHERE report_id = ? AND first = ?";
/* A new tail, starting at the history's present length. */
static const char SQL_OPEN_ONE[] =
    "INSERT INTO report_chat_segments (report_id, first, n, bytes, msgs) "
    "VALUES (?, ?, 1, ?, JSON_ARRAY(JSON_OBJECT('id', ?, 'role', ?, "
    "'content', ?, 'at', " AT_SQL ")))";
static const char SQL_OPEN_MANY[] =
    "INSERT INTO report_chat_segments (report_id, first, n, bytes, msgs) "
    "VALUES (?, ?, ?, ?, JSON_MERGE_PRESERVE('[]', ?))";
/* The report's counters, and where its tail now starts. */
static const char SQL_MOVE_TAIL[] =
    "UPDATE reports SET chat_length = chat_length + ?, "
    "chat_bytes = chat_bytes + ?, chat_tail = ? WHERE id = ?";
/* One message, the common case, in one round trip: the procedure of
 * sql/0013_chat_append_proc.sql runs the statements above (lock, claim,
 * limits, tail or next segment, counters) in the server, in a transaction
 * of its own when none is open here (the 7th parameter), and answers one
 * row: state (0 done, 1 no such report, 2 over a limit), appended (1, or
 * 0 for a duplicate id), the history's length and bytes. The limits are
 * passed from chat.h, where alone they are defined. */
static const char SQL_APPEND_ONE[] =
    "CALL chat_append_one(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
enum { ONE_DONE = 0, ONE_NOT_FOUND = 1, ONE_FULL = 2 };
/* The slice [after, end) of each segment that overlaps it: the segment
 * holding `after` is the one with the greatest first <= after (the
 * subquery, one index dive), then every segment starting before end. The
 * LEFT JOIN answers the report's length even when no segment overlaps (an
 * empty history, or `after` at or past its end), and no row at all when
 * the report is not the tenant's. A segment wholly inside the slice is
 * sent as it is stored (a JSON array: parsing it to extract all of it
 * would give the same); only the first and last are cut. GREATEST/LEAST
 * keep the unsigned arithmetic from going below 0. No ORDER BY: with the slices
 * (BLOBs) in the rows, the server sorts through an on-disk temporary table,
 * which made a read of 100 messages 2.4 times slower; chat_read puts the few
 * rows in order by `first` itself. */
static const char SQL_READ[] =
    "SELECT r.chat_length, s.first, IF(s.first >= ? AND s.first + s.n <= ?, "
    "s.msgs, JSON_EXTRACT(s.msgs, CONCAT('$[', "
    "GREATEST(?, s.first) - s.first, ' to ', "
    "LEAST(?, s.first + s.n) - s.first - 1, ']'))) "
    "FROM reports r LEFT JOIN report_chat_segments s "
    "ON s.report_id = r.id AND s.first < ? AND s.first + s.n > ? "
    "AND s.first >= (SELECT COALESCE(MAX(x.first), 0) "
    "FROM report_chat_segments x WHERE x.report_id = ? AND x.first <= ?) "
    "WHERE r.id = ? AND r.tenant_id = ?";

int chat_id_valid(const char *s, size_t n)
{
    if (n == 0 || n > CHAT_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
                 c == '-';
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
    size_t pos[CHAT_MAX_BATCH]; /* the new messages' indexes in msgs */
    size_t nfresh;              /* how many */
    char at[32];     /* the call's timestamp, when it appends several */
    chat_result res; /* OUT */
    jbuf batch;      /* new messages as a JSON array (owned, freed by
                        chat_append) */
};

/* Writes the new messages pos[from..to) of c as a JSON array into
 * c->batch. */
static void write_batch(struct append_ctx *c, size_t from, size_t to)
{
    jb_reset(&c->batch);
    jb_lit(&c->batch, "[");
    for (size_t k = from; k < to; k++) {
        const chat_msg *m = &c->msgs[c->pos[k]];
        jb_lit(&c->batch, k > from ? ",{\"id\":" : "{\"id\":");
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

/* What the lock read: the history and its tail segment. */
struct chat_head {
    uint64_t length, bytes, tail;
    int has_tail; /* 0: the history is empty */
    uint64_t tail_n, tail_bytes;
};

static rec_status check_affected(uint64_t affected, uint64_t want,
                                 uint64_t report_id, rec_err *err)
{
    if (affected == want)
        return REC_OK;
    /* The rows are locked by us: they cannot have gone. */
    snprintf(err->msg, sizeof err->msg,
             "chat append changed %llu rows of report %llu, not %llu",
             (unsigned long long)affected, (unsigned long long)report_id,
             (unsigned long long)want);
    return REC_ERROR;
}

/* Appends all the new messages (b bytes of content) to the tail segment,
 * which starts at `tail`. */
static rec_status append_to_tail(rec_db *db, struct append_ctx *c,
                                 uint64_t tail, uint64_t b, rec_err *err)
{
    uint64_t affected = 0, a = c->nfresh;
    rec_status st;
    if (a == 1) {
        const chat_msg *m = &c->msgs[c->pos[0]];
        rec_param p[6] = {REC_S(m->id, m->id_len),
                          REC_S(m->role, m->role_len),
                          REC_S(m->content, m->content_len),
                          REC_U(b),
                          REC_U(c->report_id),
                          REC_U(tail)};
        st = rec_exec(db, SQL_TAIL_ONE, p, 6, NULL, &affected, NULL, err);
    } else {
        write_batch(c, 0, a);
        rec_param p[5] = {REC_S(c->batch.p, c->batch.len), REC_U(a), REC_U(b),
                          REC_U(c->report_id), REC_U(tail)};
        st = rec_exec(db, SQL_TAIL_MANY, p, 5, NULL, &affected, NULL, err);
    }
    if (st != REC_OK)
        return st;
    return check_affected(affected, 1, c->report_id, err);
}

/* Opens one segment at index `first` holding pos[from..to) (b bytes). */
static rec_status open_segment(rec_db *db, struct append_ctx *c, uint64_t first,
                               size_t from, size_t to, uint64_t b, rec_err *err)
{
    if (c->nfresh == 1) {
        const chat_msg *m = &c->msgs[c->pos[from]];
        rec_param p[6] = {REC_U(c->report_id),
                          REC_U(first),
                          REC_U(b),
                          REC_S(m->id, m->id_len),
                          REC_S(m->role, m->role_len),
                          REC_S(m->content, m->content_len)};
        return rec_exec(db, SQL_OPEN_ONE, p, 6, NULL, NULL, NULL, err);
    }
    write_batch(c, from, to);
    rec_param p[5] = {REC_U(c->report_id), REC_U(first), REC_U(to - from),
                      REC_U(b), REC_S(c->batch.p, c->batch.len)};
    return rec_exec(db, SQL_OPEN_MANY, p, 5, NULL, NULL, NULL, err);
}

/* Writes the new messages (b bytes of content) to the tail when they all
 * fit there, or else to new segments from index h->length on, cut where
 * one would pass CHAT_SEG_MAX messages or CHAT_SEG_BYTES of content (a
 * message bigger than that alone in its own). */
static rec_status write_messages(rec_db *db, struct append_ctx *c,
                                 const struct chat_head *h, uint64_t b,
                                 rec_err *err)
{
    uint64_t a = c->nfresh, affected = 0;
    uint64_t first = h->length, last_first = h->tail;
    size_t from = 0;
    rec_status st;
    if (h->has_tail && h->tail_n + a <= CHAT_SEG_MAX &&
        h->tail_bytes + b <= CHAT_SEG_BYTES) {
        st = append_to_tail(db, c, h->tail, b, err);
        if (st != REC_OK)
            return st;
        from = a; /* all written */
    }
    while (from < a) {
        size_t to = from;
        uint64_t bytes = 0;
        while (to < a && to - from < CHAT_SEG_MAX) {
            uint64_t len = c->msgs[c->pos[to]].content_len;
            if (to > from && bytes + len > CHAT_SEG_BYTES)
                break;
            bytes += len;
            to++;
        }
        st = open_segment(db, c, first, from, to, bytes, err);
        if (st != REC_OK)
            return st;
        last_first = first;
        first += to - from;
        from = to;
    }
    rec_param p[4] = {REC_U(a), REC_U(b), REC_U(last_first),
                      REC_U(c->report_id)};
    st = rec_exec(db, SQL_MOVE_TAIL, p, 4, NULL, &affected, NULL, err);
    if (st != REC_OK)
        return st;
    return check_affected(affected, 1, c->report_id, err);
}

static rec_status append_txn(rec_db *db, void *vctx, rec_err *err)
{
    struct append_ctx *c = vctx;
    rec_rows *rows = NULL;
    uint64_t affected = 0, bytes = 0;
    struct chat_head h = {0};
    rec_status st;

    /* rec_txn may run this again after a deadlock: start from nothing. */
    memset(&c->res, 0, sizeof c->res);
    c->nfresh = 0;

    rec_param key[2] = {REC_U(c->report_id), REC_U(c->tenant_id)};
    st = rec_exec_row(db, SQL_LOCK, key, 2, &rows, err);
    if (st != REC_OK)
        return st;
    h.length = rec_rows_u64(rows, 0, 0);
    h.bytes = rec_rows_u64(rows, 0, 1);
    h.tail = rec_rows_u64(rows, 0, 2);
    h.has_tail = rec_rows_get(rows, 0, 3) != NULL;
    h.tail_n = rec_rows_u64(rows, 0, 3);
    h.tail_bytes = rec_rows_u64(rows, 0, 4);
    rec_rows_free(rows);
    rows = NULL;

    for (size_t i = 0; i < c->n; i++) {
        rec_param p[2] = {REC_U(c->report_id),
                          REC_S(c->msgs[i].id, c->msgs[i].id_len)};
        st = rec_exec(db, SQL_CLAIM_ID, p, 2, NULL, &affected, NULL, err);
        if (st != REC_OK)
            return st;
        if (affected == 1) {
            c->pos[c->nfresh++] = i;
            c->res.appended++;
            bytes += c->msgs[i].content_len;
        } else {
            c->res.duplicates++;
        }
    }

    c->res.length = (uint32_t)h.length;
    c->res.bytes = h.bytes;
    if (c->res.appended == 0)
        return REC_OK; /* a pure retry: nothing to write */
    if (h.length + c->res.appended > CHAT_MAX_HISTORY ||
        h.bytes + bytes > CHAT_MAX_BYTES)
        return REC_INVALID_STATE; /* rolls back the ids claimed above */

    if (c->nfresh > 1) {
        st = rec_exec(db, SQL_NOW, NULL, 0, &rows, NULL, NULL, err);
        if (st != REC_OK)
            return st;
        const char *at = rec_rows_get(rows, 0, 0);
        snprintf(c->at, sizeof c->at, "%s", at ? at : "");
        rec_rows_free(rows);
    }
    st = write_messages(db, c, &h, bytes, err);
    if (st != REC_OK)
        return st;
    c->res.length = (uint32_t)(h.length + c->res.appended);
    c->res.bytes = h.bytes + bytes;
    return REC_OK;
}

/* msgs[0] alone, by one CALL. Under rec_autocommit this is the whole
 * transaction; in a transaction held for the request (rec_txn), the
 * procedure joins it, and a refusal returned here rolls it back. */
static rec_status append_one(rec_db *db, void *vctx, rec_err *err)
{
    struct append_ctx *c = vctx;
    const chat_msg *m = &c->msgs[0];
    rec_rows *rows = NULL;

    memset(&c->res, 0, sizeof c->res);
    rec_param p[11] = {REC_U(c->report_id),
                       REC_U(c->tenant_id),
                       REC_S(m->id, m->id_len),
                       REC_S(m->role, m->role_len),
                       REC_S(m->content, m->content_len),
                       REC_U(m->content_len),
                       REC_U(rec_in_txn(db) ? 0 : 1),
                       REC_U(CHAT_SEG_MAX),
                       REC_U(CHAT_SEG_BYTES),
                       REC_U(CHAT_MAX_HISTORY),
                       REC_U(CHAT_MAX_BYTES)};
    rec_status st = rec_exec_row(db, SQL_APPEND_ONE, p, 11, &rows, err);
    if (st == REC_NOT_FOUND) {
        /* The procedure always answers a row. */
        snprintf(err->msg, sizeof err->msg, "chat_append_one answered no row");
        return REC_ERROR;
    }
    if (st != REC_OK)
        return st;
    uint64_t state = rec_rows_u64(rows, 0, 0);
    uint64_t appended = rec_rows_u64(rows, 0, 1);
    c->res.appended = appended == 1;
    c->res.duplicates = appended == 1 ? 0 : 1;
    c->res.length = (uint32_t)rec_rows_u64(rows, 0, 2);
    c->res.bytes = rec_rows_u64(rows, 0, 3);
    rec_rows_free(rows);
    switch (state) {
    case ONE_DONE:
        return REC_OK;
    case ONE_NOT_FOUND:
        memset(&c->res, 0, sizeof c->res);
        return REC_NOT_FOUND;
    case ONE_FULL:
        return REC_INVALID_STATE; /* nothing written */
    }
    snprintf(err->msg, sizeof err->msg, "chat_append_one answered state %llu",
             (unsigned long long)state);
    return REC_ERROR;
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
    struct append_ctx c = {
        .report_id = report_id, .tenant_id = tenant_id, .msgs = msgs, .n = n};
    jb_init(&c.batch);
    /* One message (nearly every call) is one CALL; a batch keeps the
     * statements above, in a transaction opened here: its JSON array of
     * new messages and its cuts into segments are simpler to write in C,
     * and it pays the round trips once for up to CHAT_MAX_BATCH. */
    rec_status st = n == 1 ? rec_autocommit(db, append_one, &c, err)
                           : rec_txn(db, append_txn, &c, err);
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
    rec_rows *rows = NULL;

    *length = 0;
    if (limit == 0 || limit > CHAT_READ_MAX) {
        snprintf(err->msg, sizeof err->msg, "read limit %u", limit);
        return REC_INVALID;
    }
    /* Indexes past any history read nothing; capping them keeps the
     * arithmetic below far from any overflow. */
    if (after > INT32_MAX)
        after = INT32_MAX;
    uint64_t end = after + limit;
    rec_param p[10] = {REC_U(after),     REC_U(end),   REC_U(after),
                       REC_U(end),       REC_U(end),   REC_U(after),
                       REC_U(report_id), REC_U(after), REC_U(report_id),
                       REC_U(tenant_id)};
    rec_status st = rec_exec_row(db, SQL_READ, p, 10, &rows, err);
    if (st != REC_OK)
        return st;
    size_t nrows = rec_rows_count(rows);
    *length = (uint32_t)rec_rows_u64(rows, 0, 0);
    /* The rows in order of first: at most limit + 1 of them (a segment
     * holds at least one message), most often 2. */
    size_t order[CHAT_READ_MAX + 1];
    size_t k = 0;
    for (size_t i = 0; i < nrows && k < sizeof order / sizeof order[0]; i++) {
        if (rec_rows_get(rows, i, 1) == NULL)
            continue; /* the LEFT JOIN's row without a segment */
        uint64_t first = rec_rows_u64(rows, i, 1);
        size_t j = k++;
        for (; j > 0 && rec_rows_u64(rows, order[j - 1], 1) > first; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    /* Each slice is a JSON array (a range path answers one even for one
     * element). The server's text is embedded as it is, not parsed and
     * printed again: the arrays are joined by dropping their brackets. */
    int any = 0;
    jb_lit(out, "[");
    for (size_t o = 0; o < k; o++) {
        const char *slice = rec_rows_get(rows, order[o], 2);
        size_t len = rec_rows_len(rows, order[o], 2);
        if (slice == NULL || len < 2 || slice[0] != '[' ||
            slice[len - 1] != ']') {
            snprintf(err->msg, sizeof err->msg,
                     "chat segment slice of report %llu is not an array",
                     (unsigned long long)report_id);
            rec_rows_free(rows);
            return REC_ERROR;
        }
        if (len == 2)
            continue;
        if (any)
            jb_lit(out, ", ");
        jb_raw(out, slice + 1, len - 2);
        any = 1;
    }
    jb_lit(out, "]");
    rec_rows_free(rows);
    return REC_OK;
}
