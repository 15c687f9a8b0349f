/* Scenario files: parsing (good and bad input), image path resolution and
 * checking expectations against run outcomes. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scenario.h"
#include "blkback.h"
#include "unit.h"

#define ERRLEN 512

static int parse(struct xs_scenario *s, const char *text, char *err)
{
    return xs_scenario_parse_text(s, "t.scn", text, err, ERRLEN);
}

/* A failed parse must leave one line naming the place and an empty struct. */
static void expect_error(const char *text, const char *where, const char *phrase)
{
    struct xs_scenario s;
    char err[ERRLEN];
    int rc = parse(&s, text, err);
    ck_assert_msg(rc == -1, "parse succeeded, wanted \"%s\" for:\n%s", phrase, text);
    ck_assert_msg(strstr(err, where) == err, "error \"%s\" does not start with \"%s\"",
                  err, where);
    ck_assert_msg(strstr(err, phrase), "error \"%s\" lacks \"%s\"", err, phrase);
    ck_assert_msg(!strchr(err, '\n'), "error has a newline: \"%s\"", err);
    ck_assert_uint_eq(s.nr_domains, 0);
    ck_assert_uint_eq(s.nr_expects, 0);
    ck_assert_ptr_null(s.expects);
    ck_assert_uint_eq(s.nr_inputs, 0);
    ck_assert_ptr_null(s.inputs);
}

#define D "domain g image=basic\n"

/* ---- good parses ------------------------------------------------------------ */

START_TEST(test_full)
{
    static const char text[] =
        "# A full scenario\n"
        "scenario two-guests_1   # trailing comment\n"
        "\n"
        "   \t\n"
        "domain g1 image=basic memory=128 vcpus=4 cmdline=\"a \\\"b\\\" \\\\ c\\td\\n\" "
        "hypercalls=vmcall\n"
        "domain G_2-x image=../guests/other.elf hypercalls=direct cmdline=plain # c\n"
        "limit vtime=250ms\n"
        "limit exits=1234\n"
        "expect g1 console \"hello # not a comment\"\n"
        "expect g1 console-re \"^x=[0-9]+$\"\n"
        "expect G_2-x no-console \"panic\"\n"
        "expect G_2-x end poweroff\n"
        "expect g1 end crash # why\n";
    struct xs_scenario s;
    char err[ERRLEN] = "untouched";
    ck_assert_int_eq(
        xs_scenario_parse_text(&s, "dir/sub/full.scn", text, err, sizeof(err)), 0);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(s.path, "dir/sub/full.scn");
    ck_assert_str_eq(s.dir, "dir/sub");
    ck_assert_str_eq(s.name, "two-guests_1");
    ck_assert_uint_eq(s.nr_domains, 2);
    ck_assert_str_eq(s.domains[0].name, "g1");
    ck_assert_str_eq(s.domains[0].image, "basic");
    ck_assert_uint_eq(s.domains[0].memory_mib, 128);
    ck_assert_uint_eq(s.domains[0].vcpus, 4);
    ck_assert_str_eq(s.domains[0].cmdline, "a \"b\" \\ c\td\n");
    ck_assert_int_eq(s.domains[0].hypercalls, XS_HC_VMCALL);
    ck_assert_int_eq(s.domains[0].line, 5);
    ck_assert_str_eq(s.domains[1].name, "G_2-x");
    ck_assert_str_eq(s.domains[1].image, "../guests/other.elf");
    ck_assert_str_eq(s.domains[1].cmdline, "plain");
    ck_assert_int_eq(s.domains[1].hypercalls, XS_HC_DIRECT);
    ck_assert_uint_eq(s.domains[1].memory_mib, 64);
    ck_assert_uint_eq(s.vtime_limit_ns, 250000000ULL);
    ck_assert_uint_eq(s.exit_limit, 1234);
    ck_assert_uint_eq(s.nr_expects, 5);
    ck_assert_int_eq(s.expects[0].kind, XS_EXPECT_CONSOLE);
    ck_assert_uint_eq(s.expects[0].domain, 0);
    ck_assert_str_eq(s.expects[0].text, "hello # not a comment");
    ck_assert_int_eq(s.expects[0].line, 9);
    ck_assert_int_eq(s.expects[1].kind, XS_EXPECT_CONSOLE_RE);
    ck_assert_str_eq(s.expects[1].text, "^x=[0-9]+$");
    ck_assert_int_eq(s.expects[2].kind, XS_EXPECT_NO_CONSOLE);
    ck_assert_uint_eq(s.expects[2].domain, 1);
    ck_assert_int_eq(s.expects[3].kind, XS_EXPECT_END);
    ck_assert_int_eq(s.expects[3].end_state, XS_END_POWEROFF);
    ck_assert_int_eq(s.expects[4].end_state, XS_END_CRASH);
    ck_assert_int_eq(s.expects[4].line, 13);
    xs_scenario_free(&s);
    ck_assert_ptr_null(s.expects);
    ck_assert_uint_eq(s.nr_domains, 0);
    xs_scenario_free(&s); /* twice is harmless */
}
END_TEST

START_TEST(test_defaults)
{
    struct xs_scenario s;
    char err[ERRLEN];
    ck_assert_int_eq(parse(&s, "domain g image=basic", err), 0); /* no final newline */
    ck_assert_str_eq(s.name, "");
    ck_assert_str_eq(s.dir, ".");
    ck_assert_uint_eq(s.nr_domains, 1);
    ck_assert_uint_eq(s.domains[0].memory_mib, 64);
    ck_assert_uint_eq(s.domains[0].vcpus, 1);
    ck_assert_str_eq(s.domains[0].cmdline, "");
    ck_assert_int_eq(s.domains[0].hypercalls, XS_HC_DIRECT);
    ck_assert_int_eq(s.domains[0].line, 1);
    ck_assert_uint_eq(s.vtime_limit_ns, 10000000000ULL);
    ck_assert_uint_eq(s.exit_limit, 50000000ULL);
    ck_assert_uint_eq(s.nr_expects, 0);
    xs_scenario_free(&s);
}
END_TEST

START_TEST(test_limits_and_ranges)
{
    static const struct {
        const char *text;
        uint64_t ns;
    } d[] = {{"limit vtime=7ns", 7},
             {"limit vtime=3us", 3000},
             {"limit vtime=5ms", 5000000},
             {"limit vtime=2s", 2000000000},
             {"limit vtime=0018446744073s", 18446744073000000000ULL}};
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        struct xs_scenario s;
        char err[ERRLEN], text[256];
        snprintf(text, sizeof(text), D "%s\n", d[i].text);
        ck_assert_msg(parse(&s, text, err) == 0, "%s: %s", d[i].text, err);
        ck_assert_uint_eq(s.vtime_limit_ns, d[i].ns);
        ck_assert_uint_eq(s.exit_limit, 50000000ULL);
        xs_scenario_free(&s);
    }
    struct xs_scenario s;
    char err[ERRLEN];
    ck_assert_int_eq(parse(&s,
                           "domain a image=x memory=1 vcpus=1\n"
                           "domain b image=x memory=65536 vcpus=128\n"
                           "limit exits=18446744073709551615 vtime=1s\n",
                           err),
                     0);
    ck_assert_uint_eq(s.domains[0].memory_mib, 1);
    ck_assert_uint_eq(s.domains[1].memory_mib, 65536);
    ck_assert_uint_eq(s.domains[1].vcpus, 128);
    ck_assert_uint_eq(s.exit_limit, UINT64_MAX);
    xs_scenario_free(&s);
}
END_TEST

START_TEST(test_lexing_edges)
{
    struct xs_scenario s;
    char err[ERRLEN];
    /* CRLF, tabs, '=' and '#' inside strings, a comment glued to a word, an
     * empty quoted cmdline, a quoted image. */
    ck_assert_int_eq(parse(&s,
                           "\tdomain\tg image=\"my dir/a#b.elf\" cmdline=\"\"#c\r\n"
                           "expect g console \"k=v\"\r\n"
                           "expect g console-re \"a|b\"#c\r\n"
                           "expect g console \"\"\r\n",
                           err),
                     0);
    ck_assert_str_eq(s.domains[0].image, "my dir/a#b.elf");
    ck_assert_str_eq(s.domains[0].cmdline, "");
    ck_assert_uint_eq(s.nr_expects, 3);
    ck_assert_str_eq(s.expects[0].text, "k=v");
    ck_assert_str_eq(s.expects[1].text, "a|b");
    ck_assert_str_eq(s.expects[2].text, "");
    xs_scenario_free(&s);

    /* Longest name, text and line that are still accepted. */
    char text[8192];
    char name[32], cmd[1024];
    memset(name, 'n', 31);
    name[31] = '\0';
    memset(cmd, 'c', 1023);
    cmd[1023] = '\0';
    snprintf(text, sizeof(text), "domain %s image=basic cmdline=\"%s\"\n", name, cmd);
    ck_assert_msg(parse(&s, text, err) == 0, "%s", err);
    ck_assert_str_eq(s.domains[0].name, name);
    ck_assert_str_eq(s.domains[0].cmdline, cmd);
    xs_scenario_free(&s);

    int n = snprintf(text, sizeof(text), D "#");
    memset(text + n, 'x', 4095);
    strcpy(text + n + 4095, "\r\n"); /* the line ending does not count */
    ck_assert_msg(parse(&s, text, err) == 0, "%s", err);
    xs_scenario_free(&s);
}
END_TEST

START_TEST(test_dir)
{
    static const struct {
        const char *path, *dir;
    } t[] = {{"a.scn", "."},    {"x/a.scn", "x"},       {"/a.scn", "/"}, {"//a.scn", "/"},
             {"x//a.scn", "x"}, {"/x/y/a.scn", "/x/y"}, {"./a.scn", "."}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct xs_scenario s;
        char err[ERRLEN];
        ck_assert_int_eq(xs_scenario_parse_text(&s, t[i].path, D, err, sizeof(err)), 0);
        ck_assert_str_eq(s.dir, t[i].dir);
        xs_scenario_free(&s);
    }
}
END_TEST

START_TEST(test_end_state_names)
{
    static const char *names[] = {"running", "poweroff", "reboot",     "suspend",
                                  "crash",   "watchdog", "soft_reset", "fault"};
    static const int states[] = {XS_END_RUNNING,    XS_END_POWEROFF, XS_END_REBOOT,
                                 XS_END_SUSPEND,    XS_END_CRASH,    XS_END_WATCHDOG,
                                 XS_END_SOFT_RESET, XS_END_FAULT};
    for (size_t i = 0; i < 8; i++) {
        ck_assert_int_eq(xs_end_state_parse(names[i]), states[i]);
        ck_assert_str_eq(xs_end_state_name(states[i]), names[i]);

        struct xs_scenario s;
        char err[ERRLEN], text[128];
        snprintf(text, sizeof(text), D "expect g end %s\n", names[i]);
        ck_assert_int_eq(parse(&s, text, err), 0);
        ck_assert_int_eq(s.expects[0].end_state, states[i]);
        xs_scenario_free(&s);
    }
    ck_assert_int_eq(xs_end_state_parse("Crash"), -2);
    ck_assert_int_eq(xs_end_state_parse(""), -2);
    ck_assert_int_eq(xs_end_state_parse(NULL), -2);
    ck_assert_str_eq(xs_end_state_name(42), "unknown");
    ck_assert_str_eq(xs_end_state_name(-2), "unknown");
}
END_TEST

/* ---- errors ------------------------------------------------------------------- */

START_TEST(test_err_statements)
{
    expect_error(D "frobnicate x\n", "t.scn:2: ", "unknown statement 'frobnicate'");
    expect_error(D "\"domain\" x\n", "t.scn:2: ", "unknown statement");
    expect_error(D "x=1\n", "t.scn:2: ", "unknown statement 'x'");
    expect_error("Domain g image=basic\n", "t.scn:1: ", "unknown statement");
    expect_error("scenario a\n" D "scenario b\n",
                 "t.scn:3: ", "duplicate scenario statement (first on line 1)");
    expect_error("scenario\n" D, "t.scn:1: ", "usage: scenario NAME");
    expect_error("scenario a b\n" D, "t.scn:1: ", "usage: scenario NAME");
    expect_error("scenario a.b\n" D, "t.scn:1: ", "invalid scenario name 'a.b'");
    expect_error(D "limit\n", "t.scn:2: ", "usage: limit");
    /* Long user text is shortened in messages. */
    expect_error(D "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij\n", "t.scn:2: ",
                 "unknown statement 'abcdefghijabcdefghijabcdefghijabcdefghij...'");
}
END_TEST

START_TEST(test_err_domain)
{
    expect_error("domain\n", "t.scn:1: ", "usage: domain NAME");
    expect_error("domain g\n", "t.scn:1: ", "domain g: missing image=");
    expect_error("domain g memory=5\n", "t.scn:1: ", "missing image=");
    expect_error(D "domain g image=other\n",
                 "t.scn:2: ", "duplicate domain 'g' (first declared on line 1)");
    expect_error("domain g image=basic colour=red\n",
                 "t.scn:1: ", "domain g: unknown key 'colour'");
    expect_error("domain g image=basic memory=1 memory=2\n",
                 "t.scn:1: ", "duplicate key 'memory'");
    expect_error("domain g image=basic stray\n", "t.scn:1: ", "unexpected 'stray'");
    expect_error("domain g image=basic hypercalls=hvm\n",
                 "t.scn:1: ", "hypercalls must be direct or vmcall");
    expect_error("domain g image=\"\"\n", "t.scn:1: ", "image must not be empty");
    expect_error("domain g image=\n", "t.scn:1: ", "missing value after 'image='");
    expect_error("domain g =x image=basic\n", "t.scn:1: ", "missing key before '='");
    expect_error("domain g image=basic\ndomain g.x image=basic\n",
                 "t.scn:2: ", "invalid domain name 'g.x'");
    expect_error("domain \"g h\" image=basic\n",
                 "t.scn:1: ", "invalid domain name 'g h'");
    expect_error("domain \"\" image=basic\n", "t.scn:1: ", "invalid domain name ''");
    expect_error("domain nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn image=basic\n",
                 "t.scn:1: ", "invalid domain name");
    expect_error("domain g image=basic memory=0\n",
                 "t.scn:1: ", "memory 0 out of range 1..65536");
    expect_error("domain g image=basic memory=65537\n",
                 "t.scn:1: ", "memory 65537 out of range");
    expect_error("domain g image=basic vcpus=0\n",
                 "t.scn:1: ", "vcpus 0 out of range 1..128");
    expect_error("domain g image=basic vcpus=129\n",
                 "t.scn:1: ", "vcpus 129 out of range");

    /* One domain too many. */
    char text[2048];
    size_t n = 0;
    for (int i = 0; i <= XS_SCN_MAX_DOMAINS; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "domain d%d image=basic\n", i);
    expect_error(text, "t.scn:17: ", "too many domains (max 16)");
}
END_TEST

START_TEST(test_err_numbers)
{
    expect_error("domain g image=basic memory=abc\n",
                 "t.scn:1: ", "memory: 'abc' is not a number");
    expect_error("domain g image=basic memory=12M\n", "t.scn:1: ", "is not a number");
    expect_error("domain g image=basic memory=-1\n", "t.scn:1: ", "is not a number");
    expect_error("domain g image=basic vcpus=+1\n", "t.scn:1: ", "is not a number");
    expect_error("domain g image=basic memory=99999999999999999999999\n",
                 "t.scn:1: ", "is too large");
    expect_error(D "limit exits=18446744073709551616\n", "t.scn:2: ", "exits: number");
    expect_error(D "limit exits=18446744073709551616\n", "t.scn:2: ", "too large");
    expect_error(D "limit exits=1e6\n", "t.scn:2: ", "not a number");
    expect_error(D "limit exits=0\n", "t.scn:2: ", "exits must be greater than 0");
    expect_error(D "limit vtime=10\n", "t.scn:2: ", "missing unit");
    expect_error(D "limit vtime=10h\n", "t.scn:2: ", "unknown unit in '10h'");
    expect_error(D "limit vtime=10 s\n", "t.scn:2: ", "missing unit");
    expect_error(D "limit vtime=s\n", "t.scn:2: ", "'s' is not a number");
    expect_error(D "limit vtime=0ms\n", "t.scn:2: ", "vtime must be greater than 0");
    expect_error(D "limit vtime=18446744074s\n",
                 "t.scn:2: ", "duration '18446744074s' is too large");
    expect_error(D "limit vtime=99999999999999999999ns\n", "t.scn:2: ", "too large");
    expect_error(D "limit vtime=1s\nlimit vtime=2s\n",
                 "t.scn:3: ", "duplicate limit vtime (first set on line 2)");
    expect_error(D "limit exits=1 exits=2\n", "t.scn:2: ", "duplicate limit exits");
    expect_error(D "limit cpu=1\n", "t.scn:2: ", "limit: unknown key 'cpu'");
    expect_error(D "limit 5s\n", "t.scn:2: ", "unexpected '5s'");
}
END_TEST

START_TEST(test_err_expect)
{
    expect_error(D "expect h console \"x\"\n", "t.scn:2: ", "unknown domain 'h'");
    /* Domains must be declared before an expectation names them. */
    expect_error("expect g end poweroff\n" D, "t.scn:1: ", "declared before use");
    expect_error(D "expect g output \"x\"\n",
                 "t.scn:2: ", "unknown expectation 'output'");
    expect_error(D "expect g end dead\n", "t.scn:2: ", "unknown end state 'dead'");
    expect_error(D "expect g end \"poweroff\"\n", "t.scn:2: ", "unknown end state");
    expect_error(D "expect g end\n", "t.scn:2: ", "expected exactly one argument");
    expect_error(D "expect g end poweroff crash\n", "t.scn:2: ", "exactly one argument");
    expect_error(D "expect g\n", "t.scn:2: ", "usage: expect");
    expect_error(D "expect g console \"a\" \"b\"\n", "t.scn:2: ", "exactly one argument");
    expect_error(D "expect g console hello\n", "t.scn:2: ", "must be a quoted string");
    expect_error(D "expect g no-console \"a\\nb\"\n",
                 "t.scn:2: ", "cannot contain a newline");
    expect_error(D "expect g console-re \"(\"\n", "t.scn:2: ", "bad regex \"(\": ");
    expect_error(D "expect g console-re \"a{2,1}\"\n", "t.scn:2: ", "bad regex");

    /* The regerror text follows the pattern. */
    regex_t re;
    char msg[256], want[300];
    int rc = regcomp(&re, "[z-a]", REG_EXTENDED | REG_NOSUB);
    ck_assert_int_ne(rc, 0);
    regerror(rc, &re, msg, sizeof(msg));
    snprintf(want, sizeof(want), "bad regex \"[z-a]\": %s", msg);
    expect_error(D "expect g console-re \"[z-a]\"\n", "t.scn:2: ", want);
}
END_TEST

START_TEST(test_err_lexing)
{
    expect_error(D "expect g console \"abc\n", "t.scn:2: ", "unterminated quote");
    expect_error(D "expect g console \"abc\\\"\n", "t.scn:2: ", "unterminated quote");
    expect_error(D "expect g console \"abc\\", "t.scn:2: ", "unterminated quote");
    expect_error("domain g image=basic cmdline=\"x\n", "t.scn:1: ", "unterminated quote");
    expect_error(D "expect g console \"a\\qb\"\n", "t.scn:2: ", "unknown escape '\\q'");
    expect_error(D "expect g console \"a\"b\n",
                 "t.scn:2: ", "unexpected character after closing quote");
    expect_error(D "expect g console a\"b\"\n",
                 "t.scn:2: ", "unexpected quote after 'a'");
    expect_error("domain g image=ba\"sic\"\n",
                 "t.scn:1: ", "unexpected quote in value of image=");

    /* Text one byte over the limit, in each place text is accepted. */
    char text[8192], big[1025];
    memset(big, 't', 1024);
    big[1024] = '\0';
    snprintf(text, sizeof(text), "domain g image=basic cmdline=\"%s\"\n", big);
    expect_error(text, "t.scn:1: ", "cmdline text too long (1024 bytes, max 1023)");
    snprintf(text, sizeof(text), "domain g image=%s\n", big);
    expect_error(text, "t.scn:1: ", "image text too long");
    snprintf(text, sizeof(text), D "expect g no-console \"%s\"\n", big);
    expect_error(text, "t.scn:2: ", "no-console text too long");
    /* Escapes count once decoded: 1023 bytes from 2046 source bytes fit. */
    size_t n = (size_t)snprintf(text, sizeof(text), D "expect g console \"");
    for (int i = 0; i < 1023; i++, n += 2)
        memcpy(text + n, "\\t", 2);
    strcpy(text + n, "\"\n");
    struct xs_scenario s;
    char err[ERRLEN];
    ck_assert_msg(parse(&s, text, err) == 0, "%s", err);
    xs_scenario_free(&s);

    /* A line one byte over 4096. */
    n = (size_t)snprintf(text, sizeof(text), D "domain h image=basic\n#");
    memset(text + n, 'x', 4096);
    strcpy(text + n + 4096, "\n");
    expect_error(text, "t.scn:3: ", "line too long (4097 bytes, max 4096)");
    text[n + 4096] = '\0'; /* same without the final newline */
    expect_error(text, "t.scn:3: ", "line too long");

    /* So many words that they cannot be a statement. */
    n = (size_t)snprintf(text, sizeof(text), "domain g image=basic");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, " x");
    expect_error(text, "t.scn:1: ", "too many words");
}
END_TEST

START_TEST(test_err_whole_file)
{
    expect_error("", "t.scn: ", "no domain declared");
    expect_error("# only comments\n\nscenario x\nlimit vtime=1s\n",
                 "t.scn: ", "no domain declared");
    struct xs_scenario s;
    char err[ERRLEN];
    ck_assert_int_eq(parse(&s, "", err), -1);
    ck_assert_msg(strncmp(err, "t.scn: no", 9) == 0, "%s", err);
    ck_assert_int_eq(xs_scenario_parse_text(&s, "t.scn", NULL, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "t.scn: "));
}
END_TEST

START_TEST(test_err_hygiene)
{
    struct xs_scenario s;
    char err[ERRLEN];
    /* Expectations were allocated before the error: all freed, all zero. */
    memset(&s, 0xa5, sizeof(s));
    ck_assert_int_eq(parse(&s,
                           D "expect g console \"a\"\nexpect g console \"b\"\n"
                             "expect g end bogus\n",
                           err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "t.scn:4: "));
    ck_assert_ptr_null(s.expects);
    ck_assert_uint_eq(s.nr_expects, 0);
    ck_assert_uint_eq(s.nr_domains, 0);
    ck_assert_str_eq(s.path, "");

    /* Control characters from the file or path never split the message. */
    ck_assert_int_eq(xs_scenario_parse_text(&s, "a\nb.scn", "x\x01y\n", err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(strchr(err, '\n'));
    ck_assert_ptr_null(strchr(err, '\x01'));
    ck_assert_ptr_nonnull(strstr(err, ":1: unknown statement"));

    /* Small or absent error buffers are fine. */
    char tiny[8];
    ck_assert_int_eq(xs_scenario_parse_text(&s, "t.scn", "bogus\n", tiny, sizeof(tiny)),
                     -1);
    ck_assert_str_eq(tiny, "t.scn:1");
    ck_assert_int_eq(xs_scenario_parse_text(&s, "t.scn", "bogus\n", NULL, 0), -1);
    ck_assert_int_eq(xs_scenario_parse_text(&s, "t.scn", "bogus\n", tiny, 0), -1);
    ck_assert_int_eq(xs_scenario_parse_text(NULL, "t.scn", D, err, sizeof(err)), -1);
    ck_assert_int_eq(xs_scenario_parse_text(&s, NULL, D, err, sizeof(err)), 0);
    xs_scenario_free(&s);
    xs_scenario_free(NULL);

    /* A path that does not fit is a whole-file error. */
    char path[5000];
    memset(path, 'p', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    char bigerr[6000];
    ck_assert_int_eq(xs_scenario_parse_text(&s, path, D, bigerr, sizeof(bigerr)), -1);
    ck_assert_ptr_nonnull(strstr(bigerr, "ppp: path too long"));
}
END_TEST

/* ---- files ------------------------------------------------------------------------ */

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/xs-scn-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_files)
{
    make_tmpdir();
    char path[256], err[ERRLEN];
    struct xs_scenario s;

    snprintf(path, sizeof(path), "%s/good.scn", tmpdir);
    static const char good[] = "domain g image=basic\nexpect g end poweroff\n";
    write_file(path, good, sizeof(good) - 1);
    ck_assert_msg(xs_scenario_parse_file(&s, path, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(s.path, path);
    ck_assert_str_eq(s.dir, tmpdir);
    ck_assert_uint_eq(s.nr_expects, 1);
    xs_scenario_free(&s);

    static const char nul[] = "domain g image=basic\nexpect g\0 end poweroff\n";
    snprintf(path, sizeof(path), "%s/nul.scn", tmpdir);
    write_file(path, nul, sizeof(nul) - 1);
    ck_assert_int_eq(xs_scenario_parse_file(&s, path, err, sizeof(err)), -1);
    char want[300];
    snprintf(want, sizeof(want), "%s:2: NUL byte", path);
    ck_assert_msg(strstr(err, want) == err, "%s", err);
    ck_assert_ptr_null(s.expects);
    unlink(path);

    snprintf(path, sizeof(path), "%s/missing.scn", tmpdir);
    ck_assert_int_eq(xs_scenario_parse_file(&s, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: cannot open: ", path);
    ck_assert_msg(strstr(err, want) == err, "%s", err);

    ck_assert_int_eq(xs_scenario_parse_file(&s, tmpdir, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, ": cannot"));
    ck_assert_int_eq(xs_scenario_parse_file(&s, NULL, err, sizeof(err)), -1);

    snprintf(path, sizeof(path), "%s/empty.scn", tmpdir);
    write_file(path, "", 0);
    ck_assert_int_eq(xs_scenario_parse_file(&s, path, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, ": no domain declared"));

    /* Bigger than any read buffer: 2000 expectations. */
    snprintf(path, sizeof(path), "%s/big.scn", tmpdir);
    size_t cap = 100000, len = 0;
    char *big = malloc(cap);
    ck_assert_ptr_nonnull(big);
    len += (size_t)snprintf(big, cap, "domain g image=basic\n");
    for (int i = 0; i < 2000; i++)
        len +=
            (size_t)snprintf(big + len, cap - len, "expect g console \"line %d\"\n", i);
    write_file(path, big, len);
    ck_assert_msg(xs_scenario_parse_file(&s, path, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(s.nr_expects, 2000);
    ck_assert_str_eq(s.expects[1999].text, "line 1999");
    ck_assert_int_eq(s.expects[1999].line, 2001);
    xs_scenario_free(&s);
    free(big);
    unlink(path);

    /* Over the 16 MiB sanity cap (a sparse file: cheap to make). */
    snprintf(path, sizeof(path), "%s/huge.scn", tmpdir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 17 << 20, SEEK_SET), 0);
    fputc('\n', f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(xs_scenario_parse_file(&s, path, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "huge.scn: file too large"));
    unlink(path);

    snprintf(path, sizeof(path), "%s/good.scn", tmpdir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/empty.scn", tmpdir);
    unlink(path);
    rmdir(tmpdir);
}
END_TEST

/* ---- image paths ------------------------------------------------------------------- */

START_TEST(test_image_path)
{
    struct xs_scenario s;
    char err[ERRLEN], out[256];
    ck_assert_int_eq(xs_scenario_parse_text(&s, "scn/dir/t.scn",
                                            "domain a image=basic\n"
                                            "domain b image=../g/b.elf\n"
                                            "domain c image=/abs/c.elf\n"
                                            "domain d image=./d.elf\n",
                                            err, sizeof(err)),
                     0);
    ck_assert_int_eq(xs_scenario_image_path(&s, 0, "build/guests", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "build/guests/basic.elf");
    ck_assert_int_eq(xs_scenario_image_path(&s, 0, NULL, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "./basic.elf");
    ck_assert_int_eq(xs_scenario_image_path(&s, 1, "build/guests", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "scn/dir/../g/b.elf");
    ck_assert_int_eq(xs_scenario_image_path(&s, 2, "build/guests", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "/abs/c.elf");
    ck_assert_int_eq(xs_scenario_image_path(&s, 3, "build/guests", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "scn/dir/./d.elf");

    /* Exactly fitting, then one byte short. */
    ck_assert_int_eq(xs_scenario_image_path(&s, 0, "gd", out, strlen("gd/basic.elf") + 1),
                     0);
    ck_assert_str_eq(out, "gd/basic.elf");
    errno = 0;
    ck_assert_int_eq(xs_scenario_image_path(&s, 0, "gd", out, strlen("gd/basic.elf")),
                     -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(xs_scenario_image_path(&s, 1, "gd", out, 8), -1);
    ck_assert_int_eq(xs_scenario_image_path(&s, 2, "gd", out, 4), -1);

    ck_assert_int_eq(xs_scenario_image_path(&s, 4, "gd", out, sizeof(out)), -1);
    ck_assert_int_eq(xs_scenario_image_path(&s, 0, "gd", NULL, 0), -1);
    ck_assert_int_eq(xs_scenario_image_path(NULL, 0, "gd", out, sizeof(out)), -1);
    xs_scenario_free(&s);

    /* Scenario in the current or root directory. */
    ck_assert_int_eq(
        xs_scenario_parse_text(&s, "t.scn", "domain a image=x/a.elf\n", err, sizeof(err)),
        0);
    ck_assert_int_eq(xs_scenario_image_path(&s, 0, "gd", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "./x/a.elf");
    xs_scenario_free(&s);
    ck_assert_int_eq(xs_scenario_parse_text(&s, "/t.scn", "domain a image=x/a.elf\n", err,
                                            sizeof(err)),
                     0);
    ck_assert_int_eq(xs_scenario_image_path(&s, 0, "gd", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "/x/a.elf");
    xs_scenario_free(&s);
}
END_TEST

/* ---- checking ------------------------------------------------------------------------
 */

/* Parse, check against outcomes, return failures; *report gets the text. */
static int run_check(const char *text, const struct xs_domain_outcome *out, char **report)
{
    struct xs_scenario s;
    char err[ERRLEN];
    ck_assert_msg(parse(&s, text, err) == 0, "%s", err);
    size_t len;
    FILE *f = open_memstream(report, &len);
    ck_assert_ptr_nonnull(f);
    int fails = xs_scenario_check(&s, out, f);
    ck_assert_int_eq(fclose(f), 0);
    xs_scenario_free(&s);
    return fails;
}

static struct xs_domain_outcome outcome(const char *console, int end)
{
    struct xs_domain_outcome o = {.console = console,
                                  .console_len = console ? strlen(console) : 0,
                                  .end_state = end};
    return o;
}

#define HAS(report, needle)                                                              \
    ck_assert_msg(strstr((report), (needle)), "report lacks \"%s\":\n%s", (needle),      \
                  (report))

START_TEST(test_check_order)
{
    struct xs_domain_outcome o[2] = {
        outcome("boot\nalpha\nbeta\nalpha\n", XS_END_POWEROFF),
        outcome("beta\nalpha", XS_END_POWEROFF)};
    char *r;
    /* In order, with a repeated line needing two occurrences. */
    ck_assert_int_eq(run_check("domain g image=x\n"
                               "expect g console \"alpha\"\n"
                               "expect g console \"beta\"\n"
                               "expect g console \"alpha\"\n",
                               o, &r),
                     0);
    ck_assert_str_eq(r, "ok   t.scn:2: g console \"alpha\"\n"
                        "ok   t.scn:3: g console \"beta\"\n"
                        "ok   t.scn:4: g console \"alpha\"\n");
    free(r);

    /* A third alpha is not there; beta before alpha is not "after". */
    ck_assert_int_eq(run_check("domain g image=x\n"
                               "expect g console \"alpha\"\n"
                               "expect g console \"alpha\"\n"
                               "expect g console \"alpha\"\n"
                               "expect g console \"beta\"\n",
                               o, &r),
                     2);
    ck_assert_str_eq(r, "ok   t.scn:2: g console \"alpha\"\n"
                        "ok   t.scn:3: g console \"alpha\"\n"
                        "FAIL t.scn:4: g console \"alpha\": no line after line 4 of g's "
                        "console contains \"alpha\"\n"
                        "FAIL t.scn:5: g console \"beta\": no line after line 4 of g's "
                        "console contains \"beta\"\n");
    free(r);

    /* A failed expectation does not move the cursor; domains are separate;
     * the final unterminated line counts. */
    ck_assert_int_eq(run_check("domain g image=x\ndomain h image=x\n"
                               "expect g console \"boot\"\n"
                               "expect g console \"missing\"\n"
                               "expect h console \"alpha\"\n"
                               "expect g console \"alpha\"\n"
                               "expect g console-re \"^b.t\"\n"
                               "expect h console \"beta\"\n",
                               o, &r),
                     2);
    HAS(r, "ok   t.scn:3: g console \"boot\"\n");
    HAS(r, "FAIL t.scn:4: g console \"missing\": no line after line 1 of g's console "
           "contains \"missing\"\n");
    HAS(r, "ok   t.scn:5: h console \"alpha\"\n");
    HAS(r, "ok   t.scn:6: g console \"alpha\"\n");
    HAS(r, "ok   t.scn:7: g console-re \"^b.t\"\n");
    HAS(r, "FAIL t.scn:8: h console \"beta\": no line after line 2 of h's console");
    free(r);

    /* Nothing matched yet: the message says "no line of". */
    ck_assert_int_eq(run_check("domain g image=x\nexpect g console \"zzz\"\n", o, &r), 1);
    ck_assert_str_eq(r,
                     "FAIL t.scn:2: g console \"zzz\": no line of g's console contains "
                     "\"zzz\"\n");
    free(r);
}
END_TEST

START_TEST(test_check_lines)
{
    char *r;
    /* Empty lines are lines; a trailing newline adds none; CR LF is one end. */
    struct xs_domain_outcome o = outcome("a\n\nb\r\n", XS_END_RUNNING);
    ck_assert_int_eq(run_check("domain g image=x\n"
                               "expect g console \"a\"\n"
                               "expect g console \"\"\n"
                               "expect g console-re \"^b$\"\n"
                               "expect g console \"\"\n",
                               &o, &r),
                     1);
    HAS(r, "ok   t.scn:4: g console-re \"^b$\"\n");
    HAS(r, "FAIL t.scn:5: g console \"\": no line after line 3 of g's console");
    free(r);

    /* NUL bytes inside the console do not end it. */
    static const char con[] = "x\0y\nafter\0\nlast";
    struct xs_domain_outcome n = {
        .console = con, .console_len = sizeof(con) - 1, .end_state = XS_END_RUNNING};
    ck_assert_int_eq(run_check("domain g image=x\n"
                               "expect g console \"after\"\n"
                               "expect g console \"last\"\n"
                               "expect g no-console \"y\"\n",
                               &n, &r),
                     1);
    HAS(r, "FAIL t.scn:4: g no-console \"y\": line 1 of g's console contains it: "
           "\"x\\x00y\"\n");
    free(r);
}
END_TEST

START_TEST(test_check_no_console_and_end)
{
    char *r;
    struct xs_domain_outcome o[2] = {outcome("ok\nKernel panic: \"bad\"\n", XS_END_CRASH),
                                     outcome("fine\n", XS_END_POWEROFF)};
    ck_assert_int_eq(run_check("domain g image=x\ndomain h image=x\n"
                               "expect g no-console \"panic\"\n"
                               "expect h no-console \"panic\"\n"
                               "expect g end poweroff\n"
                               "expect h end poweroff\n"
                               "expect g end crash\n",
                               o, &r),
                     2);
    ck_assert_str_eq(r, "FAIL t.scn:3: g no-console \"panic\": line 2 of g's console "
                        "contains it: \"Kernel panic: \\\"bad\\\"\"\n"
                        "ok   t.scn:4: h no-console \"panic\"\n"
                        "FAIL t.scn:5: g end poweroff: g ended 'crash', expected "
                        "'poweroff'\n"
                        "ok   t.scn:6: h end poweroff\n"
                        "ok   t.scn:7: g end crash\n");
    free(r);

    struct xs_domain_outcome f = outcome("", XS_END_FAULT);
    ck_assert_int_eq(run_check("domain g image=x\nexpect g end running\n"
                               "expect g end fault\n",
                               &f, &r),
                     1);
    HAS(r, "g ended 'fault', expected 'running'");
    free(r);
    /* Long offending lines are shortened; control characters escaped. */
    static const char longline[] = "\tpanic 0123456789012345678901234567890123456789"
                                   "0123456789012345678901234567890123456789"
                                   "0123456789012345678901234567890123456789\n";
    struct xs_domain_outcome l = outcome(longline, XS_END_RUNNING);
    ck_assert_int_eq(run_check("domain g image=x\nexpect g no-console \"panic\"\n"
                               "expect g console \"\\tpanic\"\n",
                               &l, &r),
                     1);
    HAS(r, "contains it: \"\\tpanic 0123456789012345678901234567890123456789"
           "012345678901234567890123456789012...\"\n");
    HAS(r, "ok   t.scn:3: g console \"\\tpanic\"\n");
    free(r);
    struct xs_domain_outcome w = outcome("", 77);
    ck_assert_int_eq(run_check("domain g image=x\nexpect g end watchdog\n", &w, &r), 1);
    HAS(r, "g ended 'unknown', expected 'watchdog'");
    free(r);
}
END_TEST

START_TEST(test_check_regex)
{
    char *r;
    struct xs_domain_outcome o =
        outcome("xensim: boot\nresult=42 ticks\nvalue: 0x1f\n", XS_END_POWEROFF);
    ck_assert_int_eq(run_check("domain g image=x\n"
                               "expect g console-re \"^xensim: (boot|start)$\"\n"
                               "expect g console-re \"result=[0-9]+ ticks\"\n"
                               "expect g console-re \"0x[[:xdigit:]]{2}\"\n",
                               &o, &r),
                     0);
    free(r);
    ck_assert_int_eq(run_check("domain g image=x\n"
                               "expect g console-re \"^result\"\n"
                               "expect g console-re \"^xensim\"\n"
                               "expect g console \"ticks\"\n",
                               &o, &r),
                     2);
    HAS(r, "FAIL t.scn:3: g console-re \"^xensim\": no line after line 2 of g's console "
           "matches \"^xensim\"");
    /* The plain console cursor is shared with console-re. */
    HAS(r, "FAIL t.scn:4: g console \"ticks\": no line after line 2");
    free(r);
    /* console text is literal, not a pattern. */
    struct xs_domain_outcome d = outcome("a.b\n", XS_END_POWEROFF);
    ck_assert_int_eq(run_check("domain g image=x\nexpect g console \"a.b\"\n"
                               "expect g no-console \"a*\"\n",
                               &d, &r),
                     0);
    free(r);
}
END_TEST

START_TEST(test_check_robust)
{
    struct xs_scenario s;
    char err[ERRLEN];
    ck_assert_int_eq(parse(&s,
                           "domain g image=x\n"
                           "expect g console \"a\"\n"
                           "expect g console-re \"a\"\n"
                           "expect g no-console \"a\"\n"
                           "expect g end running\n",
                           err),
                     0);
    /* No console at all, even with a bogus length. */
    struct xs_domain_outcome o = {.end_state = XS_END_RUNNING};
    ck_assert_int_eq(xs_scenario_check(&s, &o, NULL), 2);
    o.console_len = 1000;
    ck_assert_int_eq(xs_scenario_check(&s, &o, NULL), 2);
    /* No outcomes: everything fails, politely. */
    char *r;
    size_t len;
    FILE *f = open_memstream(&r, &len);
    ck_assert_int_eq(xs_scenario_check(&s, NULL, f), 4);
    fclose(f);
    HAS(r, "FAIL t.scn:5: g end running: no outcome recorded\n");
    free(r);

    /* Hand-made structs that the parser would never produce. */
    s.expects[0].domain = 7;
    s.expects[1].kind = (enum xs_expect_kind)99;
    memset(s.expects[2].text, 'x', sizeof(s.expects[2].text));
    snprintf(s.expects[3].text, sizeof(s.expects[3].text), "(");
    s.expects[3].kind = XS_EXPECT_CONSOLE_RE;
    o.console = "a\n";
    o.console_len = 2;
    f = open_memstream(&r, &len);
    ck_assert_int_eq(xs_scenario_check(&s, &o, f), 4);
    fclose(f);
    HAS(r, "FAIL t.scn:2: ? console \"a\": no such domain\n");
    HAS(r, ": unknown kind of expectation\n");
    HAS(r, ": text is not terminated\n");
    HAS(r, ": regex does not compile\n");
    free(r);
    xs_scenario_free(&s);

    /* Report lines stay single lines whatever the path or pattern holds. */
    ck_assert_int_eq(xs_scenario_parse_text(&s, "a\x01.scn",
                                            "domain g image=x\n"
                                            "expect g console-re \"a\\nb\"\n",
                                            err, sizeof(err)),
                     0);
    f = open_memstream(&r, &len);
    ck_assert_int_eq(xs_scenario_check(&s, &o, f), 1);
    fclose(f);
    ck_assert_str_eq(r,
                     "FAIL a\\x01.scn:2: g console-re \"a\\nb\": no line of g's console "
                     "matches \"a\\nb\"\n");
    free(r);
    xs_scenario_free(&s);

    ck_assert_int_eq(xs_scenario_check(NULL, NULL, NULL), 0);
    struct xs_scenario empty;
    memset(&empty, 0, sizeof(empty));
    ck_assert_int_eq(xs_scenario_check(&empty, NULL, stdout), 0);
}
END_TEST

/* Mutated and random input: never crashes, errors always well formed. */
START_TEST(test_garbage)
{
    static const char base[] =
        "scenario s\n"
        "domain g image=basic memory=32 vcpus=2 cmdline=\"a\\\"b\"\n"
        "limit vtime=1s exits=100\n"
        "expect g console \"x\"\n"
        "expect g console-re \"^(a|b)+$\"\n"
        "expect g no-console \"y\"\n"
        "expect g end poweroff\n";
    static const char alphabet[] = "\"\\=# \t\n\rab0-_/()[]{}*+?|^$.\x01\x7f\xff";
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    char text[sizeof(base) + 64];
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(text, base, sizeof(base));
        size_t len = sizeof(base) - 1;
        int edits = 1 + (int)(x % 4);
        for (int e = 0; e < edits; e++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t pos = (size_t)(x >> 8) % len;
            char ch = alphabet[(x >> 40) % (sizeof(alphabet) - 1)];
            switch (x % 3) {
            case 0:
                text[pos] = ch;
                break;
            case 1:
                memmove(text + pos, text + pos + 1, len - pos);
                len--;
                break;
            default:
                if (len + 1 < sizeof(text)) {
                    memmove(text + pos + 1, text + pos, len - pos + 1);
                    text[pos] = ch;
                    len++;
                }
            }
        }
        struct xs_scenario s;
        char err[ERRLEN];
        if (parse(&s, text, err) == 0) {
            struct xs_domain_outcome o[XS_SCN_MAX_DOMAINS];
            for (int i = 0; i < XS_SCN_MAX_DOMAINS; i++)
                o[i] = outcome("a\nx\n", XS_END_POWEROFF);
            int fails = xs_scenario_check(&s, o, NULL);
            ck_assert_int_ge(fails, 0);
            ck_assert_int_le(fails, (int)s.nr_expects);
            xs_scenario_free(&s);
        } else {
            ck_assert_msg(strncmp(err, "t.scn:", 6) == 0, "%s", err);
            ck_assert_ptr_null(strchr(err, '\n'));
            ck_assert_ptr_null(s.expects);
        }
    }
}
END_TEST

/* ${domid:NAME} names any declared domain, earlier or later. */
START_TEST(test_domid_expansion)
{
    struct xs_scenario s;
    char err[ERRLEN];
    ck_assert_msg(
        parse(&s,
              "domain a image=x cmdline=\"peer=${domid:b} me=${domid:a}\"\n"
              "domain b image=x cmdline=\"p=${domid:a}${domid:b}$x {domid:a}\"\n",
              err) == 0,
        "%s", err);
    ck_assert_str_eq(s.domains[0].cmdline, "peer=2 me=1");
    ck_assert_str_eq(s.domains[1].cmdline, "p=12$x {domid:a}");
    xs_scenario_free(&s);
    expect_error("domain a image=x\ndomain b image=x cmdline=\"p=${domid:c}\"\n",
                 "t.scn:2: ", "domain b: cmdline: ${domid:c}: no such domain");
    expect_error("domain a image=x cmdline=\"p=${domid:a\"\n",
                 "t.scn:1: ", "unterminated ${domid:");
}
END_TEST

START_TEST(test_device)
{
    struct xs_scenario s;
    char err[ERRLEN];
    ck_assert_msg(parse(&s,
                        "domain f image=x\ndomain b image=x\n"
                        "device vshare frontend=f backend=b\n"
                        "device vshare frontend=f backend=b\n"
                        "device vshare frontend=b backend=f\n"
                        "device vif frontend=f backend=b id=7\n",
                        err) == 0,
                  "%s", err);
    ck_assert_uint_eq(s.nr_devices, 4);
    ck_assert_str_eq(s.devices[0].devclass, "vshare");
    ck_assert_uint_eq(s.devices[0].frontend, 0);
    ck_assert_uint_eq(s.devices[0].backend, 1);
    ck_assert_uint_eq(s.devices[0].id, 0);
    ck_assert_uint_eq(s.devices[1].id, 1); /* next free id of f's vshare */
    ck_assert_uint_eq(s.devices[2].id, 0); /* b's own numbering */
    ck_assert_uint_eq(s.devices[3].id, 7);
    ck_assert_int_eq(s.devices[3].line, 6);
    xs_scenario_free(&s);
#define DD "domain f image=x\ndomain b image=x\n"
    expect_error(DD "device\n", "t.scn:3: ", "usage: device CLASS");
    expect_error(DD "device v.x frontend=f backend=b\n", "t.scn:3: ", "invalid");
    expect_error(DD "device v frontend=f\n",
                 "t.scn:3: ", "device v: needs frontend=DOMAIN and backend=DOMAIN");
    expect_error(DD "device v frontend=f backend=f\n",
                 "t.scn:3: ", "frontend and backend are the same domain");
    expect_error(DD "device v frontend=f backend=z\n",
                 "t.scn:3: ", "device v: backend: unknown domain 'z'");
    expect_error(DD "device v frontend=f backend=b frontend=b\n",
                 "t.scn:3: ", "duplicate key 'frontend'");
    expect_error(DD "device v frontend=f backend=b id=65536\n",
                 "t.scn:3: ", "out of range");
    expect_error(DD "device v frontend=f backend=b colour=red\n",
                 "t.scn:3: ", "unknown key 'colour'");
    expect_error(DD "device v frontend=f backend=b id=3\ndevice v frontend=f backend=b "
                    "id=3\n",
                 "t.scn:4: ", "device v id 3 of f already declared on line 3");
#undef DD
}
END_TEST

START_TEST(test_disk)
{
    struct xs_scenario s;
    char err[ERRLEN];
    ck_assert_msg(xs_scenario_parse_text(&s, "dir/sub/t.scn",
                                         "domain g image=x\ndomain h image=x\n"
                                         "disk g size=4\n"
                                         "disk g path=img/a.raw readonly\n"
                                         "disk h path=/abs/b.raw id=51728\n"
                                         "disk h size=1 readonly id=7 rogue=bad-op\n"
                                         "disk h size=2 attach=5ms detach=1s\n"
                                         "device vbd frontend=g backend=h id=51744\n",
                                         err, ERRLEN) == 0,
                  "%s", err);
    ck_assert_uint_eq(s.nr_disks, 5);
    ck_assert_uint_eq(s.disks[0].domain, 0);
    ck_assert_uint_eq(s.disks[0].size_mib, 4);
    ck_assert_str_eq(s.disks[0].path, "");
    ck_assert(!s.disks[0].readonly);
    ck_assert_uint_eq(s.disks[0].id, 51712); /* xvda */
    ck_assert_uint_eq(s.disks[1].id, 51728); /* g's next: xvdb */
    ck_assert(s.disks[1].readonly);
    ck_assert_uint_eq(s.disks[2].id, 51728);
    ck_assert_uint_eq(s.disks[3].id, 7);
    ck_assert_uint_eq(s.disks[4].id, 51712); /* h's first free */
    ck_assert_int_eq(s.disks[4].line, 7);
    ck_assert_uint_eq(s.disks[0].attach_ns, 0);
    ck_assert_uint_eq(s.disks[0].detach_ns, 0);
    ck_assert_uint_eq(s.disks[4].attach_ns, 5000000);
    ck_assert_uint_eq(s.disks[4].detach_ns, 1000000000);
    ck_assert_int_eq(s.disks[3].rogue, XS_BLKBACK_BAD_OP);
    ck_assert_int_eq(s.disks[4].rogue, XS_BLKBACK_HONEST);
    char path[256];
    ck_assert_int_eq(xs_scenario_disk_path(&s, 0, path, sizeof(path)), 0);
    ck_assert_str_eq(path, "");
    ck_assert_int_eq(xs_scenario_disk_path(&s, 1, path, sizeof(path)), 0);
    ck_assert_str_eq(path, "dir/sub/img/a.raw"); /* relative to the scenario */
    ck_assert_int_eq(xs_scenario_disk_path(&s, 2, path, sizeof(path)), 0);
    ck_assert_str_eq(path, "/abs/b.raw");
    ck_assert_int_eq(xs_scenario_disk_path(&s, 5, path, sizeof(path)), -1);
    ck_assert_int_eq(xs_scenario_disk_path(&s, 1, path, 8), -1);
    xs_scenario_free(&s);
#define DG "domain g image=x\n"
    expect_error(DG "disk\n", "t.scn:2: ", "usage: disk DOMAIN path=FILE|size=MiB");
    expect_error(DG "disk z size=1\n", "t.scn:2: ", "disk: unknown domain 'z'");
    expect_error(DG "disk g\n",
                 "t.scn:2: ", "needs exactly one of path=FILE and size=MiB");
    expect_error(DG "disk g size=1 path=x\n", "t.scn:2: ", "needs exactly one of");
    expect_error(DG "disk g size=0\n", "t.scn:2: ", "disk size (MiB) 0 out of range");
    expect_error(DG "disk g size=1048577\n", "t.scn:2: ", "out of range 1..1048576");
    expect_error(DG "disk g size=1 size=2\n", "t.scn:2: ", "duplicate key 'size'");
    expect_error(DG "disk g path=a path=b\n", "t.scn:2: ", "duplicate key 'path'");
    expect_error(DG "disk g size=1 readonly readonly\n",
                 "t.scn:2: ", "duplicate 'readonly'");
    expect_error(DG "disk g size=1 ro\n", "t.scn:2: ", "unexpected 'ro'");
    expect_error(DG "disk g size=1 colour=red\n", "t.scn:2: ", "unknown key 'colour'");
    expect_error(DG "disk g size=1 attach=5\n", "t.scn:2: ", "disk attach: missing unit");
    expect_error(DG "disk g size=1 rogue=evil\n", "t.scn:2: ",
                 "rogue must be bad-id, bad-status, bad-op or rsp-prod, not 'evil'");
    expect_error(DG "disk g size=1 rogue=honest\n", "t.scn:2: ", "rogue must be");
    expect_error(DG "disk g size=1 rogue=bad-id rogue=bad-op\n",
                 "t.scn:2: ", "duplicate key 'rogue'");
    expect_error(DG "disk g size=1 detach=0s\n",
                 "t.scn:2: ", "disk detach must be greater than 0");
    expect_error(DG "disk g size=1 attach=1ms attach=2ms\n",
                 "t.scn:2: ", "duplicate key 'attach'");
    expect_error(DG "disk g size=1 attach=10ms detach=10ms\n",
                 "t.scn:2: ", "detach must come after attach");
    expect_error(DG "disk g size=1 id=65536\n",
                 "t.scn:2: ", "disk id 65536 out of range");
    expect_error(DG "disk g size=1 id=5\ndisk g size=1 id=5\n",
                 "t.scn:3: ", "disk id 5 of g already declared on line 2");
    expect_error(DG "domain h image=x\ndisk g size=1\ndevice vbd frontend=g backend=h "
                    "id=51712\n",
                 "t.scn:3: ", "disk id 51712 of g is also device vbd on line 4");
    expect_error(DG "disk g size=1 id=65535\ndisk g size=1 id=65535\n",
                 "t.scn:3: ", "already declared");
#undef DG
    /* Too many. */
    char text[4096] = "domain g image=x\n";
    for (unsigned i = 0; i <= XS_SCN_MAX_DISKS; i++)
        strcat(text, "disk g size=1\n");
    expect_error(text, "t.scn:18: ", "too many disks (max 16)");
}
END_TEST

START_TEST(test_input)
{
    struct xs_scenario s;
    char err[ERRLEN];
    ck_assert_msg(parse(&s,
                        "domain a image=x\ndomain b image=x\n"
                        "input a \"hello\\n\"   # a comment\n"
                        "input b \"\"\n"
                        "input a \"tab\\there \\\"q\\\" # not a comment\"\n",
                        err) == 0,
                  "%s", err);
    ck_assert_uint_eq(s.nr_inputs, 3);
    ck_assert_uint_eq(s.inputs[0].domain, 0);
    ck_assert_uint_eq(s.inputs[0].len, 6);
    ck_assert_str_eq(s.inputs[0].text, "hello\n");
    ck_assert_int_eq(s.inputs[0].line, 3);
    ck_assert_uint_eq(s.inputs[1].domain, 1);
    ck_assert_uint_eq(s.inputs[1].len, 0);
    ck_assert_str_eq(s.inputs[2].text, "tab\there \"q\" # not a comment");
    ck_assert_int_eq(s.inputs[2].line, 5);
    xs_scenario_free(&s);
    ck_assert_ptr_null(s.inputs);
    /* Many statements grow the array; the limit is enforced. */
    size_t cap = 64 + (XS_SCN_MAX_INPUTS + 1) * 12;
    char *big = malloc(cap);
    ck_assert_ptr_nonnull(big);
    size_t o = (size_t)snprintf(big, cap, "domain a image=x\n");
    for (unsigned i = 0; i < XS_SCN_MAX_INPUTS; i++)
        o += (size_t)snprintf(big + o, cap - o, "input a \"x\"\n");
    ck_assert_msg(parse(&s, big, err) == 0, "%s", err);
    ck_assert_uint_eq(s.nr_inputs, XS_SCN_MAX_INPUTS);
    xs_scenario_free(&s);
    snprintf(big + o, cap - o, "input a \"x\"\n");
    expect_error(big, "t.scn:1026: ", "too many input statements (max 1024)");
    free(big);
#define DA "domain a image=x\n"
    expect_error(DA "input\n", "t.scn:2: ", "usage: input DOMAIN \"TEXT\"");
    expect_error(DA "input a\n", "t.scn:2: ", "usage: input DOMAIN");
    expect_error(DA "input a hello\n", "t.scn:2: ", "usage: input DOMAIN");
    expect_error(DA "input a \"x\" \"y\"\n", "t.scn:2: ", "usage: input DOMAIN");
    expect_error(DA "input a k=\"x\"\n", "t.scn:2: ", "usage: input DOMAIN");
    expect_error(DA "input \"a\" \"x\"\n", "t.scn:2: ", "usage: input DOMAIN");
    expect_error(DA "input z \"x\"\n", "t.scn:2: ",
                 "input: unknown domain 'z' (domains must be declared before use)");
    expect_error("input a \"x\"\n" DA, "t.scn:1: ", "input: unknown domain 'a'");
    /* Text is limited like every other text value. */
    char *longer = malloc(2 * XS_SCN_TEXT_MAX);
    ck_assert_ptr_nonnull(longer);
    int n = snprintf(longer, 2 * XS_SCN_TEXT_MAX, DA "input a \"%0*d\"\n",
                     XS_SCN_TEXT_MAX, 0);
    ck_assert_int_gt(n, XS_SCN_TEXT_MAX);
    expect_error(longer, "t.scn:2: ", "input text too long (1024 bytes, max 1023)");
    free(longer);
    /* The error message names the statement. */
    expect_error(
        DA "inptu a \"x\"\n", "t.scn:2: ",
        "(expected scenario, domain, device, disk, nic, input, suspend, save, restore, "
        "migrate, limit or expect)");
    /* A failure after some inputs leaves nothing behind. */
    expect_error(DA "input a \"x\"\ninput a \"y\"\nbogus\n",
                 "t.scn:4: ", "unknown statement 'bogus'");
#undef DA
}
END_TEST

static struct xs_domain_outcome with_reports(const char *console, int end,
                                             const char *reports)
{
    struct xs_domain_outcome o = outcome(console, end);
    o.reports = reports;
    o.reports_len = reports ? strlen(reports) : 0;
    return o;
}

START_TEST(test_check_reports)
{
    char *r;
    struct xs_domain_outcome o[2] = {
        with_reports("", XS_END_POWEROFF,
                     "xensim: gnttab leak: d1 (g) still maps grant ref 8 of d2\n"
                     "xensim: gnttab leak: d1 (g) still maps grant ref 9 of d2\n"),
        with_reports("", XS_END_POWEROFF, NULL)};
    /* Ordered like console expectations, on their own cursor. */
    ck_assert_int_eq(run_check("domain g image=x\ndomain h image=x\n"
                               "expect g report \"grant ref 8\"\n"
                               "expect g report-re \"ref [0-9]+ of d2$\"\n"
                               "expect g report \"grant ref 8\"\n"
                               "expect h no-report \"\"\n"
                               "expect g no-report \"ref 10\"\n",
                               o, &r),
                     1);
    HAS(r, "ok   t.scn:3: g report \"grant ref 8\"\n");
    HAS(r, "ok   t.scn:4: g report-re \"ref [0-9]+ of d2$\"\n");
    HAS(r, "FAIL t.scn:5: g report \"grant ref 8\": no line after line 2 of g's "
           "reports contains \"grant ref 8\"\n");
    HAS(r, "ok   t.scn:6: h no-report \"\"\n");
    HAS(r, "ok   t.scn:7: g no-report \"ref 10\"\n");
    free(r);
    /* A report nobody expected fails the run. */
    ck_assert_int_eq(run_check("domain g image=x\ndomain h image=x\n"
                               "expect g end poweroff\n",
                               o, &r),
                     1);
    HAS(r, "FAIL t.scn: g: unexpected sanitizer report: \"xensim: gnttab leak: d1 (g) "
           "still maps grant ref 8 of d2\"\n");
    ck_assert_ptr_null(strstr(r, " h: "));
    free(r);
    /* no-report finds it, with the line number. */
    ck_assert_int_eq(run_check("domain g image=x\ndomain h image=x\n"
                               "expect g report \"leak\"\n"
                               "expect g no-report \"ref 9\"\n",
                               o, &r),
                     1);
    HAS(r, "FAIL t.scn:4: g no-report \"ref 9\": line 2 of g's reports contains it");
    free(r);
    expect_error("domain g image=x\nexpect g report-re \"(\"\n",
                 "t.scn:2: ", "expect g report-re: bad regex");
    expect_error("domain g image=x\nexpect g report \"a\\nb\"\n",
                 "t.scn:2: ", "text cannot contain a newline");
}
END_TEST

Suite *scenario_suite(void)
{
    Suite *s = suite_create("scenario");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_full);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_limits_and_ranges);
    tcase_add_test(tc, test_lexing_edges);
    tcase_add_test(tc, test_dir);
    tcase_add_test(tc, test_end_state_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_err_statements);
    tcase_add_test(tc, test_err_domain);
    tcase_add_test(tc, test_err_numbers);
    tcase_add_test(tc, test_err_expect);
    tcase_add_test(tc, test_err_lexing);
    tcase_add_test(tc, test_err_whole_file);
    tcase_add_test(tc, test_err_hygiene);
    tcase_add_test(tc, test_files);
    suite_add_tcase(s, tc);

    tc = tcase_create("image_path");
    tcase_add_test(tc, test_image_path);
    suite_add_tcase(s, tc);

    tc = tcase_create("check");
    tcase_add_test(tc, test_check_order);
    tcase_add_test(tc, test_check_lines);
    tcase_add_test(tc, test_check_no_console_and_end);
    tcase_add_test(tc, test_check_regex);
    tcase_add_test(tc, test_check_robust);
    tcase_add_test(tc, test_garbage);
    tcase_add_test(tc, test_domid_expansion);
    tcase_add_test(tc, test_device);
    tcase_add_test(tc, test_disk);
    tcase_add_test(tc, test_input);
    tcase_add_test(tc, test_check_reports);
    tcase_set_timeout(tc, 60); /* the garbage loop under sanitizers */
    suite_add_tcase(s, tc);
    return s;
}
