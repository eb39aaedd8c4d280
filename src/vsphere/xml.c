/* Small libxml2 tree helpers for vim25 responses.
 *
 * vim25 documents put everything in the default namespace urn:vim25 and
 * the SOAP envelope in soapenv; a local-name match is unambiguous within
 * a response and spares the callers namespace bookkeeping.
 */
#include "vsphere/soap.h"

#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#include <libxml/parser.h>

static bool
is_elem (const xmlNode *n, const char *name)
{
  return n->type == XML_ELEMENT_NODE
    && (name == NULL || strcmp ((const char *) n->name, name) == 0);
}

xmlNode *
x_child (const xmlNode *n, const char *name)
{
  if (n == NULL)
    return NULL;
  for (xmlNode *c = n->children; c; c = c->next)
    if (is_elem (c, name))
      return c;
  return NULL;
}

xmlNode *
x_next (const xmlNode *n, const char *name)
{
  if (n == NULL)
    return NULL;
  for (xmlNode *c = n->next; c; c = c->next)
    if (is_elem (c, name))
      return c;
  return NULL;
}

/* "a/b/c": the first match at each step. */
xmlNode *
x_path (const xmlNode *n, const char *path)
{
  char step[128];
  const char *p = path;

  while (n && *p) {
    size_t len = strcspn (p, "/");

    if (len >= sizeof step)
      return NULL;
    memcpy (step, p, len);
    step[len] = '\0';
    n = x_child (n, step);
    p += len;
    if (*p == '/')
      p++;
  }
  return (xmlNode *) n;
}

char *
x_text (const xmlNode *n)
{
  xmlChar *c;
  char *s;

  if (n == NULL)
    return NULL;
  c = xmlNodeGetContent (n);
  if (c == NULL)
    return NULL;
  s = strdup ((const char *) c);
  xmlFree (c);
  return s;
}

char *
x_path_text (const xmlNode *n, const char *path)
{
  return x_text (x_path (n, path));
}

char *
x_type (const xmlNode *n)
{
  xmlChar *t;
  const char *colon;
  char *s;

  if (n == NULL)
    return NULL;
  t = xmlGetNsProp (n, BAD_CAST "type", BAD_CAST XSI_NS);
  if (t == NULL)
    return NULL;
  colon = strchr ((const char *) t, ':');
  s = strdup (colon ? colon + 1 : (const char *) t);
  xmlFree (t);
  return s;
}

bool
x_path_has (const xmlNode *n, const char *path)
{
  return x_path (n, path) != NULL;
}

bool
x_path_bool (const xmlNode *n, const char *path, bool dflt)
{
  char *s = x_path_text (n, path);
  bool ret = dflt;

  if (s) {
    ret = strcmp (s, "true") == 0 || strcmp (s, "1") == 0;
    free (s);
  }
  return ret;
}

int64_t
x_path_int (const xmlNode *n, const char *path, int64_t dflt)
{
  char *s = x_path_text (n, path), *end;
  int64_t ret = dflt;

  if (s) {
    long long v = strtoll (s, &end, 10);
    if (end != s && *end == '\0')
      ret = v;
    free (s);
  }
  return ret;
}

xmlDoc *
x_parse (const char *buf, size_t len)
{
  if (len > INT32_MAX)
    return NULL;
  return xmlReadMemory (buf, (int) len, "response.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR
                        | XML_PARSE_NOWARNING | XML_PARSE_HUGE);
}
