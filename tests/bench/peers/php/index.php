<?php
/*
 * index.php -- the two bid routes of optimist, written the way a good PHP
 * developer would for php-fpm, as the PHP reference of `make bench`:
 *
 *   GET   /v1/bids/{id}   200 with ETag, 304 on If-None-Match, 404
 *   PATCH /v1/bids/{id}   {"version": N, "data": {...}} (or If-Match):
 *                         merge patch on data; 200, 409 version_conflict
 *                         with current_version and current, 412, 428, 404
 *
 * Same contract (../../../../../shared/API.md), same schema and the same
 * SQL as fcgi/routes/routes_bids.c: the token found by its public key and its
 * SHA-256 compared in constant time, every row scoped to the tenant, the
 * version checked in the UPDATE itself (the affected rows decide). With a
 * version, as optimist: read, answer a stale version from that read,
 * merge, and an UPDATE that checks the version read (no lock, no
 * transaction); If-Match: * merges under the row's lock.
 *
 * Tuned as production PHP is: php-fpm static pool, opcache on without
 * timestamp checks, PDO with persistent connections and real server-side
 * prepared statements (ATTR_EMULATE_PREPARES false). The connection
 * settings (env BENCH_DB_SOCKET, BENCH_DB_USER, BENCH_DB_PASSWORD,
 * BENCH_DB_NAME) come from the pool configuration.
 */

const SQL_TOKEN = 'SELECT tenant_id, token_hash FROM api_tokens '
    . 'WHERE lookup_key = ? AND revoked_at IS NULL';
const SQL_LOAD = 'SELECT id, version, status, data, evaluation, lease_until, '
    . 'lease_until < UTC_TIMESTAMP(3), created_at, updated_at '
    . 'FROM bids WHERE id = ? AND tenant_id = ?';
// A PATCH with a version: the bid and the database's clock (the new
// updated_at), then the UPDATE that checks the version read.
const SQL_PATCH_READ = 'SELECT id, version, status, data, evaluation, lease_until, '
    . 'lease_until < UTC_TIMESTAMP(3), created_at, updated_at, UTC_TIMESTAMP(3) '
    . 'FROM bids WHERE id = ? AND tenant_id = ?';
const SQL_PATCH_CHECKED = 'UPDATE bids SET data = ?, '
    . 'data_version = data_version + 1, version = version + 1, updated_at = ? '
    . 'WHERE id = ? AND tenant_id = ? AND version = ? '
    . "AND status IN ('open', 'evaluating', 'decided')";
// The data a PATCH merges into, locked until the transaction ends, then
// the guarded UPDATE with the merged text (RFC 7396, in the application,
// as optimist does: MariaDB's JSON_MERGE_PATCH is not RFC 7396).
const SQL_DATA_FOR_UPDATE = 'SELECT data FROM bids WHERE id = ? AND tenant_id = ? FOR UPDATE';
const SQL_PATCH = 'UPDATE bids SET data = ?, '
    . 'data_version = data_version + 1, version = version + 1, '
    . 'updated_at = UTC_TIMESTAMP(3) '
    . 'WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version) '
    . "AND status IN ('open', 'evaluating', 'decided')";
const DATA_MAX = 1048576;

const MAX_VERSION = 4294967295;

function reply(int $status, string $body, array $headers = []): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    foreach ($headers as $h) {
        header($h);
    }
    echo $body;
}

function error_reply(int $status, string $code, string $message, array $extra = [],
                     array $headers = []): void
{
    reply($status, json_encode(['error' => $code, 'message' => $message] + $extra,
                               JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), $headers);
}

function db(): PDO
{
    static $pdo = null;
    if ($pdo === null) {
        $pdo = new PDO(
            'mysql:unix_socket=' . getenv('BENCH_DB_SOCKET') . ';dbname='
                . getenv('BENCH_DB_NAME') . ';charset=utf8mb4',
            getenv('BENCH_DB_USER'),
            getenv('BENCH_DB_PASSWORD') ?: null,
            [
                PDO::ATTR_PERSISTENT => true,
                PDO::ATTR_EMULATE_PREPARES => false,
                PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
                PDO::ATTR_DEFAULT_FETCH_MODE => PDO::FETCH_NUM,
                PDO::ATTR_STRINGIFY_FETCHES => true,
                // The session every implementation uses: UTC, and READ
                // COMMITTED (fewer gap locks, every statement sees the
                // latest committed row).
                PDO::MYSQL_ATTR_INIT_COMMAND =>
                    "SET time_zone = '+00:00', tx_isolation = 'READ-COMMITTED'",
            ]
        );
    }
    return $pdo;
}

/* The tenant of the bearer token, or null. */
function tenant_of(?string $header): ?int
{
    if ($header === null || strncasecmp($header, 'Bearer ', 7) !== 0) {
        return null;
    }
    $token = trim(substr($header, 7), ' ');
    if (!preg_match('/^opt_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/D', $token, $m)) {
        return null;
    }
    $st = db()->prepare(SQL_TOKEN);
    $st->execute([$m[1]]);
    $row = $st->fetch();
    if ($row === false || !hash_equals($row[1], hash('sha256', $token, true))) {
        return null;
    }
    return (int)$row[0];
}

function rfc3339(?string $t): ?string
{
    return $t === null ? null : str_replace(' ', 'T', $t) . 'Z';
}

/* A bid row (SQL_LOAD's columns) as the object GET returns. */
function bid_of(array $row): array
{
    [$id, $v, $status, $data, $evaluation, $lease_until, $expired, $created, $updated] = $row;
    return [
        'id' => (int)$id,
        'version' => (int)$v,
        'status' => $status,
        'data' => json_decode($data, false),
        'evaluation' => $evaluation === null ? null : json_decode($evaluation, false),
        'lease' => $status === 'evaluating' && $lease_until !== null
            ? ['until' => rfc3339($lease_until), 'expired' => $expired === '1']
            : null,
        'created_at' => rfc3339($created),
        'updated_at' => rfc3339($updated),
    ];
}

function json_text($v): string
{
    return json_encode($v, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
}

/* The bid as GET returns it, as JSON text, and its version; null if none. */
function load_bid(int $id, int $tenant, ?int &$version): ?string
{
    $st = db()->prepare(SQL_LOAD);
    $st->execute([$id, $tenant]);
    $row = $st->fetch();
    if ($row === false) {
        return null;
    }
    $bid = bid_of($row);
    $version = $bid['version'];
    return json_text($bid);
}

function get_bid(int $id, int $tenant): void
{
    $body = load_bid($id, $tenant, $version);
    if ($body === null) {
        error_reply(404, 'not_found', 'no such resource');
        return;
    }
    $etag = "ETag: \"$version\"";
    if (($_SERVER['HTTP_IF_NONE_MATCH'] ?? null) === "\"$version\"") {
        http_response_code(304);
        header($etag);
        return;
    }
    reply(200, $body, [$etag]);
}

/* RFC 7396: objects merge, null removes, anything else replaces. */
function merge_patch($target, $patch)
{
    if (!is_object($patch)) {
        return $patch;
    }
    if (!is_object($target)) {
        $target = new stdClass();
    }
    foreach ($patch as $name => $value) {
        if ($value === null) {
            unset($target->$name);
        } else {
            $target->$name = merge_patch($target->$name ?? null, $value);
        }
    }
    return $target;
}

function valid_version($v): bool
{
    return is_int($v) && $v >= 1 && $v <= MAX_VERSION;
}

function conflict_reply(bool $use_412, int $v, string $cur): void
{
    $code = $use_412 ? 'precondition_failed' : 'version_conflict';
    reply($use_412 ? 412 : 409,
          '{"error":"' . $code . '","message":"the version sent is not the current one",'
          . '"current_version":' . $v . ',"current":' . $cur . '}',
          ["ETag: \"$v\""]);
}

/* Read, answer a stale version from the read, merge, and write only if
 * the version is still the one read: the affected rows decide. */
function patch_with_version(int $id, int $tenant, object $patch, int $expect,
                            bool $use_412): void
{
    $pdo = db();
    for ($round = 0; $round < 3; $round++) {
        $st = $pdo->prepare(SQL_PATCH_READ);
        $st->execute([$id, $tenant]);
        $row = $st->fetch();
        $st = null;
        if ($row === false) {
            error_reply(404, 'not_found', 'no such resource');
            return;
        }
        $now = array_pop($row);
        $bid = bid_of($row);
        $v = $bid['version'];
        if ($bid['status'] === 'archived') {
            reply(409, '{"error":"invalid_state","message":"not allowed while the bid is archived",'
                  . '"status":"archived","current_version":' . $v . ',"current":'
                  . json_text($bid) . '}', ["ETag: \"$v\""]);
            return;
        }
        if ($v !== $expect || $round === 2) {
            conflict_reply($use_412, $v, json_text($bid));
            return;
        }
        $bid['data'] = merge_patch($bid['data'], $patch);
        $merged = json_text($bid['data']);
        if (strlen($merged) > DATA_MAX) {
            error_reply(400, 'bad_request', 'the merged data would be larger than 1048576 bytes');
            return;
        }
        $st = $pdo->prepare(SQL_PATCH_CHECKED);
        $st->execute([$merged, $now, $id, $tenant, $expect]);
        if ($st->rowCount() === 1) {
            $bid['version'] = $expect + 1;
            $bid['updated_at'] = rfc3339($now);
            reply(200, json_text($bid), ['ETag: "' . ($expect + 1) . '"']);
            return;
        }
    }
}

function patch_bid(int $id, int $tenant): void
{
    $ct = $_SERVER['CONTENT_TYPE'] ?? '';
    if (!preg_match('#^\s*application/([a-z0-9.+-]*\+)?json\s*(;|$)#i', $ct)) {
        error_reply(415, 'unsupported_media_type', 'the body must be JSON');
        return;
    }
    $raw = file_get_contents('php://input');
    try {
        $body = json_decode($raw, false, 64, JSON_THROW_ON_ERROR);
    } catch (JsonException $e) {
        error_reply(400, 'bad_request', 'malformed JSON');
        return;
    }
    if (!is_object($body) || !isset($body->data) || !is_object($body->data)) {
        error_reply(400, 'bad_request', '"data" must be an object');
        return;
    }
    $body_version = property_exists($body, 'version') ? $body->version : null;
    if (property_exists($body, 'version') && !valid_version($body_version)) {
        error_reply(400, 'bad_request', '"version" must be an integer from 1 to 4294967295');
        return;
    }
    $im = $_SERVER['HTTP_IF_MATCH'] ?? null;
    $im_version = null;
    $use_412 = false;
    if ($im !== null) {
        if (preg_match('/^"([1-9][0-9]{0,9})"$/D', $im, $m) && (int)$m[1] <= MAX_VERSION) {
            $im_version = (int)$m[1];
            $use_412 = $body_version === null;
        } elseif (str_starts_with($im, 'W/"')) {
            $im_version = 0; // a weak tag never matches
            $use_412 = true;
        } elseif ($im !== '*') {
            error_reply(400, 'bad_request', 'If-Match takes "N" or *');
            return;
        }
    }
    if ($body_version !== null && $im_version !== null && $im_version !== 0
        && $body_version !== $im_version) {
        error_reply(400, 'bad_request', 'the body version and If-Match differ');
        return;
    }
    $expect = $body_version ?? $im_version; // null: If-Match: * (any)
    if ($expect === null && $im !== '*') {
        $cur = load_bid($id, $tenant, $v);
        if ($cur === null) {
            error_reply(404, 'not_found', 'no such resource');
        } else {
            error_reply(428, 'precondition_required',
                        'send the version you last saw', ['current_version' => $v]);
        }
        return;
    }

    if ($expect !== null) {
        patch_with_version($id, $tenant, $body->data, $expect, $use_412);
        return;
    }
    $pdo = db();
    $pdo->beginTransaction();
    try {
        $st = $pdo->prepare(SQL_DATA_FOR_UPDATE);
        $st->execute([$id, $tenant]);
        $row = $st->fetch();
        $cur = null;
        $changed = false;
        $too_large = false;
        if ($row !== false) {
            $merged = json_encode(merge_patch(json_decode($row[0], false), $body->data),
                                  JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
            $too_large = strlen($merged) > DATA_MAX;
            if (!$too_large) {
                $st = $pdo->prepare(SQL_PATCH);
                $st->execute([$merged, $id, $tenant, $expect]);
                $changed = $st->rowCount() === 1;
                // Inside the transaction: on success our write holds the
                // row lock, so this is exactly the version we made.
                $cur = load_bid($id, $tenant, $v);
            }
        }
        $changed ? $pdo->commit() : $pdo->rollBack();
    } catch (Throwable $e) {
        $pdo->rollBack();
        throw $e;
    }
    if ($too_large) {
        error_reply(400, 'bad_request', 'the merged data would be larger than 1048576 bytes');
        return;
    }
    if ($cur === null) {
        error_reply(404, 'not_found', 'no such resource');
    } elseif ($changed) {
        reply(200, $cur, ["ETag: \"$v\""]);
    } elseif (($expect === null || $v === $expect)
              && strpos($cur, '"status":"archived"') !== false) {
        reply(409, '{"error":"invalid_state","message":"not allowed while the bid is archived",'
              . '"status":"archived","current_version":' . $v . ',"current":' . $cur . '}',
              ["ETag: \"$v\""]);
    } else {
        $code = $use_412 ? 'precondition_failed' : 'version_conflict';
        reply($use_412 ? 412 : 409,
              '{"error":"' . $code . '","message":"the version sent is not the current one",'
              . '"current_version":' . $v . ',"current":' . $cur . '}',
              ["ETag: \"$v\""]);
    }
}

try {
    $path = strtok($_SERVER['REQUEST_URI'] ?? '/', '?');
    if (!preg_match('#^/v1/bids/([0-9]{1,19})$#D', $path, $m)) {
        error_reply(404, 'not_found', 'no such route');
        return;
    }
    $method = $_SERVER['REQUEST_METHOD'];
    if ($method !== 'GET' && $method !== 'PATCH') {
        error_reply(405, 'method_not_allowed', "$method is not allowed here", [],
                    ['Allow: GET, PATCH']);
        return;
    }
    $tenant = tenant_of($_SERVER['HTTP_AUTHORIZATION'] ?? null);
    if ($tenant === null) {
        error_reply(401, 'unauthorized', 'unknown or revoked token', [],
                    ['WWW-Authenticate: Bearer']);
        return;
    }
    $id = (int)$m[1];
    if ($method === 'GET') {
        get_bid($id, $tenant);
    } else {
        patch_bid($id, $tenant);
    }
} catch (PDOException $e) {
    error_log('bench peer: ' . $e->getMessage());
    error_reply(503, 'unavailable', 'the database cannot be reached', [], ['Retry-After: 1']);
}
