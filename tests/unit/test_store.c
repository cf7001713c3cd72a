/* Unit tests for dnsb/store: the LMDB persistence of accepted registrations.
 * Round trips through a real environment in a temporary directory: what a
 * restarted dnsb gets back, what it must never get back (expired, corrupt,
 * mislabelled records), sequences that outlive their registrations, and the
 * one-commit-per-burst promise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <event2/event.h>
#include <lmdb.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dnsb/store.h"
#include "dnsb/storecheck.h"
#include "shared/log.h"

/* ---- helpers ----------------------------------------------------------- */

static char tmpdir[256];

static void rm_rf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char sub[1024];
                snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_store.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(tmpdir);
    return 0;
}

static const char *db_path(void)
{
    static char p[300];
    snprintf(p, sizeof(p), "%s/db", tmpdir);
    return p;
}

static dnsb_store *open_store(void)
{
    char err[256];
    dnsb_store *s = dnsb_store_open(db_path(), DNSB_STORE_REFUSE, err, sizeof(err));
    if (!s)
        fail_msg("open: %s", err);
    return s;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static glb_addr addr(const char *s, uint16_t port)
{
    glb_addr a;
    if (glb_addr_parse(s, &a) != 0)
        fail_msg("bad address %s", s);
    a.port = port;
    return a;
}

static glb_map_claim claim(uint8_t kind, const char *p)
{
    glb_map_claim c;
    const char *why;
    memset(&c, 0, sizeof(c));
    c.kind = kind;
    if (glb_prefix_parse(p, &c.prefix, &why) != 0)
        fail_msg("bad prefix %s: %s", p, why);
    return c;
}

/* A registration with everything a REGISTER can carry. */
typedef struct full_reg {
    glb_addr dns[2], proxy[1];
    glb_map_claim claims[3];
    glb_map_register r;
} full_reg;

static void make_full(full_reg *f, const char *id, uint64_t seq)
{
    memset(f, 0, sizeof(*f));
    f->dns[0] = addr("127.0.0.42", 0);
    f->dns[1] = addr("2001:db8::42", 5353);
    f->proxy[0] = addr("127.0.0.142", 8080);
    f->claims[0] = claim(GLB_MAP_CLAIM_RESOLVER, "127.0.0.4/32");
    f->claims[1] = claim(GLB_MAP_CLAIM_EGRESS, "2001:db8:1::53/128");
    f->claims[2] = claim(GLB_MAP_CLAIM_CLIENT, "10.1.0.0/16");
    f->r.node_id = id;
    f->r.sequence = seq;
    f->r.lifetime = 600;
    f->r.dns = f->dns;
    f->r.ndns = 2;
    f->r.proxy = f->proxy;
    f->r.nproxy = 1;
    f->r.claims = f->claims;
    f->r.nclaims = 3;
    f->r.has_location = 1;
    f->r.location = (glb_map_location){48856600, -2352200};
}

/* A minimal registration: one DNS address, one claim. */
typedef struct small_reg {
    glb_addr dns;
    glb_map_claim claim;
    char id[64];
    glb_map_register r;
} small_reg;

static void make_small(small_reg *s, const char *id, uint64_t seq)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->dns = addr("127.0.0.7", 0);
    s->claim = claim(GLB_MAP_CLAIM_RESOLVER, "192.0.2.0/24");
    s->r.node_id = s->id;
    s->r.sequence = seq;
    s->r.lifetime = 300;
    s->r.dns = &s->dns;
    s->r.ndns = 1;
    s->r.claims = &s->claim;
    s->r.nclaims = 1;
}

/* What dnsb_store_load handed out, copied (reg is valid during the call only). */
#define MAXGOT 1024
typedef struct got_reg {
    char id[64];
    uint64_t seq;
    uint32_t lifetime;
    double expires;
    size_t ndns, nproxy, nclaims;
    glb_addr dns[4], proxy[4];
    glb_map_claim claims[4];
    int has_location;
    glb_map_location loc;
} got_reg;

typedef struct got {
    got_reg regs[MAXGOT];
    size_t nregs;
    char seq_ids[MAXGOT][64];
    uint64_t seqs[MAXGOT];
    size_t nseqs;
} got;

static void on_reg(void *arg, const glb_map_register *reg, double expires)
{
    got *g = arg;
    assert_true(g->nregs < MAXGOT);
    got_reg *o = &g->regs[g->nregs++];
    memset(o, 0, sizeof(*o));
    snprintf(o->id, sizeof(o->id), "%s", reg->node_id);
    o->seq = reg->sequence;
    o->lifetime = reg->lifetime;
    o->expires = expires;
    o->ndns = reg->ndns;
    o->nproxy = reg->nproxy;
    o->nclaims = reg->nclaims;
    for (size_t i = 0; i < reg->ndns && i < 4; i++)
        o->dns[i] = reg->dns[i];
    for (size_t i = 0; i < reg->nproxy && i < 4; i++)
        o->proxy[i] = reg->proxy[i];
    for (size_t i = 0; i < reg->nclaims && i < 4; i++)
        o->claims[i] = reg->claims[i];
    o->has_location = reg->has_location;
    o->loc = reg->location;
}

static void on_seq(void *arg, const char *id, uint64_t seq)
{
    got *g = arg;
    assert_true(g->nseqs < MAXGOT);
    snprintf(g->seq_ids[g->nseqs], 64, "%s", id);
    g->seqs[g->nseqs++] = seq;
}

static got *load(dnsb_store *s, double now, long expect)
{
    got *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    long n = dnsb_store_load(s, now, on_reg, on_seq, g);
    assert_int_equal(n, expect);
    assert_int_equal((size_t)n, g->nregs);
    return g;
}

static const got_reg *find_reg(const got *g, const char *id)
{
    for (size_t i = 0; i < g->nregs; i++)
        if (strcmp(g->regs[i].id, id) == 0)
            return &g->regs[i];
    return NULL;
}

/* The sequence reported for id, 0 when none. */
static uint64_t find_seq(const got *g, const char *id)
{
    for (size_t i = 0; i < g->nseqs; i++)
        if (strcmp(g->seq_ids[i], id) == 0)
            return g->seqs[i];
    return 0;
}

static int addr_eq(const glb_addr *a, const glb_addr *b)
{
    return a->family == b->family && a->port == b->port && memcmp(a->b, b->b, glb_addr_bytes(a->family)) == 0;
}

static int prefix_eq(const glb_prefix *a, const glb_prefix *b)
{
    return a->family == b->family && a->len == b->len && memcmp(a->b, b->b, glb_addr_bytes(a->family)) == 0;
}

static void check_full(const got_reg *o, const full_reg *f, double expires)
{
    assert_non_null(o);
    assert_string_equal(o->id, f->r.node_id);
    assert_int_equal(o->seq, f->r.sequence);
    assert_int_equal(o->lifetime, f->r.lifetime);
    assert_true(fabs(o->expires - expires) < 0.002);
    assert_int_equal(o->ndns, 2);
    assert_true(addr_eq(&o->dns[0], &f->dns[0]));
    assert_true(addr_eq(&o->dns[1], &f->dns[1]));
    assert_int_equal(o->nproxy, 1);
    assert_true(addr_eq(&o->proxy[0], &f->proxy[0]));
    assert_int_equal(o->nclaims, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(o->claims[i].kind, f->claims[i].kind);
        assert_true(prefix_eq(&o->claims[i].prefix, &f->claims[i].prefix));
    }
    assert_int_equal(o->has_location, 1);
    assert_int_equal(o->loc.lat, 48856600);
    assert_int_equal(o->loc.lon, -2352200);
}

/* Raw access to the environment while the store is closed (LMDB does not
 * allow the same environment open twice in one process). */
typedef struct raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi regs, seqs;
} raw;

static void raw_open(raw *r)
{
    assert_int_equal(mdb_env_create(&r->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(r->env, 2), 0);
    assert_int_equal(mdb_env_open(r->env, db_path(), 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "regs", 0, &r->regs), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "seqs", 0, &r->seqs), 0);
}

static void raw_close(raw *r)
{
    assert_int_equal(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

/* Copies the value under key into buf (at most cap); its length. */
static size_t raw_get(raw *r, MDB_dbi dbi, const char *key, uint8_t *buf, size_t cap)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    assert_int_equal(mdb_get(r->txn, dbi, &k, &v), 0);
    assert_true(v.mv_size <= cap);
    memcpy(buf, v.mv_data, v.mv_size);
    return v.mv_size;
}

static int raw_has(raw *r, MDB_dbi dbi, const char *key)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    return mdb_get(r->txn, dbi, &k, &v) == 0;
}

static void raw_put(raw *r, MDB_dbi dbi, const char *key, const void *val, size_t len)
{
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
    assert_int_equal(mdb_put(r->txn, dbi, &k, &v, 0), 0);
}

/* ---- tests ------------------------------------------------------------- */

/* Registrations come back after put + flush with every field intact. */
static void test_round_trip(void **state)
{
    (void)state;
    dnsb_store *s = open_store();
    double now = wall();
    full_reg f;
    small_reg m;
    make_full(&f, "lb42", 17);
    make_small(&m, "lb7", 3);
    assert_int_equal(dnsb_store_put(s, &f.r, now + 600.25), 0);
    assert_int_equal(dnsb_store_put(s, &m.r, now + 300), 0);
    dnsb_store_stats st;
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.puts, 2);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.commits, 0);

    /* not committed yet: a load sees nothing */
    got *g = load(s, now, 0);
    free(g);

    assert_int_equal(dnsb_store_flush(s), 0);
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.commits, 1);

    g = load(s, now, 2);
    check_full(find_reg(g, "lb42"), &f, now + 600.25);
    const got_reg *o = find_reg(g, "lb7");
    assert_non_null(o);
    assert_int_equal(o->seq, 3);
    assert_int_equal(o->lifetime, 300);
    assert_true(fabs(o->expires - (now + 300)) < 0.002);
    assert_int_equal(o->ndns, 1);
    assert_true(addr_eq(&o->dns[0], &m.dns));
    assert_int_equal(o->nproxy, 0);
    assert_int_equal(o->nclaims, 1);
    assert_int_equal(o->claims[0].kind, GLB_MAP_CLAIM_RESOLVER);
    assert_true(prefix_eq(&o->claims[0].prefix, &m.claim.prefix));
    assert_int_equal(o->has_location, 0);
    /* both sequences are recorded */
    assert_int_equal(g->nseqs, 2);
    assert_int_equal(find_seq(g, "lb42"), 17);
    assert_int_equal(find_seq(g, "lb7"), 3);
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.loaded, 2);
    assert_int_equal(st.expired, 0);
    assert_int_equal(st.corrupt, 0);
    free(g);

    /* a newer put replaces the record */
    make_small(&m, "lb7", 4);
    m.dns = addr("127.0.0.8", 0);
    assert_int_equal(dnsb_store_put(s, &m.r, now + 900), 0);
    assert_int_equal(dnsb_store_flush(s), 0);
    g = load(s, now, 2);
    o = find_reg(g, "lb7");
    assert_non_null(o);
    assert_int_equal(o->seq, 4);
    assert_true(addr_eq(&o->dns[0], &m.dns));
    assert_true(fabs(o->expires - (now + 900)) < 0.002);
    assert_int_equal(find_seq(g, "lb7"), 4);
    free(g);
    dnsb_store_close(s);
}

/* A record past its expiry is not handed out and is deleted, so it stays
 * gone even when loaded again "earlier"; its sequence stays. */
static void test_expired(void **state)
{
    (void)state;
    dnsb_store *s = open_store();
    double now = wall();
    small_reg a, b;
    make_small(&a, "lb-short", 5);
    make_small(&b, "lb-long", 6);
    assert_int_equal(dnsb_store_put(s, &a.r, now + 10), 0);
    assert_int_equal(dnsb_store_put(s, &b.r, now + 100), 0);
    assert_int_equal(dnsb_store_flush(s), 0);

    got *g = load(s, now + 50, 1);
    assert_non_null(find_reg(g, "lb-long"));
    assert_null(find_reg(g, "lb-short"));
    /* the sequence of an expired registration is kept (replays stay stale) */
    assert_int_equal(find_seq(g, "lb-short"), 5);
    free(g);
    dnsb_store_stats st;
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.loaded, 1);

    /* deleted: a load at a time it would still be valid does not see it */
    g = load(s, now, 1);
    assert_null(find_reg(g, "lb-short"));
    assert_int_equal(find_seq(g, "lb-short"), 5);
    free(g);
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.expired, 1);

    /* expiring exactly now counts as expired */
    g = load(s, now + 100, 0);
    free(g);
    dnsb_store_close(s);

    s = open_store();
    g = load(s, now, 0);
    assert_int_equal(find_seq(g, "lb-long"), 6);
    free(g);
    dnsb_store_close(s);
}

/* A withdrawal (del with a sequence) removes the registration and records
 * the sequence; a later load, also after a restart, still reports it. */
static void test_del_keeps_sequence(void **state)
{
    (void)state;
    dnsb_store *s = open_store();
    double now = wall();
    small_reg a, b;
    make_small(&a, "lb7", 5);
    make_small(&b, "lb8", 3);
    assert_int_equal(dnsb_store_put(s, &a.r, now + 600), 0);
    assert_int_equal(dnsb_store_put(s, &b.r, now + 600), 0);
    assert_int_equal(dnsb_store_flush(s), 0);

    assert_int_equal(dnsb_store_del(s, "lb7", 9), 0); /* withdrawal with sequence 9 */
    assert_int_equal(dnsb_store_del(s, "lb8", 0), 0); /* removal that leaves the sequence alone */
    assert_int_equal(dnsb_store_del(s, "lb-never", 4), 0); /* nothing to remove: the sequence still counts */
    dnsb_store_stats st;
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.dels, 3);
    assert_int_equal(st.pending, 3);
    assert_int_equal(dnsb_store_flush(s), 0);

    got *g = load(s, now, 0);
    assert_int_equal(find_seq(g, "lb7"), 9);
    assert_int_equal(find_seq(g, "lb8"), 3);
    assert_int_equal(find_seq(g, "lb-never"), 4);
    assert_int_equal(g->nseqs, 3);
    free(g);
    dnsb_store_close(s);

    s = open_store();
    g = load(s, now + 3600, 0);
    assert_int_equal(find_seq(g, "lb7"), 9);
    assert_int_equal(find_seq(g, "lb8"), 3);
    free(g);

    /* a sequence record unchanged for DNSB_STORE_SEQ_KEEP is pruned */
    g = load(s, now + DNSB_STORE_SEQ_KEEP + 60, 0);
    assert_int_equal(g->nseqs, 0);
    free(g);
    g = load(s, now, 0);
    assert_int_equal(g->nseqs, 0);
    free(g);
    dnsb_store_close(s);
}

/* Committed data survives close + reopen; close commits what is queued. */
static void test_reopen(void **state)
{
    (void)state;
    double now = wall();
    dnsb_store *s = open_store();
    full_reg f;
    small_reg m;
    make_full(&f, "lb42", 17);
    make_small(&m, "lb7", 2);
    assert_int_equal(dnsb_store_put(s, &f.r, now + 600), 0);
    assert_int_equal(dnsb_store_flush(s), 0);
    assert_int_equal(dnsb_store_put(s, &m.r, now + 600), 0); /* queued only */
    dnsb_store_close(s);

    s = open_store();
    dnsb_store_stats st;
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.commits, 0); /* a fresh store's counters */
    assert_int_equal(st.loaded, 0);
    got *g = load(s, now, 2);
    check_full(find_reg(g, "lb42"), &f, now + 600);
    assert_non_null(find_reg(g, "lb7"));
    assert_int_equal(find_seq(g, "lb7"), 2);
    free(g);
    dnsb_store_close(s);
    dnsb_store_close(NULL); /* fine */
}

/* Records that fail the checks are skipped, counted and deleted; the good
 * ones next to them still load. */
static void test_corrupt(void **state)
{
    (void)state;
    double now = wall();
    dnsb_store *s = open_store();
    const char *ids[] = {"lb1", "lb2", "lb3", "lb4", "lb5", "lb6", "lb7"};
    small_reg r[7];
    for (size_t i = 0; i < 7; i++) {
        make_small(&r[i], ids[i], 10 + i);
        assert_int_equal(dnsb_store_put(s, &r[i].r, now + 600), 0);
    }
    assert_int_equal(dnsb_store_flush(s), 0);
    dnsb_store_close(s);

    raw w;
    raw_open(&w);
    uint8_t good[4096], bad[4096];
    size_t len = raw_get(&w, w.regs, "lb1", good, sizeof(good));
    assert_true(len > 16 + 8);
    /* lb2: garbage */
    raw_put(&w, w.regs, "lb2", "this is not a registration record", 33);
    /* lb3: a flipped magic byte */
    memcpy(bad, good, len);
    bad[0] ^= 0x20;
    raw_put(&w, w.regs, "lb3", bad, len);
    /* lb4: truncated by one byte (the frame's length no longer matches) */
    raw_get(&w, w.regs, "lb4", bad, sizeof(bad));
    raw_put(&w, w.regs, "lb4", bad, len - 1);
    /* lb5: lb1's record under lb5's key (node-id differs from the key) */
    raw_put(&w, w.regs, "lb5", good, len);
    /* lb6: flipped bytes inside the frame: the REGISTER's first field tag */
    raw_get(&w, w.regs, "lb6", bad, sizeof(bad));
    bad[16 + 8] ^= 0xff;
    bad[16 + 9] ^= 0xff;
    raw_put(&w, w.regs, "lb6", bad, len);
    /* lb8: a record of an unknown format version */
    memcpy(bad, good, len);
    bad[4] = 2;
    raw_put(&w, w.regs, "lb8", bad, len);
    raw_close(&w);

    s = open_store();
    got *g = load(s, now, 2);
    assert_non_null(find_reg(g, "lb1"));
    assert_non_null(find_reg(g, "lb7"));
    assert_int_equal(find_reg(g, "lb1")->seq, 10);
    assert_int_equal(find_reg(g, "lb7")->seq, 16);
    free(g);
    dnsb_store_stats st;
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.corrupt, 6);
    assert_int_equal(st.loaded, 2);

    /* deleted: not counted again */
    g = load(s, now, 2);
    free(g);
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.corrupt, 6);
    dnsb_store_close(s);

    raw_open(&w);
    assert_true(raw_has(&w, w.regs, "lb1"));
    assert_true(raw_has(&w, w.regs, "lb7"));
    const char *gone[] = {"lb2", "lb3", "lb4", "lb5", "lb6", "lb8"};
    for (size_t i = 0; i < 6; i++)
        if (raw_has(&w, w.regs, gone[i]))
            fail_msg("corrupt record %s was not deleted", gone[i]);
    /* a bad sequence record (wrong length) is not reported and is deleted */
    raw_put(&w, w.seqs, "lb9", "short", 5);
    raw_close(&w);

    s = open_store();
    g = load(s, now, 2);
    assert_int_equal(find_seq(g, "lb9"), 0);
    assert_int_equal(find_seq(g, "lb1"), 10);
    free(g);
    dnsb_store_close(s);
    raw_open(&w);
    assert_false(raw_has(&w, w.seqs, "lb9"));
    raw_close(&w);
}

/* A registration that does not encode is refused and nothing is queued. */
static void test_put_refused(void **state)
{
    (void)state;
    dnsb_store *s = open_store();
    small_reg m;
    make_small(&m, "Not_An_Id", 1);
    assert_int_equal(dnsb_store_put(s, &m.r, wall() + 60), -1);
    make_small(&m, "lb1", 0); /* sequence 0 is invalid */
    assert_int_equal(dnsb_store_put(s, &m.r, wall() + 60), -1);
    dnsb_store_stats st;
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.puts, 0);
    dnsb_store_close(s);
}

/* dnsb_store_prepare creates the directory (and parents) with mode 0700. */
static void test_prepare(void **state)
{
    (void)state;
    char dir[400], err[256];
    snprintf(dir, sizeof(dir), "%s/a/b/c", tmpdir);
    mode_t old = umask(0);
    int rc = dnsb_store_prepare(dir, NULL, err, sizeof(err));
    umask(old);
    if (rc != 0)
        fail_msg("prepare: %s", err);
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0700);
    snprintf(dir, sizeof(dir), "%s/a", tmpdir);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700);
    /* an existing directory is fine */
    snprintf(dir, sizeof(dir), "%s/a/b/c", tmpdir);
    assert_int_equal(dnsb_store_prepare(dir, "", err, sizeof(err)), 0);

    /* a file in the way is an error naming the path */
    snprintf(dir, sizeof(dir), "%s/file", tmpdir);
    FILE *fp = fopen(dir, "w");
    assert_non_null(fp);
    fclose(fp);
    err[0] = '\0';
    assert_int_equal(dnsb_store_prepare(dir, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, dir));
    assert_null(dnsb_store_open(dir, DNSB_STORE_REFUSE, err, sizeof(err)));

    /* as root, the directory and the database files go to the user */
    if (getuid() == 0) {
        struct passwd *pw = getpwnam("nobody");
        snprintf(dir, sizeof(dir), "%s/a/b/c", tmpdir);
        dnsb_store *s0 = dnsb_store_open(dir, DNSB_STORE_REFUSE, err, sizeof(err));
        if (!s0)
            fail_msg("open: %s", err);
        dnsb_store_close(s0);
        if (pw) {
            if (dnsb_store_prepare(dir, "nobody", err, sizeof(err)) != 0)
                fail_msg("prepare: %s", err);
            assert_int_equal(stat(dir, &sb), 0);
            assert_int_equal(sb.st_uid, pw->pw_uid);
            char f[600];
            snprintf(f, sizeof(f), "%s/data.mdb", dir);
            assert_int_equal(stat(f, &sb), 0);
            assert_int_equal(sb.st_uid, pw->pw_uid);
        }
        err[0] = '\0';
        assert_int_equal(dnsb_store_prepare(dir, "no-such-user-glb", err, sizeof(err)), -1);
        assert_non_null(strstr(err, "no-such-user-glb"));
    }

    /* dnsb_store_open creates its directory 0700 too */
    snprintf(dir, sizeof(dir), "%s/x/y", tmpdir);
    old = umask(0);
    dnsb_store *s = dnsb_store_open(dir, DNSB_STORE_REFUSE, err, sizeof(err));
    umask(old);
    if (!s)
        fail_msg("open: %s", err);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700);
    dnsb_store_close(s);
}

/* Many puts between flushes cost one commit. */
static void test_one_commit(void **state)
{
    (void)state;
    dnsb_store *s = open_store();
    double now = wall();
    enum { N = 500 };
    for (int i = 0; i < N; i++) {
        small_reg m;
        char id[32];
        snprintf(id, sizeof(id), "lb%d", i);
        make_small(&m, id, (uint64_t)i + 1);
        assert_int_equal(dnsb_store_put(s, &m.r, now + 600), 0);
    }
    assert_int_equal(dnsb_store_del(s, "lb0", 1000), 0);
    dnsb_store_stats st;
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.pending, N + 1);
    assert_int_equal(st.commits, 0);
    assert_int_equal(dnsb_store_flush(s), 0);
    assert_int_equal(dnsb_store_flush(s), 0); /* nothing queued: no commit */
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.commits, 1);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.errors, 0);
    /* in order: the put of lb0 then its withdrawal */
    got *g = load(s, now, N - 1);
    assert_null(find_reg(g, "lb0"));
    assert_int_equal(find_seq(g, "lb0"), 1000);
    assert_int_equal(find_reg(g, "lb499")->seq, 500);
    free(g);
    dnsb_store_close(s);
}

/* A commit that fails (here the file may not grow, RLIMIT_FSIZE, as on a
 * full disk) keeps its changes, a newer change of an id replacing the one
 * queued, and a later flush writes them all. */
static void test_retry_after_failure(void **state)
{
    (void)state;
    dnsb_store *s = open_store();
    double now = wall();
    small_reg m;
    make_small(&m, "lb0", 1);
    assert_int_equal(dnsb_store_put(s, &m.r, now + 600), 0);
    assert_int_equal(dnsb_store_flush(s), 0);
    char path[600];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/data.mdb", db_path());
    assert_int_equal(stat(path, &sb), 0);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)sb.st_size;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of the signal */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    enum { N = 300 }; /* more than the free pages the first commit left */
    for (int i = 1; i <= N; i++) {
        char id[32];
        snprintf(id, sizeof(id), "lb%d", i);
        make_small(&m, id, (uint64_t)i + 1);
        assert_int_equal(dnsb_store_put(s, &m.r, now + 600), 0);
    }
    dnsb_store_stats st;
    int rc = dnsb_store_flush(s);
    dnsb_store_get_stats(s, &st);
    assert_int_equal(rc, -1);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.pending, N);
    make_small(&m, "lb1", 1000); /* replaces lb1's queued change */
    assert_int_equal(dnsb_store_put(s, &m.r, now + 600), 0);
    assert_int_equal(dnsb_store_del(s, "lb2", 0), 0);    /* replaces lb2's, keeping its sequence 3 */
    assert_int_equal(dnsb_store_del(s, "lb0", 2000), 0); /* lb0 had none queued: one more */
    rc = dnsb_store_flush(s);
    dnsb_store_get_stats(s, &st);
    assert_int_equal(rc, -1);
    assert_int_equal(st.errors, 2);
    assert_int_equal(st.pending, N + 1);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(dnsb_store_flush(s), 0);
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.pending, 0);
    got *g = load(s, now, N - 1); /* lb1..lbN but lb2 */
    assert_null(find_reg(g, "lb0"));
    assert_int_equal(find_seq(g, "lb0"), 2000);
    assert_int_equal(find_reg(g, "lb1")->seq, 1000);
    assert_null(find_reg(g, "lb2"));
    assert_int_equal(find_seq(g, "lb2"), 3);
    assert_int_equal(find_reg(g, "lb300")->seq, 301);
    free(g);
    dnsb_store_close(s);
}

static void stop_loop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    event_base_loopbreak(arg);
}

/* Attached to an event loop, a burst is committed once, by the timer,
 * about DNSB_STORE_COMMIT_MS after its first change. */
static void test_timer_commit(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    dnsb_store *s = open_store();
    assert_int_equal(dnsb_store_attach(s, base), 0);
    double now = wall();
    for (int i = 0; i < 200; i++) {
        small_reg m;
        char id[32];
        snprintf(id, sizeof(id), "lb%d", i);
        make_small(&m, id, 1);
        assert_int_equal(dnsb_store_put(s, &m.r, now + 600), 0);
    }
    dnsb_store_stats st;
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.commits, 0);
    struct event *stop = evtimer_new(base, stop_loop, base);
    struct timeval tv = {0, (DNSB_STORE_COMMIT_MS * 3) * 1000};
    evtimer_add(stop, &tv);
    event_base_dispatch(base);
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.commits, 1);
    assert_int_equal(st.pending, 0);
    got *g = load(s, now, 200);
    free(g);

    /* a later change arms the timer again */
    small_reg m;
    make_small(&m, "lb-late", 1);
    assert_int_equal(dnsb_store_put(s, &m.r, now + 600), 0);
    evtimer_add(stop, &tv);
    event_base_dispatch(base);
    dnsb_store_get_stats(s, &st);
    assert_int_equal(st.commits, 2);
    g = load(s, now, 201);
    free(g);
    event_free(stop);
    dnsb_store_close(s);
    event_base_free(base);
}

/* ---- a damaged data.mdb -------------------------------------------------- */

/* A database of 600 small registrations and 8 whose records need overflow
 * pages, written in one transaction (every page in use), then closed.
 * Returns the size of data.mdb. */
#define DMG_SMALL 600
#define DMG_BIG 8
static off_t build_db(double now)
{
    dnsb_store *s = open_store();
    small_reg *m = calloc(DMG_SMALL, sizeof(*m));
    assert_non_null(m);
    for (int i = 0; i < DMG_SMALL; i++) {
        char id[64];
        snprintf(id, sizeof(id), "lb%04d", i);
        make_small(&m[i], id, 1);
        assert_int_equal(dnsb_store_put(s, &m[i].r, now + 600), 0);
    }
    static glb_map_claim many[200];
    for (int i = 0; i < 200; i++) {
        char p[32];
        snprintf(p, sizeof(p), "10.%d.%d.0/24", i / 100, i % 100);
        many[i] = claim(GLB_MAP_CLAIM_RESOLVER, p);
    }
    for (int i = 0; i < DMG_BIG; i++) {
        small_reg b;
        char id[64];
        snprintf(id, sizeof(id), "big%d", i);
        make_small(&b, id, 1);
        b.r.claims = many;
        b.r.nclaims = 200;
        assert_int_equal(dnsb_store_put(s, &b.r, now + 600), 0);
    }
    assert_int_equal(dnsb_store_flush(s), 0);
    dnsb_store_close(s);
    free(m);
    char path[400];
    snprintf(path, sizeof(path), "%s/data.mdb", db_path());
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

enum damage { DMG_TRUNCATED, DMG_GARBAGE, DMG_ZERO_META, DMG_EMPTY };
static const char *const damage_name[] = {"truncated", "garbage in the middle", "zeroed meta page", "0 bytes"};
/* What the message says for each. */
static const char *const damage_why[] = {"truncated: ", "page ", "meta page 0: not a meta page", "empty (0 bytes)"};

static void damage(enum damage d, off_t size)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/data.mdb", db_path());
    long ps = sysconf(_SC_PAGESIZE);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    if (d == DMG_TRUNCATED) {
        assert_int_equal(ftruncate(fileno(f), size / 2), 0);
    } else if (d == DMG_EMPTY) {
        assert_int_equal(ftruncate(fileno(f), 0), 0);
    } else {
        /* garbage: 3 pages of noise from the middle page on; zeroed meta: page 0 */
        size_t len = d == DMG_GARBAGE ? 3 * (size_t)ps : (size_t)ps;
        off_t at = d == DMG_GARBAGE ? (size / 2 / ps) * ps : 0;
        uint8_t *b = calloc(1, len);
        assert_non_null(b);
        unsigned seed = 11;
        for (size_t i = 0; d == DMG_GARBAGE && i < len; i++)
            b[i] = (uint8_t)rand_r(&seed);
        assert_int_equal(fseeko(f, at, SEEK_SET), 0);
        assert_int_equal(fwrite(b, 1, len, f), len);
        free(b);
    }
    fclose(f);
}

/* The names in the database directory that start with prefix. */
static int count_files(const char *prefix)
{
    DIR *dir = opendir(db_path());
    assert_non_null(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(dir);
    return n;
}

/* Each kind of damage, with each choice: refused with a message naming the
 * file and what is wrong (the file left in place), or moved aside and a new
 * empty database that works. Before: SIGBUS at the first read, a vague
 * MDB_INVALID, or an empty file silently recreated. */
static void test_damaged(void **state)
{
    (void)state;
    double now = wall();
    for (int d = DMG_TRUNCATED; d <= DMG_EMPTY; d++) {
        for (int policy = DNSB_STORE_MOVE_ASIDE; policy <= DNSB_STORE_REFUSE; policy++) {
            rm_rf(db_path());
            off_t size = build_db(now);
            if (d == DMG_TRUNCATED && policy == DNSB_STORE_MOVE_ASIDE) { /* intact, it all loads */
                dnsb_store *s = open_store();
                free(load(s, now, DMG_SMALL + DMG_BIG));
                dnsb_store_close(s);
            }
            damage((enum damage)d, size);
            print_message("# %s, %s\n", damage_name[d], policy == DNSB_STORE_REFUSE ? "refuse" : "move-aside");
            char err[1024] = "";
            dnsb_store *s = dnsb_store_open(db_path(), policy, err, sizeof(err));
            if (policy == DNSB_STORE_REFUSE) {
                assert_null(s);
                char want[400];
                snprintf(want, sizeof(want), "database '%s/data.mdb' is damaged: %s", db_path(), damage_why[d]);
                if (!strstr(err, want) || !strstr(err, "database-damaged: refuse"))
                    fail_msg("%s: error '%s' does not contain '%s'", damage_name[d], err, want);
                assert_int_equal(count_files("data.mdb.damaged-"), 0);
                continue;
            }
            if (!s)
                fail_msg("%s, move-aside: %s", damage_name[d], err);
            assert_int_equal(count_files("data.mdb.damaged-"), 1);
            free(load(s, now, 0));
            /* the new database works, across a restart */
            small_reg m;
            make_small(&m, "lb1", 5);
            assert_int_equal(dnsb_store_put(s, &m.r, now + 600), 0);
            dnsb_store_close(s);
            s = open_store();
            free(load(s, now, 1));
            dnsb_store_close(s);
        }
    }
}

/* No false alarm: a database after many transactions (pages freed and
 * reused, overflow runs replaced, the free list itself grown) passes the
 * check and loads in full; moving a sound file aside would lose it all. */
static void test_sound_after_churn(void **state)
{
    (void)state;
    double now = wall();
    static glb_map_claim many[300];
    for (int i = 0; i < 300; i++) {
        char p[32];
        snprintf(p, sizeof(p), "10.%d.%d.0/24", i / 100, i % 100);
        many[i] = claim(GLB_MAP_CLAIM_RESOLVER, p);
    }
    unsigned seed = 5;
    int present[400] = {0};
    uint64_t seq[400] = {0};
    for (int round = 0; round < 40; round++) {
        dnsb_store *s = open_store();
        for (int k = 0; k < 60; k++) {
            int i = (int)(rand_r(&seed) % 400);
            char id[64];
            snprintf(id, sizeof(id), "lb%03d", i);
            if (present[i] && rand_r(&seed) % 3 == 0) {
                assert_int_equal(dnsb_store_del(s, id, ++seq[i]), 0);
                present[i] = 0;
            } else {
                small_reg m;
                make_small(&m, id, ++seq[i]);
                m.r.claims = many;
                m.r.nclaims = 1 + rand_r(&seed) % (round % 2 ? 300 : 20); /* inline and overflow values */
                assert_int_equal(dnsb_store_put(s, &m.r, now + 600), 0);
                present[i] = 1;
            }
            if (k % 20 == 19)
                assert_int_equal(dnsb_store_flush(s), 0);
        }
        dnsb_store_close(s);
        int n = 0;
        for (int i = 0; i < 400; i++)
            n += present[i];
        s = open_store(); /* refuse: a false alarm fails here */
        free(load(s, now, n));
        dnsb_store_close(s);
    }
}

/* Damage in the fields the check trusts to walk the file, with LMDB 0.9's
 * layout (mdb.c, native byte order, page numbers of sizeof(size_t)): a meta
 * page's page size that is not a power of two, and a tree page (the main
 * database's root) whose free-space bounds reach past its end, with no node
 * left to give it away. Both are refused with what is wrong, before LMDB
 * maps the file: LMDB would read meta page 1 at the wrong place, and would
 * copy the page from beyond its end at the first write. */
static void test_damaged_fields(void **state)
{
    (void)state;
    enum { PG = sizeof(size_t), PAGEHDR = PG + 8, META_DBS = PAGEHDR + 8 + 2 * PG, DBSZ = 8 + 5 * PG,
           DB_ROOT = 8 + 4 * PG, META_TXNID = META_DBS + 2 * DBSZ + PG };
    char path[400], why[300];
    snprintf(path, sizeof(path), "%s/data.mdb", db_path());
    long ps = sysconf(_SC_PAGESIZE);
    for (int d = 0; d < 2; d++) {
        rm_rf(db_path());
        build_db(wall());
        assert_int_equal(dnsb_store_check(path, why, sizeof(why)), DNSB_STORE_FILE_OK);
        int fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        uint8_t m[2][META_TXNID + PG];
        assert_int_equal(pread(fd, m[0], sizeof(m[0]), 0), (ssize_t)sizeof(m[0]));
        assert_int_equal(pread(fd, m[1], sizeof(m[1]), ps), (ssize_t)sizeof(m[1]));
        uint32_t ps0;
        memcpy(&ps0, m[0] + META_DBS, sizeof(ps0));
        assert_int_equal(ps0, (uint32_t)ps);
        const char *want;
        char wbuf[100];
        if (d == 0) { /* meta page 0 says 1.125 pages */
            uint32_t bad = (uint32_t)ps + (uint32_t)ps / 8;
            assert_int_equal(pwrite(fd, &bad, sizeof(bad), META_DBS), (ssize_t)sizeof(bad));
            snprintf(wbuf, sizeof(wbuf), "meta page 0: bad page size %u", bad);
            want = wbuf;
        } else { /* the newest meta's main database root: no keys, upper past the page */
            size_t txn[2], root;
            memcpy(&txn[0], m[0] + META_TXNID, PG);
            memcpy(&txn[1], m[1] + META_TXNID, PG);
            memcpy(&root, m[txn[1] > txn[0]] + META_DBS + DBSZ + DB_ROOT, PG);
            assert_true(root >= 2 && root != (size_t)-1);
            uint16_t b[2] = {PAGEHDR, (uint16_t)(ps + 16)}; /* lower, upper */
            assert_int_equal(pwrite(fd, b, sizeof(b), (off_t)root * ps + PG + 4), (ssize_t)sizeof(b));
            snprintf(wbuf, sizeof(wbuf), "page %zu: bad bounds %u..%u", root, b[0], b[1]);
            want = wbuf;
        }
        close(fd);
        why[0] = 0;
        assert_int_equal(dnsb_store_check(path, why, sizeof(why)), DNSB_STORE_FILE_DAMAGED);
        if (!strstr(why, want))
            fail_msg("damage %d: '%s' does not say '%s'", d, why, want);
        /* and the DNS-B refuses it with that reason (database-damaged: refuse) */
        char err[1024] = "";
        assert_null(dnsb_store_open(db_path(), DNSB_STORE_REFUSE, err, sizeof(err)));
        if (!strstr(err, want))
            fail_msg("damage %d: error '%s' does not say '%s'", d, err, want);
    }
}

/* Damage that comes after the check at open (the file is changed under the
 * open environment: every tree page turned into an overflow page): LMDB
 * reports it during the load (MDB_CORRUPTED), which is then refused or
 * moved aside like damage found at open, nothing handed out. The load used
 * to stop at the error as if the database ended there: empty, silently. */
/* The pure decoders (dnsb_store_decode_seq, _reg), found by fuzz_store: a
 * key with a NUL inside ("42\0\0") was read as another id ("42"). */
static void test_decoders(void **state)
{
    (void)state;
    static const uint8_t seq[16] = {0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 1, 0x8b, 0, 0, 0, 1};
    char id[GLB_MAP_MAX_ID + 1];
    uint64_t sq = 0, at = 0;
    assert_int_equal(dnsb_store_decode_seq("lb42", 4, seq, 16, id, &sq, &at), 0);
    assert_string_equal(id, "lb42");
    assert_true(sq == 7 && at == 0x18b00000001ULL);
    assert_int_equal(dnsb_store_decode_seq("42\0\0", 4, seq, 16, id, &sq, &at), -1);
    assert_int_equal(dnsb_store_decode_seq("lb\0x", 4, seq, 16, id, &sq, &at), -1);
    assert_int_equal(dnsb_store_decode_seq("LB_1", 4, seq, 16, id, &sq, &at), -1);
    assert_int_equal(dnsb_store_decode_seq("lb42", 4, seq, 15, id, &sq, &at), -1);
    assert_int_equal(dnsb_store_decode_seq("", 0, seq, 16, id, &sq, &at), -1);
    glb_map_msg msg;
    uint8_t *arena = NULL;
    size_t cap = 0;
    uint64_t exp = 0;
    static const uint8_t shortrec[8] = {'g', 'l', 'b', 'r', 1, 0, 0, 0};
    assert_string_equal(dnsb_store_decode_reg("lb42", 4, shortrec, 8, &msg, &arena, &cap, &exp), "record too short");
    free(arena);
}

static void test_damaged_at_load(void **state)
{
    (void)state;
    double now = wall();
    for (int policy = DNSB_STORE_MOVE_ASIDE; policy <= DNSB_STORE_REFUSE; policy++) {
        rm_rf(db_path());
        off_t size = build_db(now);
        char err[1024] = "";
        dnsb_store *s = dnsb_store_open(db_path(), policy, err, sizeof(err));
        if (!s)
            fail_msg("open: %s", err);
        char path[400];
        snprintf(path, sizeof(path), "%s/data.mdb", db_path());
        int fd = open(path, O_WRONLY);
        assert_true(fd >= 0);
        long ps = sysconf(_SC_PAGESIZE);
        uint16_t overflow = 0x04;
        for (off_t pg = 2; pg < size / ps; pg++)
            assert_int_equal(pwrite(fd, &overflow, 2, pg * ps + (off_t)sizeof(size_t) + 2), 2);
        close(fd);
        got *g = calloc(1, sizeof(*g));
        assert_non_null(g);
        long n = dnsb_store_load(s, now, on_reg, on_seq, g);
        assert_int_equal(g->nregs, 0); /* nothing handed out */
        free(g);
        if (policy == DNSB_STORE_REFUSE) {
            assert_int_equal(n, -1);
            assert_int_equal(count_files("data.mdb.damaged-"), 0);
            dnsb_store_close(s);
            continue;
        }
        assert_int_equal(n, 0);
        assert_int_equal(count_files("data.mdb.damaged-"), 1);
        small_reg m;
        make_small(&m, "lb1", 5);
        assert_int_equal(dnsb_store_put(s, &m.r, now + 600), 0);
        dnsb_store_close(s);
        s = open_store();
        free(load(s, now, 1));
        dnsb_store_close(s);
    }
}

int main(void)
{
    glb_log_init("test_store", 0, GLB_LOG_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_del_keeps_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_at_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sound_after_churn, setup, teardown),
        cmocka_unit_test(test_decoders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
