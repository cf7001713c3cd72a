/* The services file: the last SERVICES of every DNS-B, kept on disk so that
 * a restart serves without any (format in dnslb/mapclient.h; calls in
 * dnslb/mapsvc.h). SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/mapsvc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/log.h"

#define FILE_MAGIC "#@ glb-services 1"
#define FILE_MAX (256u << 20) /* a services file larger than this is not ours */

int lb_svcfile_write(const char *path, const lb_svcfile_block *blocks, size_t n, char *err, size_t errlen)
{
    char tmp[1024];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        snprintf(err, errlen, "services-file '%s': name too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "services-file: cannot create '%s': %s", tmp, strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        snprintf(err, errlen, "services-file '%s': %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    fprintf(f, FILE_MAGIC "\n");
    for (size_t i = 0; i < n; i++) {
        const lb_svcfile_block *b = &blocks[i];
        char a[GLB_ADDRSTRLEN];
        if (b->set.serial == 0 && b->set.n == 0)
            continue;
        fprintf(f, "#@ map-server %s id %s serial %" PRIu64 "\n", glb_addrport_str(&b->server, a, sizeof(a)),
                b->id[0] ? b->id : "-", b->set.serial);
        for (size_t k = 0; k < b->set.n; k++) {
            const char *t = b->set.svc[k].text;
            size_t tl = strlen(t);
            fputs(t, f);
            if (tl && t[tl - 1] != '\n')
                fputc('\n', f);
        }
    }
    int bad = fflush(f) != 0 || ferror(f) || fsync(fd) != 0;
    int saved = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (bad || rename(tmp, path) != 0) {
        if (!bad)
            saved = errno;
        snprintf(err, errlen, "services-file: cannot write '%s': %s", path, strerror(saved));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static char *slurp(const char *path, int *missing)
{
    *missing = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        *missing = errno == ENOENT;
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    char chunk[65536];
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + got + 1 > cap) {
            if (len + got > FILE_MAX) {
                errno = EFBIG;
                goto fail;
            }
            cap = (len + got + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                goto fail;
            buf = nb;
        }
        memcpy(buf + len, chunk, got);
        len += got;
    }
    if (ferror(f)) {
        errno = EIO;
        goto fail;
    }
    fclose(f);
    if (!buf && !(buf = malloc(1)))
        return NULL;
    buf[len] = '\0';
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

/* Parses the text of one service found in the file and adds it to b
 * (sorted and checked for names given twice once the file is read). */
static void file_take(lb_svcfile_block *b, const char *path, const char *text, size_t len)
{
    char *t = strndup(text, len);
    char err[1024], org[1200], a[GLB_ADDRSTRLEN];
    lb_msvc mv;
    if (!t) {
        b->set.serial = 0;
        return;
    }
    snprintf(org, sizeof(org), "%s (map-server %s)", path, glb_addrport_str(&b->server, a, sizeof(a)));
    if (lb_msvc_parse(t, org, &mv, err, sizeof(err)) != 0) {
        log_err("services-file: %s; a full set will be asked for", err);
        b->set.serial = 0;
    } else {
        lb_msvc *slot = glb_cfg_push(&b->set.svc, &b->set.n, sizeof(*slot));
        if (!slot) {
            lb_msvc_free(&mv);
            b->set.serial = 0;
        } else {
            *slot = mv;
        }
    }
    free(t);
}

static void file_block_done(lb_svcfile_block *b, const char *path)
{
    lb_svcset *s = &b->set;
    if (s->n)
        qsort(s->svc, s->n, sizeof(*s->svc), lb_msvc_cmp);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k && lb_msvc_cmp(&s->svc[k - 1], &s->svc[i]) == 0) {
            log_err("services-file '%s': a service given twice; a full set will be asked for", path);
            lb_msvc_free(&s->svc[i]);
            s->serial = 0;
            continue;
        }
        s->svc[k++] = s->svc[i];
    }
    s->n = k;
}

/* "#@ map-server ADDR@PORT id ID serial N" (ll bytes at p): 0, or -1 */
static int parse_block_line(const char *p, size_t ll, glb_addr *addr, char *id, size_t idlen, uint64_t *serial)
{
    char line[512], as[128], ids[128];
    unsigned long long s;
    char extra;
    if (ll >= sizeof(line))
        return -1;
    memcpy(line, p, ll);
    line[ll] = '\0';
    if (sscanf(line, "#@ map-server %127s id %127s serial %llu %c", as, ids, &s, &extra) != 3)
        return -1;
    if (glb_addrport_parse(as, 0, addr) != 0)
        return -1;
    if (strcmp(ids, "-") == 0)
        ids[0] = '\0';
    else if (!glb_id_valid(ids))
        return -1;
    snprintf(id, idlen, "%.63s", ids); /* a valid id: at most 63 */
    *serial = s;
    return 0;
}

int lb_svcfile_read(const char *path, lb_svcfile_block *blocks, size_t nblocks, char *err, size_t errlen)
{
    int missing;
    char *text = slurp(path, &missing);
    if (!text) {
        if (missing)
            return 0;
        snprintf(err, errlen, "services-file: cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    if (strncmp(text, FILE_MAGIC "\n", sizeof(FILE_MAGIC)) != 0) {
        snprintf(err, errlen, "services-file '%s': not a services file (no '" FILE_MAGIC "' line)", path);
        free(text);
        return -1;
    }
    unsigned char *seen = calloc(nblocks ? nblocks : 1, 1);
    if (!seen) {
        snprintf(err, errlen, "out of memory");
        free(text);
        return -1;
    }
    lb_svcfile_block *cur = NULL;
    const char *svc_start = NULL; /* text of the service being read */
    char *p = text + sizeof(FILE_MAGIC);
    while (1) {
        char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        const char *q = p;
        while (q < p + ll && (*q == ' ' || *q == '\t'))
            q++;
        int block_line = strncmp(p, "#@", 2) == 0;
        int service_line = !block_line && (size_t)(p + ll - q) >= 8 && strncmp(q, "service:", 8) == 0;
        if (block_line || service_line || !*p) {
            if (cur && svc_start)
                file_take(cur, path, svc_start, (size_t)(p - svc_start));
            svc_start = NULL;
        }
        if (!*p)
            break;
        if (block_line) {
            glb_addr a;
            char id[64];
            uint64_t serial;
            cur = NULL;
            if (parse_block_line(p, ll, &a, id, sizeof(id), &serial) != 0) {
                log_err("services-file '%s': bad line '%.*s' ignored", path, (int)(ll < 200 ? ll : 200), p);
            } else {
                for (size_t i = 0; i < nblocks && !cur; i++)
                    if (!seen[i] && blocks[i].server.family == a.family && blocks[i].server.port == a.port &&
                        memcmp(blocks[i].server.b, a.b, glb_addr_bytes(a.family)) == 0)
                        cur = &blocks[i];
                if (cur) { /* a block of a server no longer configured stays NULL: ignored */
                    seen[cur - blocks] = 1;
                    lb_svcset_clear(&cur->set);
                    snprintf(cur->id, sizeof(cur->id), "%s", id);
                    cur->set.serial = serial;
                }
            }
        } else if (service_line) {
            svc_start = p;
        } else if (cur && !svc_start && q < p + ll && *q != '#') {
            log_err("services-file '%s': text outside a service; a full set will be asked for", path);
            cur->set.serial = 0;
        }
        if (!eol) {
            p += ll; /* at the NUL: the loop flushes and ends */
            continue;
        }
        p = eol + 1;
    }
    for (size_t i = 0; i < nblocks; i++)
        if (seen[i])
            file_block_done(&blocks[i], path);
    free(seen);
    free(text);
    return 0;
}
