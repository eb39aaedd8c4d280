/* jansson helpers: scope cleanup and defaulted accessors. */
#ifndef V2K_JSON_H
#define V2K_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

static inline void
v2k_cleanup_json (json_t **j)
{
  json_decref (*j);
}
#define CLEANUP_JSON __attribute__ ((cleanup (v2k_cleanup_json)))

static inline const char *
jstr (const json_t *obj, const char *key)
{
  return json_string_value (json_object_get (obj, key));
}

static inline const char *
jstr_or (const json_t *obj, const char *key, const char *dflt)
{
  const char *s = jstr (obj, key);
  return s ? s : dflt;
}

static inline int64_t
jint (const json_t *obj, const char *key)
{
  return json_integer_value (json_object_get (obj, key));
}

static inline bool
jbool (const json_t *obj, const char *key)
{
  return json_is_true (json_object_get (obj, key));
}

/* Set obj[key], taking ownership of a new reference; a NULL value (an
 * allocation failure upstream) is stored as JSON null. */
static inline void
jset (json_t *obj, const char *key, json_t *val)
{
  json_object_set_new (obj, key, val ? val : json_null ());
}

static inline void
jset_str (json_t *obj, const char *key, const char *s)
{
  jset (obj, key, s ? json_string (s) : json_null ());
}

#endif /* V2K_JSON_H */
