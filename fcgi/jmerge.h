/*
 * jmerge.h -- JSON Merge Patch (RFC 7396) on json-c values.
 *
 * PATCH /v1/bids/{id} merges in the application, under the row's lock,
 * rather than with SQL's JSON_MERGE_PATCH: MariaDB 10.11's implementation
 * returns wrong documents when a patch removes keys (for example
 * JSON_MERGE_PATCH('{"a":1,"b":2}', '{"b":3,"a":null}') gives {"b": 2}).
 */
#ifndef OPTIMIST_JMERGE_H
#define OPTIMIST_JMERGE_H

#include <json.h>

/* Applies `patch` to `target` and returns the result. `target` is
 * consumed (its reference passes to the result, or is put); `patch` is
 * borrowed, and parts of it may be shared into the result by reference
 * (json-c counts them), so the result must not outlive changes to it.
 * NULL as target means "absent". Never fails (out of memory aborts). */
json_object *jmerge_patch(json_object *target, json_object *patch);

#endif
