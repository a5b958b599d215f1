'use strict';
/*
 * server.js -- the two bid routes of optimist, written the way a good
 * Express developer would, as the Node reference of `make bench`:
 *
 *   GET   /v1/bids/:id   200 with ETag, 304 on If-None-Match, 404
 *   PATCH /v1/bids/:id   {"version": N, "data": {...}} (or If-Match):
 *                        merge patch on data; 200, 409 version_conflict
 *                        with current_version and current, 412, 428, 404
 *
 * Same contract, same schema and the same SQL as fcgi/routes/routes_bids.c: the
 * token found by its public key and its SHA-256 compared in constant time,
 * every row scoped to the tenant, the version checked in the UPDATE itself
 * (the affected rows decide). With a version, as optimist: read, answer a
 * stale version from that read, merge, and an UPDATE that checks the
 * version read (no lock, no transaction); If-Match: * merges under the
 * row's lock.
 *
 * Tuned as production Node is: a cluster of BENCH_NODE_WORKERS processes
 * (default 2, one a core) sharing one listening socket, each with a mysql2
 * pool whose connections keep their prepared statements (execute()), no
 * per-request logging, ETag generation off (we send our own).
 *
 * Environment: BENCH_LISTEN (a unix socket path or a port), BENCH_DB_SOCKET,
 * BENCH_DB_USER, BENCH_DB_PASSWORD, BENCH_DB_NAME, BENCH_NODE_WORKERS,
 * BENCH_NODE_POOL (connections per worker, default 16).
 */
const cluster = require('node:cluster');
const crypto = require('node:crypto');
const fs = require('node:fs');

const SQL_TOKEN = 'SELECT tenant_id, token_hash FROM api_tokens ' +
    'WHERE lookup_key = ? AND revoked_at IS NULL';
const SQL_LOAD = 'SELECT id, version, status, data, evaluation, lease_until, ' +
    'lease_until < UTC_TIMESTAMP(3), created_at, updated_at ' +
    'FROM bids WHERE id = ? AND tenant_id = ?';
// A PATCH with a version: the bid and the database's clock (the new
// updated_at), then the UPDATE that checks the version read.
const SQL_PATCH_READ = 'SELECT id, version, status, data, evaluation, lease_until, ' +
    'lease_until < UTC_TIMESTAMP(3), created_at, updated_at, UTC_TIMESTAMP(3) ' +
    'FROM bids WHERE id = ? AND tenant_id = ?';
const SQL_PATCH_CHECKED = 'UPDATE bids SET data = ?, ' +
    'data_version = data_version + 1, version = version + 1, updated_at = ? ' +
    'WHERE id = ? AND tenant_id = ? AND version = ? ' +
    "AND status IN ('open', 'evaluating', 'decided')";
// The data a PATCH merges into, locked until the transaction ends, then
// the guarded UPDATE with the merged text (RFC 7396, in the application,
// as optimist does: MariaDB's JSON_MERGE_PATCH is not RFC 7396).
const SQL_DATA_FOR_UPDATE = 'SELECT data FROM bids WHERE id = ? AND tenant_id = ? FOR UPDATE';
const SQL_PATCH = 'UPDATE bids SET data = ?, ' +
    'data_version = data_version + 1, version = version + 1, ' +
    'updated_at = UTC_TIMESTAMP(3) ' +
    'WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version) ' +
    "AND status IN ('open', 'evaluating', 'decided')";
const DATA_MAX = 1048576;

const MAX_VERSION = 4294967295;
const TOKEN_RE = /^opt_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;
const listen = process.env.BENCH_LISTEN || '8081';

if (cluster.isPrimary) {
    const n = parseInt(process.env.BENCH_NODE_WORKERS || '2', 10);
    if (!/^\d+$/.test(listen)) {
        try { fs.unlinkSync(listen); } catch (e) { /* not there */ }
    }
    for (let i = 0; i < n; i++) cluster.fork();
    cluster.on('exit', (w, code, sig) => {
        console.error(`worker ${w.process.pid} exited (${sig || code})`);
    });
    for (const s of ['SIGTERM', 'SIGINT']) {
        process.on(s, () => {
            for (const id in cluster.workers) cluster.workers[id].kill('SIGTERM');
            process.exit(0);
        });
    }
    return;
}

const express = require('express');
const mysql = require('mysql2/promise');

const pool = mysql.createPool({
    socketPath: process.env.BENCH_DB_SOCKET,
    user: process.env.BENCH_DB_USER,
    password: process.env.BENCH_DB_PASSWORD || undefined,
    database: process.env.BENCH_DB_NAME,
    connectionLimit: parseInt(process.env.BENCH_NODE_POOL || '16', 10),
    maxIdle: parseInt(process.env.BENCH_NODE_POOL || '16', 10),
    charset: 'utf8mb4',
    timezone: 'Z',
    dateStrings: true,        // DATETIME(3) as text: no Date round trip
    supportBigNumbers: true,
    rowsAsArray: true,
});
// The session every implementation uses: UTC, and READ COMMITTED.
pool.pool.on('connection', (conn) => {
    conn.query("SET time_zone = '+00:00', tx_isolation = 'READ-COMMITTED'");
});

class HttpError extends Error {
    constructor(status, code, message, extra, headers) {
        super(message);
        this.status = status;
        this.code = code;
        this.extra = extra || {};
        this.headers = headers || {};
    }
}

function sendError(res, status, code, message, extra, headers) {
    if (headers) res.set(headers);
    res.status(status).json({ error: code, message, ...(extra || {}) });
}

async function tenantOf(header) {
    if (!header || header.slice(0, 7).toLowerCase() !== 'bearer ') return null;
    const token = header.slice(7).trim();
    const m = TOKEN_RE.exec(token);
    if (!m) return null;
    const [rows] = await pool.execute(SQL_TOKEN, [m[1]]);
    if (rows.length !== 1) return null;
    const stored = rows[0][1];
    const hash = crypto.createHash('sha256').update(token).digest();
    if (!Buffer.isBuffer(stored) || stored.length !== hash.length ||
        !crypto.timingSafeEqual(stored, hash)) return null;
    return Number(rows[0][0]);
}

// mysql2 parses the JSON columns itself when the server marks them as JSON
// (MariaDB does for its JSON alias); a plain text column arrives as text.
const asJson = (v) => (typeof v === 'string' ? JSON.parse(v) : v);
const rfc3339 = (t) => (t === null ? null : t.replace(' ', 'T') + 'Z');

/* The bid as GET returns it, or null. `db` is the pool or a connection. */
async function loadBid(db, id, tenant) {
    const [rows] = await db.execute(SQL_LOAD, [id, tenant]);
    return rows.length === 0 ? null : bidOf(rows[0]);
}

/* A bid row (SQL_LOAD's columns) as the object GET returns. */
function bidOf(row) {
    const [id, version, status, data, evaluation, leaseUntil, expired, created, updated] = row;
    return {
        id: Number(id),
        version,
        status,
        data: asJson(data),
        evaluation: asJson(evaluation),
        lease: status === 'evaluating' && leaseUntil !== null
            ? { until: rfc3339(leaseUntil), expired: expired === 1 }
            : null,
        created_at: rfc3339(created),
        updated_at: rfc3339(updated),
    };
}

const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.use(express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));

const auth = async (req, res, next) => {
    try {
        const tenant = await tenantOf(req.get('authorization'));
        if (tenant === null) {
            return sendError(res, 401, 'unauthorized', 'unknown or revoked token',
                null, { 'WWW-Authenticate': 'Bearer' });
        }
        req.tenant = tenant;
        next();
    } catch (e) {
        next(e);
    }
};

// Path ids are decimal digits (anything else is no route); ids beyond
// 2^53 are never handed out, so a Number holds every one.
const BID_PATH = /^\/v1\/bids\/([0-9]{1,19})$/;
const bidId = (req) => Number(req.params[0]);

app.get(BID_PATH, auth, async (req, res, next) => {
    try {
        const bid = await loadBid(pool, bidId(req), req.tenant);
        if (bid === null) return sendError(res, 404, 'not_found', 'no such resource');
        const etag = `"${bid.version}"`;
        res.set('ETag', etag);
        if (req.get('if-none-match') === etag) return res.status(304).end();
        res.json(bid);
    } catch (e) {
        next(e);
    }
});

/* RFC 7396: objects merge, null removes, anything else replaces. */
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
function mergePatch(target, patch) {
    if (!isObject(patch)) return patch;
    const out = isObject(target) ? target : {};
    for (const [name, value] of Object.entries(patch)) {
        if (value === null) {
            delete out[name];
        } else {
            // defineProperty: a "__proto__" member is data, not a prototype
            Object.defineProperty(out, name, { value: mergePatch(out[name], value),
                enumerable: true, writable: true, configurable: true });
        }
    }
    return out;
}

function validVersion(v) {
    return Number.isInteger(v) && v >= 1 && v <= MAX_VERSION;
}

function conflictReply(res, use412, cur) {
    res.set('ETag', `"${cur.version}"`);
    return sendError(res, use412 ? 412 : 409,
        use412 ? 'precondition_failed' : 'version_conflict',
        'the version sent is not the current one',
        { current_version: cur.version, current: cur });
}

/* Read, answer a stale version from the read, merge, and write only if
 * the version is still the one read: the affected rows decide. */
async function patchWithVersion(res, id, tenant, patch, expect, use412) {
    for (let round = 0; round < 3; round++) {
        const [rows] = await pool.execute(SQL_PATCH_READ, [id, tenant]);
        if (rows.length === 0) return sendError(res, 404, 'not_found', 'no such resource');
        const now = rows[0][9];
        const bid = bidOf(rows[0]);
        if (bid.status === 'archived') {
            res.set('ETag', `"${bid.version}"`);
            return sendError(res, 409, 'invalid_state', 'not allowed while the bid is archived',
                { status: bid.status, current_version: bid.version, current: bid });
        }
        if (bid.version !== expect || round === 2) return conflictReply(res, use412, bid);
        bid.data = mergePatch(bid.data, patch);
        const merged = JSON.stringify(bid.data);
        if (Buffer.byteLength(merged) > DATA_MAX) {
            return sendError(res, 400, 'bad_request', 'the merged data would be larger than 1048576 bytes');
        }
        const [r] = await pool.execute(SQL_PATCH_CHECKED, [merged, now, id, tenant, expect]);
        if (r.affectedRows === 1) {
            bid.version = expect + 1;
            bid.updated_at = rfc3339(now);
            res.set('ETag', `"${bid.version}"`);
            return res.json(bid);
        }
    }
    return undefined; // not reached: round 2 answers above
}

app.patch(BID_PATH, auth, async (req, res, next) => {
    const id = bidId(req);
    const body = req.body;
    if (!req.is(['application/json', 'application/*+json'])) {
        return sendError(res, 415, 'unsupported_media_type', 'the body must be JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body) ||
        body.data === null || typeof body.data !== 'object' || Array.isArray(body.data)) {
        return sendError(res, 400, 'bad_request', '"data" must be an object');
    }
    const hasVersion = Object.prototype.hasOwnProperty.call(body, 'version');
    if (hasVersion && !validVersion(body.version)) {
        return sendError(res, 400, 'bad_request', '"version" must be an integer from 1 to 4294967295');
    }
    const im = req.get('if-match');
    let imVersion = null;
    let use412 = false;
    if (im !== undefined) {
        const m = /^"([1-9][0-9]{0,9})"$/.exec(im);
        if (m && Number(m[1]) <= MAX_VERSION) {
            imVersion = Number(m[1]);
            use412 = !hasVersion;
        } else if (im.startsWith('W/"')) {
            imVersion = 0; // a weak tag never matches
            use412 = true;
        } else if (im !== '*') {
            return sendError(res, 400, 'bad_request', 'If-Match takes "N" or *');
        }
    }
    if (hasVersion && imVersion !== null && imVersion !== 0 && body.version !== imVersion) {
        return sendError(res, 400, 'bad_request', 'the body version and If-Match differ');
    }
    const expect = hasVersion ? body.version : imVersion; // null: If-Match: *
    let conn;
    try {
        if (expect === null && im !== '*') {
            const cur = await loadBid(pool, id, req.tenant);
            if (cur === null) return sendError(res, 404, 'not_found', 'no such resource');
            return sendError(res, 428, 'precondition_required', 'send the version you last saw',
                { current_version: cur.version });
        }
        if (expect !== null) return await patchWithVersion(res, id, req.tenant, body.data, expect, use412);
        conn = await pool.getConnection();
        await conn.beginTransaction();
        let changed = false, cur = null, tooLarge = false;
        try {
            const [rows] = await conn.execute(SQL_DATA_FOR_UPDATE, [id, req.tenant]);
            if (rows.length === 1) {
                const merged = JSON.stringify(mergePatch(asJson(rows[0][0]), body.data));
                tooLarge = Buffer.byteLength(merged) > DATA_MAX;
                if (!tooLarge) {
                    const [r] = await conn.execute(SQL_PATCH, [merged, id, req.tenant, expect]);
                    changed = r.affectedRows === 1;
                    // Inside the transaction: on success our write holds
                    // the row lock, so this is exactly the version we made.
                    cur = await loadBid(conn, id, req.tenant);
                }
            }
            await (changed ? conn.commit() : conn.rollback());
        } catch (e) {
            await conn.rollback().catch(() => {});
            throw e;
        }
        if (tooLarge) {
            return sendError(res, 400, 'bad_request', 'the merged data would be larger than 1048576 bytes');
        }
        if (cur === null) return sendError(res, 404, 'not_found', 'no such resource');
        res.set('ETag', `"${cur.version}"`);
        if (changed) return res.json(cur);
        if ((expect === null || cur.version === expect) && cur.status === 'archived') {
            return sendError(res, 409, 'invalid_state', 'not allowed while the bid is archived',
                { status: cur.status, current_version: cur.version, current: cur });
        }
        return sendError(res, use412 ? 412 : 409,
            use412 ? 'precondition_failed' : 'version_conflict',
            'the version sent is not the current one',
            { current_version: cur.version, current: cur });
    } catch (e) {
        next(e);
    } finally {
        if (conn) conn.release();
    }
});

app.use((req, res) => sendError(res, 404, 'not_found', 'no such route'));

// Malformed JSON from express.json(), and database failures.
app.use((err, req, res, next) => { // eslint-disable-line no-unused-vars
    if (err.type === 'entity.parse.failed') {
        return sendError(res, 400, 'bad_request', 'malformed JSON');
    }
    if (err.type === 'entity.too.large') {
        return sendError(res, 413, 'payload_too_large', 'the body is over 1 MiB');
    }
    console.error('bench peer:', err);
    sendError(res, 503, 'unavailable', 'the database cannot be reached', null, { 'Retry-After': '1' });
});

const server = app.listen(/^\d+$/.test(listen) ? Number(listen) : listen);
server.keepAliveTimeout = 65000; // longer than nginx's upstream keepalive
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
