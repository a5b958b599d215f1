<?php
/*
 * index.php -- the example shop's own PHP page: the application that was
 * there before optimist, writing its `products` table the plain way with
 * mysqli, no versions, no optimist:
 *
 *   POST /shop/products/{id}/increment   UPDATE products SET qty = qty + 1
 *                                        WHERE id = ?   -> 200 {"id", "qty"}
 *   GET  /shop/products/{id}             the row as the shop sees it
 *
 * Nothing here knows about optimist. The triggers that `optimistctl table
 * prepare products` installs raise the row's version on this UPDATE and log
 * the change, so an optimist client holding the old version gets 409 instead
 * of overwriting the increment, and the feeds show it.
 *
 * The database settings come from php-fpm's pool (SHOP_DB_SOCKET,
 * SHOP_DB_NAME, SHOP_DB_USER; examples/shop/php-fpm.conf.in).
 */

mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);

function reply(int $status, array $body): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
}

function db(): mysqli
{
    $db = new mysqli('localhost', getenv('SHOP_DB_USER') ?: null, null,
                     getenv('SHOP_DB_NAME'), 0, getenv('SHOP_DB_SOCKET'));
    $db->set_charset('utf8mb4');
    return $db;
}

try {
    $path = strtok($_SERVER['REQUEST_URI'] ?? '/', '?');
    $method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
    if (preg_match('#^/shop/products/([0-9]{1,10})/increment$#D', $path, $m)) {
        if ($method !== 'POST') {
            header('Allow: POST');
            reply(405, ['error' => 'method_not_allowed']);
            return;
        }
        $db = db();
        // The plain way: one statement, autocommit, no version in sight.
        $st = $db->prepare('UPDATE products SET qty = qty + 1 WHERE id = ?');
        $id = (int)$m[1];
        $st->bind_param('i', $id);
        $st->execute();
        if ($st->affected_rows !== 1) {
            reply(404, ['error' => 'not_found']);
            return;
        }
        $st = $db->prepare('SELECT qty FROM products WHERE id = ?');
        $st->bind_param('i', $id);
        $st->execute();
        $qty = $st->get_result()->fetch_row()[0] ?? null;
        reply(200, ['id' => $id, 'qty' => $qty]);
    } elseif (preg_match('#^/shop/products/([0-9]{1,10})$#D', $path, $m)) {
        if ($method !== 'GET') {
            header('Allow: GET');
            reply(405, ['error' => 'method_not_allowed']);
            return;
        }
        $db = db(); // held: a statement does not keep its connection open
        $st = $db->prepare('SELECT id, name, qty, price, version FROM products WHERE id = ?');
        $id = (int)$m[1];
        $st->bind_param('i', $id);
        $st->execute();
        $row = $st->get_result()->fetch_assoc();
        if ($row === null) {
            reply(404, ['error' => 'not_found']);
            return;
        }
        reply(200, $row);
    } else {
        reply(404, ['error' => 'not_found']);
    }
} catch (mysqli_sql_exception $e) {
    // Not acknowledged: the statement did not commit (autocommit).
    error_log('shop: ' . $e->getMessage());
    reply(503, ['error' => 'unavailable', 'message' => 'database error']);
}
