/*
 * jmerge.c -- RFC 7396 section 2, as written there:
 *
 *   if Patch is an Object:
 *     if Target is not an Object: Target = {}
 *     for each Name/Value pair in Patch:
 *       if Value is null: remove Name from Target
 *       else: Target[Name] = MergePatch(Target[Name], Value)
 *     return Target
 *   else: return Patch
 *
 * Only objects are ever changed in place, and every object of the result
 * is the target's own or a new one: a value shared from the patch is
 * never an object that a later step could change.
 */
#include "jmerge.h"

#include <stdlib.h>

json_object *jmerge_patch(json_object *target, json_object *patch)
{
    if (patch == NULL || !json_object_is_type(patch, json_type_object)) {
        json_object_put(target);
        return json_object_get(patch); /* JSON null stays NULL */
    }
    if (target == NULL || !json_object_is_type(target, json_type_object)) {
        json_object_put(target);
        target = json_object_new_object();
        if (target == NULL)
            abort();
    }
    json_object_object_foreach(patch, name, value) {
        if (value == NULL) {
            json_object_object_del(target, name);
            continue;
        }
        json_object *cur = NULL;
        if (!json_object_object_get_ex(target, name, &cur))
            cur = NULL;
        /* One more reference to cur, consumed by the recursion; the add
         * below puts the one the target held. */
        json_object *merged = jmerge_patch(json_object_get(cur), value);
        if (json_object_object_add(target, name, merged) != 0)
            abort();
    }
    return target;
}
