/* Runs the fuzz entry point over every file of corpus directories (the
 * arguments, or $top_srcdir/tests/fuzz/corpus/GLB_FUZZ_CORPUS, the target's
 * name: proto unless the build says otherwise), so `make check`
 * exercises the fuzz target's checks without libFuzzer. Fails when a
 * directory holds no file. Writes TAP (one test point per directory) for
 * the tap-driver.sh that `make check` reads. SPDX-License-Identifier: BSD-3-Clause */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef GLB_FUZZ_CORPUS
#define GLB_FUZZ_CORPUS "proto"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        if (r == 0)
            break;
        len += r;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int run_dir(int n, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        printf("not ok %d - %s: cannot open\n", n, dir);
        return -1;
    }
    int files = 0, bad = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (run_file(path) != 0)
            bad++;
        files++;
    }
    closedir(d);
    int fail = files == 0 || bad;
    printf("%s %d - %s: %d inputs%s\n", fail ? "not ok" : "ok", n, dir, files, bad ? ", some unreadable" : "");
    return fail ? -1 : 0;
}

int main(int argc, char **argv)
{
    char def[4096];
    if (argc < 2) {
        const char *top = getenv("top_srcdir");
        snprintf(def, sizeof(def), "%s/tests/fuzz/corpus/" GLB_FUZZ_CORPUS, top && *top ? top : ".");
        printf("1..1\n");
        return run_dir(1, def) == 0 ? 0 : 1;
    }
    int rc = 0;
    printf("1..%d\n", argc - 1);
    for (int i = 1; i < argc; i++)
        if (run_dir(i, argv[i]) != 0)
            rc = 1;
    return rc;
}
