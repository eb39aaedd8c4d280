/* SOAP transport: envelopes, HTTPS with libcurl, faults.
 *
 * One curl easy handle per connection keeps the TCP/TLS connection and
 * the vmware_soap_session cookie between calls.  The TLS callback sees
 * every certificate the server presents, so the thumbprint is checked
 * before any request (and so before the password) is sent.
 */
#include "vsphere/soap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <inttypes.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util/cleanup.h"
#include "util/error.h"

/* vim25 responses are small except a big inventory; a runaway server
 * must not eat the memory of the host. */
#define MAX_RESPONSE (256 * 1024 * 1024)

struct buf {
  char *data;
  size_t len, cap;
};

static size_t
write_cb (char *ptr, size_t size, size_t nmemb, void *opaque)
{
  struct buf *b = opaque;
  size_t n = size * nmemb;

  if (b->len + n + 1 > MAX_RESPONSE)
    return 0;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 16384;
    char *p;

    while (cap < b->len + n + 1)
      cap *= 2;
    p = realloc (b->data, cap);
    if (p == NULL)
      return 0;
    b->data = p;
    b->cap = cap;
  }
  memcpy (b->data + b->len, ptr, n);
  b->len += n;
  b->data[b->len] = '\0';
  return n;
}

/* ---- thumbprints ---- */

int
soap_thumbprint_der (const unsigned char *der, size_t len,
                     char *out, size_t outlen)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;

  if (EVP_Digest (der, len, md, &mdlen, EVP_sha1 (), NULL) != 1
      || outlen < mdlen * 3)
    return -1;
  for (unsigned int i = 0; i < mdlen; i++)
    snprintf (out + i * 3, 4, i + 1 < mdlen ? "%02X:" : "%02X", md[i]);
  return 0;
}

char *
soap_normalise_thumbprint (const char *s)
{
  char *out = malloc (strlen (s) * 3 / 2 + 4);
  size_t n = 0, digits = 0;

  if (out == NULL)
    return NULL;
  for (; *s; s++) {
    if (!isxdigit ((unsigned char) *s))
      continue;
    if (digits > 0 && digits % 2 == 0)
      out[n++] = ':';
    out[n++] = toupper ((unsigned char) *s);
    digits++;
  }
  out[n] = '\0';
  return out;
}

static int
thumbprint_of_cert (X509 *cert, char *out, size_t outlen)
{
  unsigned char *der = NULL;
  int len = i2d_X509 (cert, &der), r;

  if (len <= 0)
    return -1;
  r = soap_thumbprint_der (der, len, out, outlen);
  OPENSSL_free (der);
  return r;
}

/* Replaces OpenSSL's chain check: records the leaf's thumbprint, then
 * either compares it with the pinned one or runs the normal check. */
static int
verify_cb (X509_STORE_CTX *sctx, void *opaque)
{
  struct vim *vim = opaque;
  X509 *cert = X509_STORE_CTX_get0_cert (sctx);

  if (cert == NULL
      || thumbprint_of_cert (cert, vim->server_thumbprint,
                             sizeof vim->server_thumbprint) < 0)
    vim->server_thumbprint[0] = '\0';
  if (vim->insecure)
    return 1;
  if (vim->thumbprint) {
    if (strcmp (vim->thumbprint, vim->server_thumbprint) == 0) {
      X509_STORE_CTX_set_error (sctx, X509_V_OK);
      return 1;
    }
    vim->mismatch = true;
    X509_STORE_CTX_set_error (sctx, X509_V_ERR_CERT_REJECTED);
    return 0;
  }
  return X509_verify_cert (sctx);
}

static CURLcode
ssl_ctx_cb (CURL *curl, void *sslctx, void *opaque)
{
  (void) curl;
  SSL_CTX_set_cert_verify_callback (sslctx, verify_cb, opaque);
  return CURLE_OK;
}

/* ---- transport ---- */

int
soap_transport_init (struct vim *vim)
{
  CURL *c = curl_easy_init ();

  if (c == NULL) {
    v2k_error ("cannot initialise libcurl");
    return -1;
  }
  vim->curl = c;
  vim->headers = curl_slist_append (NULL, "Content-Type: text/xml; charset=utf-8");
  vim->headers = curl_slist_append (vim->headers, "Expect:");
  if (vim->headers == NULL) {
    v2k_error ("out of memory");
    return -1;
  }
  curl_easy_setopt (c, CURLOPT_URL, vim->url);
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, vim->errbuf);
  curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c, CURLOPT_COOKIEFILE, "");    /* in-memory cookies */
  curl_easy_setopt (c, CURLOPT_TIMEOUT, vim->timeout > 0 ? vim->timeout : 300L);
  curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt (c, CURLOPT_USERAGENT, "v2k/" V2K_VERSION);
  curl_easy_setopt (c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
  curl_easy_setopt (c, CURLOPT_SSL_CTX_DATA, vim);
  /* The pinned thumbprint replaces both the chain and the name check;
   * insecure skips both (the callback then only records). */
  curl_easy_setopt (c, CURLOPT_SSL_VERIFYPEER, vim->insecure ? 0L : 1L);
  curl_easy_setopt (c, CURLOPT_SSL_VERIFYHOST,
                    vim->insecure || vim->thumbprint ? 0L : 2L);
  return 0;
}

void
soap_transport_free (struct vim *vim)
{
  if (vim->curl)
    curl_easy_cleanup (vim->curl);
  curl_slist_free_all (vim->headers);
  vim->curl = NULL;
  vim->headers = NULL;
}

static int
http_post (struct vim *vim, const char *method, const char *body,
           size_t len, struct buf *resp, long *status)
{
  CURLcode rc;
  struct curl_slist *h = NULL;
  char action[256];
  int ret = -1;

  snprintf (action, sizeof action, "SOAPAction: %s",
            vim->soap_action ? vim->soap_action : "urn:vim25");
  for (struct curl_slist *s = vim->headers; s; s = s->next)
    h = curl_slist_append (h, s->data);
  h = curl_slist_append (h, action);
  if (h == NULL) {
    v2k_error ("out of memory");
    return -1;
  }
  vim->errbuf[0] = '\0';
  vim->mismatch = false;
  curl_easy_setopt (vim->curl, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt (vim->curl, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt (vim->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
  curl_easy_setopt (vim->curl, CURLOPT_WRITEDATA, resp);
  rc = curl_easy_perform (vim->curl);
  if (rc != CURLE_OK) {
    if (vim->mismatch)
      v2k_error ("certificate mismatch for '%s': expected thumbprint %s, "
                 "the server presented %s",
                 vim->host, vim->thumbprint, vim->server_thumbprint);
    else if (rc == CURLE_PEER_FAILED_VERIFICATION && vim->server_thumbprint[0])
      v2k_error ("cannot verify the certificate of '%s' (%s): %s: %s "
                 "(its SHA-1 thumbprint is %s)",
                 vim->host, method, curl_easy_strerror (rc),
                 vim->errbuf[0] ? vim->errbuf : "no details",
                 vim->server_thumbprint);
    else
      v2k_error ("cannot reach vCenter '%s' (%s): %s: %s", vim->host, method,
                 curl_easy_strerror (rc),
                 vim->errbuf[0] ? vim->errbuf : "no details");
    goto cleanup;
  }
  curl_easy_getinfo (vim->curl, CURLINFO_RESPONSE_CODE, status);
  ret = 0;
 cleanup:
  curl_easy_setopt (vim->curl, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all (h);
  return ret;
}

/* Debugging aid: with V2K_VIM_TRACE_DIR set, every response body is
 * saved as DIR/NNNN-METHOD.xml (responses never contain the password;
 * requests are not saved because Login's does).  This is how the
 * recordings under tests/unit/data/vsphere/ were made. */
static void
trace_response (const char *method, const struct buf *b)
{
  static int seq;
  const char *dir = getenv ("V2K_VIM_TRACE_DIR");
  char path[4096];
  FILE *fp;

  if (dir == NULL || b->data == NULL)
    return;
  snprintf (path, sizeof path, "%s/%04d-%s.xml", dir, ++seq, method);
  fp = fopen (path, "w");
  if (fp) {
    fwrite (b->data, 1, b->len, fp);
    fclose (fp);
  }
}

/* ---- envelopes ---- */

int
soap_new (struct soap_req *r, const char *method, const char *this_type,
          const char *this)
{
  xmlNode *env, *body;
  xmlNs *soapns;

  memset (r, 0, sizeof *r);
  r->name = method;
  r->doc = xmlNewDoc (BAD_CAST "1.0");
  if (r->doc == NULL)
    goto oom;
  env = xmlNewNode (NULL, BAD_CAST "Envelope");
  if (env == NULL)
    goto oom;
  xmlDocSetRootElement (r->doc, env);
  soapns = xmlNewNs (env, BAD_CAST SOAPENV_NS, BAD_CAST "soapenv");
  xmlSetNs (env, soapns);
  xmlNewNs (env, BAD_CAST XSI_NS, BAD_CAST "xsi");
  xmlNewNs (env, BAD_CAST "http://www.w3.org/2001/XMLSchema", BAD_CAST "xsd");
  body = xmlNewChild (env, soapns, BAD_CAST "Body", NULL);
  if (body == NULL)
    goto oom;
  r->method = xmlNewChild (body, NULL, BAD_CAST method, NULL);
  if (r->method == NULL)
    goto oom;
  xmlSetNs (r->method, xmlNewNs (r->method, BAD_CAST VIM25_NS, NULL));
  if (soap_add_moref (r->method, "_this", this_type, this) == NULL)
    goto oom;
  return 0;
 oom:
  soap_free (r);
  v2k_error ("out of memory");
  return -1;
}

void
soap_free (struct soap_req *r)
{
  if (r->doc)
    xmlFreeDoc (r->doc);
  r->doc = NULL;
  r->method = NULL;
}

xmlNode *
soap_add (xmlNode *parent, const char *name, const char *text)
{
  xmlNode *n;

  if (parent == NULL)
    return NULL;
  /* xmlNewTextChild escapes the text. */
  n = xmlNewTextChild (parent, NULL, BAD_CAST name, BAD_CAST text);
  if (n)
    xmlSetNs (n, xmlSearchNsByHref (parent->doc, parent, BAD_CAST VIM25_NS));
  return n;
}

xmlNode *
soap_add_typed (xmlNode *parent, const char *name, const char *xsi_type,
                const char *text)
{
  xmlNode *n = soap_add (parent, name, text);
  xmlNs *xsi;

  if (n == NULL)
    return NULL;
  xsi = xmlSearchNsByHref (n->doc, n, BAD_CAST XSI_NS);
  if (xmlNewNsProp (n, xsi, BAD_CAST "type", BAD_CAST xsi_type) == NULL)
    return NULL;
  return n;
}

xmlNode *
soap_add_moref (xmlNode *parent, const char *name, const char *type,
                const char *moref)
{
  xmlNode *n = soap_add (parent, name, moref);

  if (n && xmlNewProp (n, BAD_CAST "type", BAD_CAST type) == NULL)
    return NULL;
  return n;
}

xmlNode *
soap_add_int (xmlNode *parent, const char *name, int64_t v)
{
  char s[32];

  snprintf (s, sizeof s, "%" PRId64, v);
  return soap_add (parent, name, s);
}

xmlNode *
soap_add_bool (xmlNode *parent, const char *name, bool v)
{
  return soap_add (parent, name, v ? "true" : "false");
}

/* ---- faults ---- */

/* The detail type of a SOAP Fault (its <detail> child's xsi:type or
 * element name without "Fault"), or of a LocalizedMethodFault (its
 * <fault>'s xsi:type). */
char *
soap_fault_type (const xmlNode *n)
{
  xmlNode *d = x_child (n, "detail");
  xmlNode *f;
  char *t;

  f = d ? x_child (d, NULL) : x_child (n, "fault");
  if (f == NULL)
    return NULL;
  t = x_type (f);
  if (t == NULL && d) {
    size_t len = strlen ((const char *) f->name);

    t = strdup ((const char *) f->name);
    if (t && len > 5 && strcmp (t + len - 5, "Fault") == 0)
      t[len - 5] = '\0';
  }
  return t;
}

/* Some faults name what they complain about outside the faultstring;
 * add it unless the text already says it. */
static void
fault_extra (const xmlNode *f, const char *text, char *out, size_t len)
{
  static const char *const fields[][2] = {
    { "invalidProperty", "property" }, { "file", "file" }, { "obj", "object" },
  };

  out[0] = '\0';
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    CLEANUP_FREE char *v = x_path_text (f, fields[i][0]);

    if (v && v[0]) {
      if (text == NULL || strstr (text, v) == NULL)
        snprintf (out, len, " (%s '%s')", fields[i][1], v);
      return;
    }
  }
}

int
soap_parse_response (xmlDoc *doc, const char *method, xmlNode **retval,
                     char **fault_type)
{
  xmlNode *root = xmlDocGetRootElement (doc);
  xmlNode *body = x_child (root, "Body");
  xmlNode *first = x_child (body, NULL);

  if (retval)
    *retval = NULL;
  if (fault_type)
    *fault_type = NULL;
  if (root == NULL || strcmp ((const char *) root->name, "Envelope") != 0
      || first == NULL) {
    v2k_error ("%s: the answer is not a SOAP envelope", method);
    return -1;
  }
  if (strcmp ((const char *) first->name, "Fault") == 0) {
    CLEANUP_FREE char *type = soap_fault_type (first);
    CLEANUP_FREE char *text = x_path_text (first, "faultstring");
    xmlNode *d = x_child (x_child (first, "detail"), NULL);
    char extra[512];

    fault_extra (d, text, extra, sizeof extra);
    v2k_error ("vCenter fault '%s': %s%s", type ? type : "unknown",
               text && text[0] ? text : "no message", extra);
    if (fault_type) {
      *fault_type = type;
      type = NULL;
    }
    return -1;
  }
  if (retval)
    *retval = x_child (first, "returnval");
  return 0;
}

int
soap_call_once (struct vim *vim, struct soap_req *r, xmlDoc **resp,
                xmlNode **retval, char **fault_type)
{
  xmlChar *body = NULL;
  int len = 0, ret = -1;
  struct buf b = { 0 };
  long status = 0;
  xmlDoc *doc = NULL;

  *resp = NULL;
  if (fault_type)
    *fault_type = NULL;
  if (r->doc == NULL || r->method == NULL) {
    v2k_error ("%s: out of memory building the request", r->name);
    return -1;
  }
  xmlDocDumpMemoryEnc (r->doc, &body, &len, "UTF-8");
  if (body == NULL) {
    v2k_error ("%s: out of memory building the request", r->name);
    return -1;
  }
  if (http_post (vim, r->name, (const char *) body, len, &b, &status) < 0)
    goto cleanup;
  trace_response (r->name, &b);
  doc = b.data ? x_parse (b.data, b.len) : NULL;
  if (doc == NULL) {
    v2k_error ("vCenter '%s' answered %s with HTTP %ld and no SOAP document",
               vim->host, r->name, status);
    goto cleanup;
  }
  free (vim->last_fault);
  vim->last_fault = NULL;
  if (soap_parse_response (doc, r->name, retval, &vim->last_fault) < 0) {
    if (fault_type && vim->last_fault)
      *fault_type = strdup (vim->last_fault);
    goto cleanup;
  }
  if (status != 200) {
    v2k_error ("vCenter '%s' answered %s with HTTP %ld", vim->host, r->name,
               status);
    goto cleanup;
  }
  *resp = doc;
  doc = NULL;
  ret = 0;
 cleanup:
  if (doc)
    xmlFreeDoc (doc);
  xmlFree (body);
  free (b.data);
  return ret;
}

int
soap_call (struct vim *vim, struct soap_req *r, xmlDoc **resp,
           xmlNode **retval)
{
  CLEANUP_FREE char *fault = NULL;

  if (soap_call_once (vim, r, resp, retval, &fault) == 0)
    return 0;
  if (fault == NULL || strcmp (fault, "NotAuthenticated") != 0
      || !vim->logged_in)
    return -1;
  /* The session expired (or vCenter restarted): once more, afresh. */
  if (session_login (vim) < 0) {
    v2k_error_prefix ("session expired during %s", r->name);
    return -1;
  }
  return soap_call_once (vim, r, resp, retval, NULL);
}
