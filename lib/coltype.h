/*
 * coltype.h -- the column types of a declared table, and the strict value
 * converters both ways: a JSON value (or a filter's text) to a bound
 * parameter, and a column's text as the server returns it to JSON.
 *
 * Pure code: no database, no allocation on the conversion paths. The
 * column description comes from information_schema (introspect.c), or
 * from col_type_parse() given the same columns (tests, fuzzing).
 *
 * The mapping is the contract's ("Your own tables", Rows) and docs/tables.md
 * says what it decides where the contract is silent.
 */
#ifndef OPTIMIST_COLTYPE_H
#define OPTIMIST_COLTYPE_H

#include "jbuf.h"
#include "rec.h"

#include <json.h>
#include <stddef.h>
#include <stdint.h>

/* What a column is served as. */
typedef enum col_kind {
    COL_UNSERVABLE = 0, /* BLOB, BINARY, BIT, spatial, TIME, YEAR, ... */
    COL_INT,            /* TINYINT .. BIGINT, signed or not: a number */
    COL_BOOL,           /* TINYINT(1) / BOOLEAN: true / false */
    COL_DECIMAL,        /* a string with the column's digits */
    COL_FLOAT,          /* FLOAT: a number */
    COL_DOUBLE,         /* DOUBLE / REAL: a number */
    COL_TEXT,           /* CHAR, VARCHAR, TINYTEXT .. LONGTEXT: a string */
    COL_ENUM,           /* a string, one of the members */
    COL_SET,            /* a string, members joined by commas */
    COL_DATE,           /* "YYYY-MM-DD" */
    COL_DATETIME,       /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
    COL_TIMESTAMP,      /* the same, within TIMESTAMP's range */
    COL_JSON            /* LONGTEXT CHECK (json_valid(c)): the JSON value */
} col_kind;

/* The character sets whose rules the converter knows; any other one is
 * left to the server (a refusal then comes back as REC_INVALID). */
typedef enum col_charset {
    CS_UTF8MB4 = 0, /* every code point */
    CS_UTF8MB3,     /* the Basic Multilingual Plane only */
    CS_LATIN1,      /* MariaDB's latin1 (cp1252) */
    CS_ASCII,       /* U+0000 .. U+007F */
    CS_OTHER
} col_charset;

/* One column's type. The ENUM/SET members are owned by the struct: free
 * them with col_type_free (do not copy a col_type that has members). */
typedef struct col_type {
    col_kind kind;
    int is_unsigned;     /* INT, DECIMAL, FLOAT, DOUBLE UNSIGNED */
    unsigned int_bytes;  /* COL_INT / COL_BOOL: 1, 2, 3, 4 or 8 */
    unsigned precision;  /* COL_DECIMAL: digits in all */
    unsigned scale;      /* COL_DECIMAL: digits after the point */
    unsigned fsp;        /* COL_DATETIME / COL_TIMESTAMP: 0..6 */
    uint64_t max_chars;  /* COL_TEXT CHAR/VARCHAR: characters; 0: none */
    uint64_t max_bytes;  /* COL_TEXT TEXT types: bytes stored; 0: none */
    col_charset charset; /* COL_TEXT, COL_ENUM, COL_SET */
    int nullable;        /* NULL may be written */
    size_t nmembers;     /* COL_ENUM / COL_SET */
    char **members;      /* NUL-terminated values, in definition order */
    char why[96];        /* COL_UNSERVABLE: "type blob cannot be served" */
} col_type;

/* What information_schema.COLUMNS says of a column (strings borrowed,
 * NUL-terminated; NULL where the view has SQL NULL). */
typedef struct col_info {
    const char *data_type;     /* DATA_TYPE: "int", "varchar", "longtext" */
    const char *column_type;   /* COLUMN_TYPE: "int(10) unsigned",
                                  "enum('a','b')", "tinyint(1)" */
    const char *charset;       /* CHARACTER_SET_NAME: "utf8mb4" */
    const char *char_max;      /* CHARACTER_MAXIMUM_LENGTH */
    const char *octet_max;     /* CHARACTER_OCTET_LENGTH */
    const char *num_precision; /* NUMERIC_PRECISION */
    const char *num_scale;     /* NUMERIC_SCALE */
    const char *dt_precision;  /* DATETIME_PRECISION */
    int nullable;              /* IS_NULLABLE = 'YES' */
    int is_json;               /* a CHECK constraint json_valid(`col`) */
} col_info;

/* Fills *t from what information_schema says. Never fails: a type that
 * cannot be served gets COL_UNSERVABLE and the reason in t->why. */
void col_type_parse(const col_info *in, col_type *t);

/* Frees the members of t (not t itself). A zeroed col_type is a no-op. */
void col_type_free(col_type *t);

/* A value converted for a statement. p is what to bind; its bytes are
 * either `buf` (numbers, dates rewritten in the server's form) or
 * borrowed from the JSON value or the text converted (valid while that
 * lives). Do not copy a col_value: p may point into buf. */
typedef struct col_value {
    rec_param p;
    char buf[96];
} col_value;

#define COL_WHY_MAX 160

/* Converts JSON value v (NULL or json null: SQL NULL) for column t. The
 * value must come from the service's body parser (fcgi/body.c), which
 * refuses integers outside int64/uint64 (json-c would clamp them).
 * Returns 0, or -1 with why[COL_WHY_MAX] for the client ("must be an
 * integer from 0 to 255"; the caller names the column). */
int col_from_json(const col_type *t, json_object *v, col_value *out,
                  char *why) REC_MUST_CHECK;

/* Converts a filter's text (?col=text, already percent-decoded, valid
 * UTF-8) read as the column's type: integers and decimals in decimal
 * notation, true/false for booleans, strings as they are. JSON columns
 * cannot be filtered on. Returns 0 or -1 with why as above. */
int col_from_text(const col_type *t, const char *s, size_t n, col_value *out,
                  char *why) REC_MUST_CHECK;

/* Appends the JSON of a column value as the server rendered it in text
 * (rec_rows_get: NULL for SQL NULL). A value the rules cannot render
 * (a zero date) becomes null. */
void col_render(const col_type *t, const char *s, size_t n, jbuf *out);

/* The kind's name for messages and `table list`: "integer", "decimal". */
const char *col_kind_name(col_kind k);

#endif
