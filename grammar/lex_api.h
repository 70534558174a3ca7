/* lex_api.h: the scanner seen from outside the parser (tests, debugging).
 * The scanner lives in grammar/nn.l; the parser reaches it through
 * nn.tab.h.  Include as "../grammar/lex_api.h" (grammar/ is not on the
 * include path, and this header needs no generated one).
 */
#ifndef NNC_LEX_API_H
#define NNC_LEX_API_H

#include "base.h"

/* Scans src (len bytes, NULs allowed) and prints one line per token,
 * "LINE:COL LEN KIND [VALUE]" (e.g. "2:5 4 number 0.001 real"), to out;
 * lexical errors go to d.  Returns the number of tokens. */
int lex_dump(FILE *out, Diag *d, const char *file, const char *src, size_t len);

#endif
