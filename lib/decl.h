/*
 * decl.h -- the declaration of one table: the file <name>.conf of
 * OPTIMIST_TABLES_DIR, parsed. Pure: no database, no allocation.
 *
 * The file is "KEY = value" lines; '#' starts a comment (anywhere on a
 * line); blank lines are ignored; keys are those of the contract (table,
 * key, version, tenant_column, tenant, columns, read_only), each at most
 * once. Values are identifiers: letters, digits, '_', '$' or any
 * non-ASCII UTF-8 character, 1 to 64 bytes (lists: comma-separated,
 * blanks around the commas allowed).
 */
#ifndef OPTIMIST_DECL_H
#define OPTIMIST_DECL_H

#include <stddef.h>
#include <stdint.h>

#define DECL_NAME_MAX  64    /* a URL name, a table or column name */
#define DECL_MAX_COLS  60    /* served columns (statements bind at most 64) */
#define DECL_MAX_BYTES 65536 /* a declaration file */
#define DECL_WHY_MAX   256

typedef char decl_ident[DECL_NAME_MAX + 1];

typedef struct decl {
    decl_ident name;   /* the URL name: the file's name without .conf */
    decl_ident schema; /* "" when `table` names no database */
    decl_ident table;
    decl_ident key;           /* default "id" */
    decl_ident version;       /* default "version" */
    decl_ident tenant_column; /* "" when `tenant` is used */
    uint64_t tenant;          /* the fixed tenant, 0 when tenant_column */
    int all_columns;          /* no `columns` line: every other column */
    size_t ncolumns;
    decl_ident columns[DECL_MAX_COLS];
    size_t nread_only;
    decl_ident read_only[DECL_MAX_COLS];
} decl;

/* 1 if `name` (NUL-terminated) is a valid URL name: 1 to 64 of a-z, 0-9,
 * '_', starting with a letter. */
int decl_name_ok(const char *name);

/* 1 if file_name is "<valid name>.conf"; the name then goes to
 * name_out (DECL_NAME_MAX + 1 bytes). */
int decl_file_name(const char *file_name, char *name_out);

/* Parses text[0..len) (need not be NUL-terminated; a NUL byte is an
 * error) as the declaration of table `name`. Returns 0, or -1 with a
 * reason in why[DECL_WHY_MAX] ("line 3: unknown key \"colums\""); the
 * caller adds the file name. */
int decl_parse(const char *name, const char *text, size_t len, decl *out,
               char *why);

/* Reads and parses dir/<name>.conf. -1 with why as above, the file's
 * path first ("var/tables.d/orders.conf: line 3: ..."). */
int decl_load(const char *dir, const char *name, decl *out, char *why);

#endif
