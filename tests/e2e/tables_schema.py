"""tables_schema.py -- the application tables the declared-table tests
serve (test_tables.py, test_tables_bad_input.py, test_tables_race.py):
made with plain SQL through the mariadb client, as an application's own
migrations would, then declared in the stack's tables dir. Not a test
module (no test_ prefix): imported by them."""

import harness

# Every column type of the contract's table, NOT NULL ones with and
# without defaults, a unique key and a CHECK with names, columns that are
# not served (a BLOB cannot be), and a read-only one the database fills.
ITEMS = """
CREATE TABLE IF NOT EXISTS items (
    id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id BIGINT UNSIGNED NOT NULL,
    version   INT UNSIGNED NOT NULL DEFAULT 1,
    name      VARCHAR(20) NOT NULL,
    qty       INT NOT NULL DEFAULT 0,
    small     TINYINT UNSIGNED NULL,
    big       BIGINT NULL,
    flag      TINYINT(1) NOT NULL DEFAULT 0,
    price     DECIMAL(10,2) NULL,
    ratio     DOUBLE NULL,
    code      CHAR(3) NULL,
    note      TEXT NULL,
    kind      ENUM('a','b','c') NULL,
    tags      SET('x','y','z') NULL,
    day       DATE NULL,
    at        DATETIME(3) NULL,
    doc       JSON NULL,
    created   TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    secret    VARCHAR(10) NULL,
    blobby    BLOB NULL,
    UNIQUE KEY items_name (tenant_id, name),
    CONSTRAINT items_qty_nonneg CHECK (qty >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""
ITEM_COLUMNS = ["name", "qty", "small", "big", "flag", "price", "ratio",
                "code", "note", "kind", "tags", "day", "at", "doc", "created"]
ITEMS_CONF = {
    "table": "items",
    "tenant_column": "tenant_id",
    "columns": ", ".join(ITEM_COLUMNS),
    "read_only": "created",
}

# A foreign key: children.parent_id -> parents.id.
PARENTS = """
CREATE TABLE IF NOT EXISTS parents (
    id        INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id BIGINT UNSIGNED NOT NULL,
    version   INT UNSIGNED NOT NULL DEFAULT 1,
    label     VARCHAR(40) NOT NULL DEFAULT ''
) ENGINE=InnoDB
"""
CHILDREN = """
CREATE TABLE IF NOT EXISTS children (
    id        INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id BIGINT UNSIGNED NOT NULL,
    version   INT UNSIGNED NOT NULL DEFAULT 1,
    parent_id INT UNSIGNED NOT NULL,
    CONSTRAINT children_parent_fk FOREIGN KEY (parent_id)
        REFERENCES parents (id)
) ENGINE=InnoDB
"""

# An application without tenants: one tenant owns the table; its key and
# version columns have names of their own (served as "id", "version").
NOTES = """
CREATE TABLE IF NOT EXISTS notes (
    note_no   INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    rev       INT UNSIGNED NOT NULL DEFAULT 1,
    body      VARCHAR(200) NOT NULL
) ENGINE=InnoDB
"""


def notes_conf(tenant_id):
    return {"table": "notes", "key": "note_no", "version": "rev",
            "tenant": str(tenant_id)}


def create_all(stack):
    for sql in (ITEMS, PARENTS, CHILDREN, NOTES):
        stack.sql(sql)


def declare_all(stack, notes_tenant):
    stack.declare("items", ITEMS_CONF)
    stack.declare("parents", {"table": "parents",
                              "tenant_column": "tenant_id"})
    stack.declare("children", {"table": "children",
                               "tenant_column": "tenant_id"})
    stack.declare("notes", notes_conf(notes_tenant))


def prepare_all(stack, names=("items", "parents", "children", "notes")):
    for n in names:
        stack.prepare_table(n)


def wait_served(stack, name, token, timeout=20):
    """Waits until /v1/tables/<name> answers something other than 404."""
    harness.wait_until(
        lambda: stack.get("/v1/tables/" + name, token=token).status != 404,
        timeout, "/v1/tables/%s to be served" % name)
