/* test_lexer.c: the scanner (grammar/nn.l) token by token.
 *
 * Each test scans a string with lex_dump(), which prints one line per
 * token ("LINE:COL LEN KIND [VALUE]"), and compares that and the
 * diagnostics with what docs/language.md ("The text of a model") says they
 * must be.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "../grammar/lex_api.h"

typedef struct Lexed {
    char *tokens; /* lex_dump's lines */
    char *diags;  /* what error_at printed */
    int errors;
    int n;
} Lexed;

static Lexed lex_bytes(const char *src, size_t len)
{
    Lexed r;
    size_t tl, dl;
    FILE *tok = open_memstream(&r.tokens, &tl);
    FILE *err = open_memstream(&r.diags, &dl);
    Diag d;
    diag_init(&d, err, "t.nn", src, len);
    r.n = lex_dump(tok, &d, "t.nn", src, len);
    fclose(tok);
    fclose(err);
    r.errors = d.errors;
    return r;
}

static Lexed lex(const char *src) { return lex_bytes(src, strlen(src)); }

static void lexed_free(Lexed *r)
{
    free(r->tokens);
    free(r->diags);
}

/* Scans src and checks the token lines and that nothing was reported. */
static void expect_tokens(const char *src, const char *tokens)
{
    Lexed r = lex(src);
    ck_assert_str_eq(r.tokens, tokens);
    ck_assert_str_eq(r.diags, "");
    ck_assert_int_eq(r.errors, 0);
    lexed_free(&r);
}

/* Scans src and checks that the first diagnostic line is `first`. */
static void expect_error(const char *src, int errors, const char *first)
{
    Lexed r = lex(src);
    ck_assert_int_eq(r.errors, errors);
    ck_assert_msg(strncmp(r.diags, first, strlen(first)) == 0,
                  "for %s expected\n%s\ngot\n%s", src, first, r.diags);
    lexed_free(&r);
}

START_TEST(keywords)
{
    expect_tokens("model const input label param output minimize train true false f32 f64 i32",
                  "1:1 5 model\n1:7 5 const\n1:13 5 input\n1:19 5 label\n1:25 5 param\n"
                  "1:31 6 output\n1:38 8 minimize\n1:47 5 train\n1:53 4 true\n1:58 5 false\n"
                  "1:64 3 f32\n1:68 3 f64\n1:72 3 i32\n");
}
END_TEST

START_TEST(identifiers)
{
    expect_tokens("x _y W1 log_every B models trainer f320 T",
                  "1:1 1 identifier x\n1:3 2 identifier _y\n1:6 2 identifier W1\n"
                  "1:9 9 identifier log_every\n1:19 1 identifier B\n1:21 6 identifier models\n"
                  "1:28 7 identifier trainer\n1:36 4 identifier f320\n1:41 1 identifier T\n");
}
END_TEST

START_TEST(operators)
{
    expect_tokens("+ - * / @ ** = : ; , . ( ) [ ] { }",
                  "1:1 1 '+'\n1:3 1 '-'\n1:5 1 '*'\n1:7 1 '/'\n1:9 1 '@'\n1:11 2 '**'\n"
                  "1:14 1 '='\n1:16 1 ':'\n1:18 1 ';'\n1:20 1 ','\n1:22 1 '.'\n1:24 1 '('\n"
                  "1:26 1 ')'\n1:28 1 '['\n1:30 1 ']'\n1:32 1 '{'\n1:34 1 '}'\n");
    /* no spaces needed; *** is ** then * */
    expect_tokens("a**-b***c", "1:1 1 identifier a\n1:2 2 '**'\n1:4 1 '-'\n"
                  "1:5 1 identifier b\n1:6 2 '**'\n1:8 1 '*'\n1:9 1 identifier c\n");
}
END_TEST

START_TEST(dotted_names_are_three_tokens)
{
    expect_tokens("h.W y.l0.W x.T",
                  "1:1 1 identifier h\n1:2 1 '.'\n1:3 1 identifier W\n"
                  "1:5 1 identifier y\n1:6 1 '.'\n1:7 2 identifier l0\n1:9 1 '.'\n"
                  "1:10 1 identifier W\n1:12 1 identifier x\n1:13 1 '.'\n1:14 1 identifier T\n");
}
END_TEST

START_TEST(integers)
{
    expect_tokens("300 0 007 9007199254740992",
                  "1:1 3 number 300\n1:5 1 number 0\n1:7 3 number 7\n"
                  "1:11 16 number 9007199254740992\n");
}
END_TEST

START_TEST(reals)
{
    expect_tokens("0.01 1e-3 .5 2. 1E+2 3e0 1.5e-1 .5e1",
                  "1:1 4 number 0.01 real\n1:6 4 number 0.001 real\n1:11 2 number 0.5 real\n"
                  "1:14 2 number 2 real\n1:17 4 number 100 real\n1:22 3 number 3 real\n"
                  "1:26 6 number 0.14999999999999999 real\n1:33 4 number 5 real\n");
    /* a minus sign is an operator, not part of the number */
    expect_tokens("-1", "1:1 1 '-'\n1:2 1 number 1\n");
}
END_TEST

START_TEST(numbers_out_of_range)
{
    expect_error("x = 9007199254740993;", 1, "t.nn:1:5: error: number out of range\n");
    expect_error("x = 99999999999999999999999999;", 1, "t.nn:1:5: error: number out of range\n");
    expect_error("x = 1e999;", 1,
                 "t.nn:1:5: error: number out of range\n"
                 "x = 1e999;\n"
                 "    ^~~~~\n");
    expect_error("x = 1.5e400 + 2e308;", 2, "t.nn:1:5: error: number out of range\n");
    /* the scanner goes on, and the bad number reads as 0 */
    Lexed r = lex("1e999 7");
    ck_assert_str_eq(r.tokens, "1:1 5 number 0 real\n1:7 1 number 7\n");
    lexed_free(&r);
    /* a tiny real is not an error (it rounds towards 0) */
    expect_tokens("1e-400", "1:1 6 number 0 real\n");
}
END_TEST

START_TEST(overlong_number)
{
    size_t n = 100000;
    char *src = malloc(n + 1);
    memset(src, '7', n);
    src[n] = '\0';
    Lexed r = lex(src);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.errors, 1);
    ck_assert(strstr(r.diags, "number out of range") != NULL);
    lexed_free(&r);
    src[0] = '.'; /* .777...: a long real is fine */
    r = lex(src);
    ck_assert_int_eq(r.errors, 0);
    lexed_free(&r);
    free(src);
}
END_TEST

START_TEST(malformed_numbers)
{
    expect_error("x = 1e;", 1, "t.nn:1:5: error: malformed number '1e'\n");
    expect_error("x = 12abc;", 1, "t.nn:1:5: error: malformed number '12abc'\n");
    expect_error("x = 1e+;", 1, "t.nn:1:5: error: malformed number '1e+'\n");
    expect_error("x = 1.5e-3x;", 1, "t.nn:1:5: error: malformed number '1.5e-3x'\n");
}
END_TEST

START_TEST(strings)
{
    expect_tokens("\"data/train.gz\"", "1:1 15 string data/train.gz\n");
    expect_tokens("\"a\\\"b\\\\c\"", "1:1 9 string a\"b\\c\n");
    expect_tokens("\"\" \"#not a comment\"", "1:1 2 string \n1:4 16 string #not a comment\n");
    expect_tokens("\"\\\\\" x", "1:1 4 string \\\n1:6 1 identifier x\n");
    /* bytes above 0x7f are kept as they are (UTF-8 paths) */
    expect_tokens("\"caf\xc3\xa9\"", "1:1 7 string caf\xc3\xa9\n");
}
END_TEST

START_TEST(string_bad_escape)
{
    expect_error("s = \"a\\nb\";", 1,
                 "t.nn:1:7: error: unknown escape '\\n' in string (only \\\" and \\\\ are escapes)\n"
                 "s = \"a\\nb\";\n"
                 "      ^\n");
    expect_error("s = \"\\\x01\";", 1, "t.nn:1:6: error: unknown escape '\\x01' in string\n");
}
END_TEST

START_TEST(unterminated_strings)
{
    /* at the end of input: the error is at the opening quote */
    expect_error("x = \"abc", 1,
                 "t.nn:1:5: error: unterminated string\n"
                 "x = \"abc\n"
                 "    ^\n");
    /* a newline ends it; scanning goes on with the next line */
    Lexed r = lex("x = \"abc);\ny = 2;");
    ck_assert_int_eq(r.errors, 1);
    ck_assert_str_eq(r.tokens, "1:1 1 identifier x\n1:3 1 '='\n1:5 6 error\n"
                               "2:1 1 identifier y\n2:3 1 '='\n2:5 1 number 2\n2:6 1 ';'\n");
    lexed_free(&r);
    /* an escaped quote does not close it, nor does a trailing backslash */
    expect_error("x = \"abc\\\"", 1, "t.nn:1:5: error: unterminated string\n");
    expect_error("x = \"abc\\\n", 1, "t.nn:1:5: error: unterminated string\n");
}
END_TEST

START_TEST(string_with_nul)
{
    const char src[] = "s = \"a\0b\";";
    Lexed r = lex_bytes(src, sizeof src - 1);
    ck_assert_int_eq(r.errors, 1);
    ck_assert(strstr(r.diags, "t.nn:1:7: error: NUL byte in string") != NULL);
    ck_assert_int_eq(r.n, 4);
    lexed_free(&r);
}
END_TEST

START_TEST(comments)
{
    expect_tokens("# a whole line\nx # the rest \"of\" the line\n#\ny",
                  "2:1 1 identifier x\n4:1 1 identifier y\n");
    /* a comment at the end of input needs no newline */
    expect_tokens("x # no newline", "1:1 1 identifier x\n");
    expect_tokens("#", "");
    /* a quote in a comment opens no string */
    expect_tokens("# \"\nz", "2:1 1 identifier z\n");
}
END_TEST

START_TEST(locations_on_later_lines)
{
    expect_tokens("a\n  bb\n\tc\r\n\n      ddd ;",
                  "1:1 1 identifier a\n2:3 2 identifier bb\n3:2 1 identifier c\n"
                  "5:7 3 identifier ddd\n5:11 1 ';'\n");
    /* tabs count as one column */
    expect_tokens("\t\tx = 1;", "1:3 1 identifier x\n1:5 1 '='\n1:7 1 number 1\n1:8 1 ';'\n");
}
END_TEST

START_TEST(stray_characters)
{
    expect_error("x = a $ b;", 1,
                 "t.nn:1:7: error: stray character '$'\n"
                 "x = a $ b;\n"
                 "      ^\n");
    /* the stray byte is skipped; the rest scans */
    Lexed r = lex("a ? ! ` b");
    ck_assert_int_eq(r.errors, 3);
    ck_assert_str_eq(r.tokens, "1:1 1 identifier a\n1:9 1 identifier b\n");
    lexed_free(&r);
    expect_error("\x7f", 1, "t.nn:1:1: error: stray character '\\x7f'\n");
    expect_error("x\xff", 1, "t.nn:1:2: error: stray character '\\xff'\n");
    expect_error("'", 1, "t.nn:1:1: error: stray character '''\n");
}
END_TEST

START_TEST(nul_bytes)
{
    const char src[] = "a\0b\0\0c";
    Lexed r = lex_bytes(src, sizeof src - 1);
    ck_assert_int_eq(r.errors, 3);
    ck_assert_int_eq(r.n, 3);
    ck_assert(strstr(r.diags, "t.nn:1:2: error: stray character '\\x00'") != NULL);
    ck_assert_str_eq(r.tokens, "1:1 1 identifier a\n1:3 1 identifier b\n1:6 1 identifier c\n");
    lexed_free(&r);
}
END_TEST

START_TEST(binary_junk)
{
    char junk[4096];
    for (int i = 0; i < (int)sizeof junk; i++)
        junk[i] = (char)(i * 37 + 11);
    Lexed r = lex_bytes(junk, sizeof junk);
    ck_assert(r.errors > 0);
    lexed_free(&r);
}
END_TEST

START_TEST(empty_input)
{
    expect_tokens("", "");
    expect_tokens("   \n\t\n", "");
    Lexed r = lex_bytes(NULL, 0);
    ck_assert_int_eq(r.n, 0);
    lexed_free(&r);
}
END_TEST

START_TEST(long_line)
{
    size_t n = 10 * 1000 * 1000;
    char *src = malloc(n);
    for (size_t i = 0; i < n; i += 2) {
        src[i] = 'a';
        src[i + 1] = ' ';
    }
    Lexed r = lex_bytes(src, n);
    ck_assert_int_eq(r.n, (int)(n / 2));
    ck_assert_int_eq(r.errors, 0);
    /* the last token's column is counted right */
    ck_assert(strstr(r.tokens, "1:9999999 1 identifier a\n") != NULL);
    lexed_free(&r);
    free(src);
}
END_TEST

static Suite *lexer_suite(void)
{
    Suite *s = suite_create("lexer");
    TCase *tc = tcase_create("tokens");
    tcase_add_test(tc, keywords);
    tcase_add_test(tc, identifiers);
    tcase_add_test(tc, operators);
    tcase_add_test(tc, dotted_names_are_three_tokens);
    tcase_add_test(tc, integers);
    tcase_add_test(tc, reals);
    tcase_add_test(tc, numbers_out_of_range);
    tcase_add_test(tc, overlong_number);
    tcase_add_test(tc, malformed_numbers);
    tcase_add_test(tc, strings);
    tcase_add_test(tc, string_bad_escape);
    tcase_add_test(tc, unterminated_strings);
    tcase_add_test(tc, string_with_nul);
    tcase_add_test(tc, comments);
    tcase_add_test(tc, locations_on_later_lines);
    tcase_add_test(tc, stray_characters);
    tcase_add_test(tc, nul_bytes);
    tcase_add_test(tc, binary_junk);
    tcase_add_test(tc, empty_input);
    tcase_add_test(tc, long_line);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lexer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
