-- schema.sql -- the example shop's own table, as its PHP application made it
-- long before optimist came along: optimist serves it once declared
-- (products.conf) and prepared (optimistctl table prepare products), and
-- the PHP page (index.php) keeps writing it with its own SQL.
--
-- `version` is here from the start so that the file also works on a stack
-- where `table prepare` has not run yet; prepare adds it when missing.
CREATE TABLE IF NOT EXISTS products (
    id         INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id  BIGINT UNSIGNED NOT NULL,
    name       VARCHAR(100) NOT NULL,
    qty        INT NOT NULL DEFAULT 0,
    price      DECIMAL(10,2) NOT NULL DEFAULT 0.00,
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
               ON UPDATE CURRENT_TIMESTAMP(3),
    version    INT UNSIGNED NOT NULL DEFAULT 1,
    UNIQUE KEY products_tenant_name (tenant_id, name),
    CONSTRAINT products_qty_not_negative CHECK (qty >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
