/* Shared helpers of the vSphere unit tests: load a recorded response. */
#ifndef TEST_VSPHERE_COMMON_H
#define TEST_VSPHERE_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libxml/parser.h>

#include "vsphere/soap.h"
#include "util/error.h"

static inline xmlDoc *
load (const char *name)
{
  char path[4096];
  xmlDoc *doc;

  snprintf (path, sizeof path, "%s/%s", VSPHERE_DATA, name);
  doc = xmlReadFile (path, NULL, XML_PARSE_NONET);
  if (doc == NULL)
    fail_msg ("cannot parse '%s'", path);
  return doc;
}

/* The <objects> of a recorded RetrievePropertiesEx, kept in RES. */
static inline xmlNode *
load_objects (const char *name, struct props_result *res)
{
  memset (res, 0, sizeof *res);
  assert_int_equal (props_add_page (res, load (name), NULL), 0);
  return props_first (res);
}

#endif
