/* libFuzzer target for the configuration parser (shared/cfg.c) through both
 * daemons' schemas: dnsb_conf_parse and lb_conf_parse on the same text,
 * then, for what parses, the answer tables built from it (dnsb_table_build,
 * lb_table_new). Properties: no crash or sanitizer report, no leak; a text
 * refused has a message naming the file (FILE:LINE: or FILE:).
 * `include:` lines are refused here (the fuzzer would read the machine's
 * files). SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>

#include "dnsb/conf.h"
#include "dnsb/table.h"
#include "dnslb/conf.h"
#include "dnslb/table.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (strstr(text, "include")) {
        free(text);
        return 0;
    }
    char err[1024];
    err[0] = '\0';
    dnsb_conf *b = dnsb_conf_parse("fuzz.conf", text, err, sizeof(err));
    if (!b) {
        FUZZ_CHECK(strncmp(err, "fuzz.conf", 9) == 0, "dnsb: a refusal without FILE:");
    } else {
        dnsb_table *t = dnsb_table_build(b, 1, err, sizeof(err)); /* owns b, also on failure */
        dnsb_table_free(t);
    }
    err[0] = '\0';
    lb_conf *l = lb_conf_parse("fuzz.conf", text, err, sizeof(err));
    if (!l) {
        FUZZ_CHECK(strncmp(err, "fuzz.conf", 9) == 0, "dnslb: a refusal without FILE:");
    } else {
        lb_table *t = lb_table_new(l, 1, NULL);
        lb_table_free(t);
        lb_conf_free(l);
    }
    free(text);
    return 0;
}
