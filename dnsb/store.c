/* LMDB persistence of DNS-LB registrations (see store.h for the format and
 * the durability choice). SPDX-License-Identifier: BSD-3-Clause */
#include "dnsb/store.h"

#include <errno.h>
#include <event2/event.h>
#include <lmdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dnsb/storecheck.h"
#include "shared/clock.h"
#include "shared/log.h"

#define REC_MAGIC "glbr"
#define REC_VERSION 1
#define REC_HEADER 16 /* magic(4) version(1) zero(3) expires_ms(8) */
#define SEQ_LEN 16    /* sequence(8) written_ms(8) */

enum { OP_PUT, OP_DEL };

typedef struct store_op {
    int kind;
    char id[64];
    uint8_t *val;    /* OP_PUT: the record */
    size_t len;
    uint64_t seq;    /* 0: leave the sequence record alone */
    uint64_t at_ms;  /* when queued */
} store_op;

struct dnsb_store {
    MDB_env *env;
    MDB_dbi regs, seqs;
    size_t mapsize;
    char dir[512];
    store_op *ops;
    size_t nops, capops;
    struct event *timer;
    int armed;
    int failing;     /* the last commit failed: its changes wait for a retry */
    int readonly;    /* on a read-only filesystem: read, never written */
    int on_damage;   /* enum dnsb_store_damaged */
    dnsb_store_stats st;
};

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* mkdir -p with mode 0700 for what it creates. */
static int mkdirs(const char *dir, char *err, size_t errlen)
{
    char path[512];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path)) {
        snprintf(err, errlen, "database '%s': bad directory name", dir);
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "database: cannot create directory '%s': %s", path, strerror(errno));
            return -1;
        }
        path[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "database '%s': not a directory", dir);
        return -1;
    }
    return 0;
}

int dnsb_store_prepare(const char *dir, const char *user, char *err, size_t errlen)
{
    if (mkdirs(dir, err, errlen) != 0)
        return -1;
    if (user && user[0] && getuid() == 0) {
        struct passwd *pw = getpwnam(user);
        if (!pw) {
            snprintf(err, errlen, "database: no such user '%s'", user);
            return -1;
        }
        if (chown(dir, pw->pw_uid, pw->pw_gid) != 0 && errno != EROFS) {
            snprintf(err, errlen, "database: chown '%s': %s", dir, strerror(errno));
            return -1;
        }
        static const char *const files[] = {"data.mdb", "lock.mdb"};
        for (size_t i = 0; i < 2; i++) {
            char f[600];
            snprintf(f, sizeof(f), "%s/%s", dir, files[i]);
            if (chown(f, pw->pw_uid, pw->pw_gid) != 0 && errno != ENOENT && errno != EROFS) {
                snprintf(err, errlen, "database: chown '%s': %s", f, strerror(errno));
                return -1;
            }
        }
    }
    if (access(dir, R_OK | W_OK | X_OK) != 0 && errno != EROFS) { /* read-only: dnsb_store_open */
        snprintf(err, errlen, "database '%s': %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* LMDB's codes for a file it cannot make sense of. */
static int is_damage(int rc)
{
    return rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_BAD_TXN ||
           rc == MDB_VERSION_MISMATCH || rc == MDB_INCOMPATIBLE; /* the last: our databases' flags changed */
}

/* data.mdb in dir is damaged (why): refused (-1 with err), or renamed to
 * data.mdb.damaged-<UTC time>[-N] so that LMDB starts a new one (0). */
static int damaged(const char *dir, int on_damage, const char *why, char *err, size_t errlen)
{
    char path[600], aside[700], ts[32];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (on_damage == DNSB_STORE_REFUSE) {
        snprintf(err, errlen,
                 "database '%s' is damaged: %s; not started (database-damaged: refuse): "
                 "move the file away, or set database-damaged: move-aside",
                 path, why);
        return -1;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(aside, sizeof(aside), "%s.damaged-%s", path, ts);
    for (int n = 1; access(aside, F_OK) == 0 && n < 100; n++) /* never over an earlier one */
        snprintf(aside, sizeof(aside), "%s.damaged-%s-%d", path, ts, n);
    if (rename(path, aside) != 0) {
        snprintf(err, errlen, "database '%s' is damaged: %s; cannot move it aside to '%s': %s", path, why, aside,
                 strerror(errno));
        return -1;
    }
    log_err("database '%s' is damaged: %s; moved aside to '%s', starting with no registration "
            "(the DNS-LBs register again within one refresh)",
            path, why, aside);
    return 0;
}

/* Opens the environment of s->dir and its two databases: 0, or LMDB's code
 * (s->env closed). With s->readonly, without writing anything (not even
 * the lock file: this process is its only user). */
static int env_open(dnsb_store *s)
{
    s->mapsize = DNSB_STORE_MAPSIZE;
    int rc = mdb_env_create(&s->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(s->env, 2);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, s->mapsize);
    if (rc == 0)
        rc = mdb_env_open(s->env, s->dir, s->readonly ? MDB_RDONLY | MDB_NOLOCK : MDB_NOMETASYNC, 0600);
    if (rc == 0) {
        MDB_envinfo info;
        if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->mapsize)
            s->mapsize = info.me_mapsize; /* grown by an earlier run */
        MDB_txn *txn;
        unsigned create = s->readonly ? 0 : MDB_CREATE;
        rc = mdb_txn_begin(s->env, NULL, s->readonly ? MDB_RDONLY : 0, &txn);
        if (rc == 0) {
            rc = mdb_dbi_open(txn, "regs", create, &s->regs);
            if (rc == 0)
                rc = mdb_dbi_open(txn, "seqs", create, &s->seqs);
            if (rc == 0)
                rc = mdb_txn_commit(txn);
            else
                mdb_txn_abort(txn);
        }
    }
    if (rc != 0 && s->env) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    return rc;
}

/* Opens s->dir, data.mdb checked first; a damaged one is handled as
 * s->on_damage says. 0, or -1 with err. */
static int checked_open(dnsb_store *s, char *err, size_t errlen)
{
    char path[600], why[512];
    snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
    int fc = dnsb_store_check(path, why, sizeof(why));
    if (fc == DNSB_STORE_FILE_UNREADABLE) {
        snprintf(err, errlen, "database '%s': cannot read: %s", path, why);
        return -1;
    }
    if (fc == DNSB_STORE_FILE_DAMAGED && damaged(s->dir, s->on_damage, why, err, errlen) != 0)
        return -1;
    if (fc == DNSB_STORE_FILE_ABSENT)
        log_notice("database '%s': none yet, a new one is created", path);
    int moved = fc == DNSB_STORE_FILE_DAMAGED;
    for (;;) {
        int rc = env_open(s);
        if (rc == 0)
            return 0;
        if (rc == EROFS && !s->readonly && fc == DNSB_STORE_FILE_OK) {
            /* A disk gone read-only (after an I/O error, say): answering
             * with the registrations it holds beats not starting. */
            s->readonly = 1;
            log_err("database '%s': on a read-only filesystem: the registrations in it are loaded, but none "
                    "is written until dnsb is restarted with it writable",
                    path);
            continue;
        }
        if (!is_damage(rc) || moved) {
            snprintf(err, errlen, "database '%s': %s", path, mdb_strerror(rc));
            return -1;
        }
        char lw[300];
        snprintf(lw, sizeof(lw), "LMDB cannot open it (%s)", mdb_strerror(rc));
        if (damaged(s->dir, s->on_damage, lw, err, errlen) != 0)
            return -1;
        moved = 1;
    }
}

dnsb_store *dnsb_store_open(const char *dir, int on_damage, char *err, size_t errlen)
{
    if (mkdirs(dir, err, errlen) != 0)
        return NULL;
    dnsb_store *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "database: out of memory");
        return NULL;
    }
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    s->on_damage = on_damage;
    if (checked_open(s, err, errlen) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void ops_clear(dnsb_store *s)
{
    for (size_t i = 0; i < s->nops; i++)
        free(s->ops[i].val);
    s->nops = 0;
}

static int grow(dnsb_store *s)
{
    size_t n = s->mapsize * 2;
    int rc = mdb_env_set_mapsize(s->env, n);
    if (rc != 0) {
        log_err("database '%s': cannot grow the map to %zu MiB: %s", s->dir, n >> 20, mdb_strerror(rc));
        return -1;
    }
    log_notice("database '%s': map grown to %zu MiB", s->dir, n >> 20);
    s->mapsize = n;
    return 0;
}

static int apply_ops(dnsb_store *s, MDB_txn *txn)
{
    for (size_t i = 0; i < s->nops; i++) {
        const store_op *o = &s->ops[i];
        MDB_val k = {strlen(o->id), (void *)o->id};
        int rc;
        if (o->kind == OP_PUT) {
            MDB_val v = {o->len, o->val};
            rc = mdb_put(txn, s->regs, &k, &v, 0);
        } else {
            rc = mdb_del(txn, s->regs, &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
        if (rc == 0 && o->seq) {
            uint8_t b[SEQ_LEN];
            put64(b, o->seq);
            put64(b + 8, o->at_ms);
            MDB_val v = {sizeof(b), b};
            rc = mdb_put(txn, s->seqs, &k, &v, 0);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int dnsb_store_flush(dnsb_store *s)
{
    if (!s || s->nops == 0)
        return 0;
    if (!s->env || s->readonly) { /* a damaged database refused at load; a read-only one */
        s->st.errors++;
        ops_clear(s);
        return -1;
    }
    int rc = 0;
    for (int attempt = 0; attempt < 4; attempt++) {
        MDB_txn *txn;
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc != 0)
            break;
        rc = apply_ops(s, txn);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc != MDB_MAP_FULL || grow(s) != 0)
            break;
    }
    if (rc != 0) {
        s->st.errors++;
        /* A full or read-only disk is usually mended while we run: the
         * changes stay queued (in order) and are tried again, so that a
         * withdrawal or an expiry is not undone by the next restart. */
        if (s->nops <= DNSB_STORE_MAX_PENDING) {
            if (!s->failing)
                log_err("database '%s': commit of %zu changes failed: %s; they are kept in memory and tried "
                        "again every %d s",
                        s->dir, s->nops, mdb_strerror(rc), DNSB_STORE_RETRY_MS / 1000);
            s->failing = 1;
            if (s->timer) {
                struct timeval tv = {DNSB_STORE_RETRY_MS / 1000, 0};
                if (evtimer_add(s->timer, &tv) == 0)
                    s->armed = 1;
            }
            return -1;
        }
        log_err("database '%s': commit of %zu changes failed: %s; more than %d waiting, dropped (the DNS-LBs "
                "send theirs again at their next refresh)",
                s->dir, s->nops, mdb_strerror(rc), DNSB_STORE_MAX_PENDING);
    } else {
        s->st.commits++;
        if (s->failing)
            log_notice("database '%s': written again (%zu changes that had waited)", s->dir, s->nops);
    }
    s->failing = 0;
    ops_clear(s);
    return rc ? -1 : 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    dnsb_store *s = arg;
    s->armed = 0;
    dnsb_store_flush(s);
}

int dnsb_store_attach(dnsb_store *s, struct event_base *base)
{
    s->timer = evtimer_new(base, on_timer, s);
    return s->timer ? 0 : -1;
}

static store_op *op_new(dnsb_store *s, int kind, const char *id)
{
    if (strlen(id) >= sizeof(s->ops[0].id))
        return NULL;
    /* While commits fail, an id's newest change replaces its queued one, so
     * that the queue stays one change per DNS-LB however long the disk is
     * full (changes of different ids touch different keys: order between
     * them does not matter). The sequence record it would have written is
     * kept unless the new change writes one. */
    for (size_t i = 0; s->failing && i < s->nops; i++) {
        store_op *o = &s->ops[i];
        if (strcmp(o->id, id) != 0)
            continue;
        uint64_t seq = o->seq;
        free(o->val);
        memset(o, 0, sizeof(*o));
        o->kind = kind;
        snprintf(o->id, sizeof(o->id), "%s", id);
        o->seq = seq; /* the caller sets its own, if any */
        o->at_ms = glb_wall_ms();
        return o;
    }
    if (s->nops == s->capops) {
        size_t cap = s->capops ? s->capops * 2 : 64;
        store_op *n = realloc(s->ops, cap * sizeof(*n));
        if (!n)
            return NULL;
        s->ops = n;
        s->capops = cap;
    }
    store_op *o = &s->ops[s->nops++];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    snprintf(o->id, sizeof(o->id), "%s", id);
    o->at_ms = glb_wall_ms();
    if (s->timer && !s->armed) {
        struct timeval tv = {0, DNSB_STORE_COMMIT_MS * 1000};
        if (evtimer_add(s->timer, &tv) == 0)
            s->armed = 1;
    }
    return o;
}

int dnsb_store_put(dnsb_store *s, const glb_map_register *reg, double expires)
{
    size_t flen = 0;
    int rc = glb_map_encode_register(reg, NULL, 0, &flen);
    if (rc != GLB_MAP_OK && rc != GLB_MAP_E_NOSPACE) {
        log_err("database: registration of %s does not encode (%s): not persisted",
                reg->node_id ? reg->node_id : "?", glb_map_code_name(rc));
        return -1;
    }
    uint8_t *val = malloc(REC_HEADER + flen);
    if (!val || glb_map_encode_register(reg, val + REC_HEADER, flen, &flen) != GLB_MAP_OK) {
        free(val);
        log_err("database: registration of %s: out of memory, not persisted", reg->node_id);
        return -1;
    }
    memcpy(val, REC_MAGIC, 4);
    val[4] = REC_VERSION;
    val[5] = val[6] = val[7] = 0;
    put64(val + 8, expires > 0 ? (uint64_t)(expires * 1000.0) : 0);
    store_op *o = op_new(s, OP_PUT, reg->node_id);
    if (!o) {
        free(val);
        log_err("database: registration of %s: out of memory, not persisted", reg->node_id);
        return -1;
    }
    o->val = val;
    o->len = REC_HEADER + flen;
    o->seq = reg->sequence;
    s->st.puts++;
    return 0;
}

int dnsb_store_del(dnsb_store *s, const char *id, uint64_t sequence)
{
    store_op *o = op_new(s, OP_DEL, id);
    if (!o) {
        log_err("database: removal of %s: out of memory", id);
        return -1;
    }
    if (sequence) /* else keep what a replaced change would have written */
        o->seq = sequence;
    s->st.dels++;
    return 0;
}

const char *dnsb_store_decode_reg(const void *key, size_t klen, const void *val, size_t vlen, glb_map_msg *msg,
                                  uint8_t **arena, size_t *arenacap, uint64_t *expires_ms)
{
    const uint8_t *p = val;
    if (klen == 0 || klen > GLB_MAP_MAX_ID)
        return "bad key";
    if (vlen < REC_HEADER + GLB_MAP_HEADER_LEN)
        return "record too short";
    if (memcmp(p, REC_MAGIC, 4) != 0 || p[4] != REC_VERSION || p[5] || p[6] || p[7])
        return "unknown record format";
    *expires_ms = get64(p + 8);
    const uint8_t *frame = p + REC_HEADER;
    size_t flen = vlen - REC_HEADER, n;
    if (glb_map_frame_check(frame, flen, &n) != GLB_MAP_FRAME_READY || n != flen)
        return "bad frame length";
    size_t need = GLB_MAP_ARENA_FOR(flen);
    if (need > *arenacap) {
        uint8_t *a = realloc(*arena, need);
        if (!a)
            return "out of memory";
        *arena = a;
        *arenacap = need;
    }
    glb_map_msg_init(msg, *arena, *arenacap);
    glb_map_error e;
    static char why[200];
    if (glb_map_decode(frame, flen, msg, &e) != GLB_MAP_OK) {
        snprintf(why, sizeof(why), "frame does not decode: %s", e.text);
        return why;
    }
    if (msg->type != GLB_MAP_REGISTER)
        return "not a REGISTER";
    if (strlen(msg->u.reg.node_id) != klen || memcmp(msg->u.reg.node_id, key, klen) != 0)
        return "node-id differs from the key";
    return NULL;
}

int dnsb_store_decode_seq(const void *key, size_t klen, const void *val, size_t vlen, char id[GLB_MAP_MAX_ID + 1],
                          uint64_t *sequence, uint64_t *written_ms)
{
    if (klen == 0 || klen > GLB_MAP_MAX_ID || vlen != SEQ_LEN || memchr(key, 0, klen))
        return -1; /* a NUL in the key would make another id of it */
    memcpy(id, key, klen);
    id[klen] = '\0';
    if (!glb_map_id_valid(id))
        return -1;
    *sequence = get64(val);
    *written_ms = get64((const uint8_t *)val + 8);
    return 0;
}

/* Keys to delete after a read pass (copies: the cursor's memory goes). */
typedef struct keylist {
    MDB_val *keys;
    size_t n, cap;
} keylist;

static void keylist_add(keylist *l, const MDB_val *k)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        MDB_val *n = realloc(l->keys, cap * sizeof(*n));
        if (!n)
            return; /* deleted at a later load */
        l->keys = n;
        l->cap = cap;
    }
    void *copy = malloc(k->mv_size ? k->mv_size : 1);
    if (!copy)
        return;
    memcpy(copy, k->mv_data, k->mv_size);
    l->keys[l->n].mv_size = k->mv_size;
    l->keys[l->n].mv_data = copy;
    l->n++;
}

static void keylist_free(keylist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->keys[i].mv_data);
    free(l->keys);
}

static void printable(const MDB_val *k, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t j = 0;
    const uint8_t *p = k->mv_data;
    for (size_t i = 0; i < k->mv_size && j + 5 < outlen; i++) {
        if (p[i] >= 0x21 && p[i] < 0x7f && p[i] != '\\') {
            out[j++] = (char)p[i];
        } else {
            out[j++] = '\\';
            out[j++] = 'x';
            out[j++] = hex[p[i] >> 4];
            out[j++] = hex[p[i] & 15];
        }
    }
    out[j] = '\0';
}

/* Reads every record of dbi without using it, so that LMDB's errors on a
 * damaged page come before anything is handed out. 0, or LMDB's code. */
static int scan(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0)
        return rc;
    for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op)) == 0; op = MDB_NEXT)
        ;
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* LMDB found the open database damaged (rc): closed, then refused or
 * moved aside and opened anew, as s->on_damage says. 0, or -1 (logged). */
static int damaged_at_load(dnsb_store *s, int rc)
{
    char err[1024], why[300];
    /* MDB_BAD_TXN: an earlier read in the transaction met the damage */
    snprintf(why, sizeof(why), "LMDB met a damaged page while loading (%s)", mdb_strerror(rc));
    mdb_env_close(s->env);
    s->env = NULL;
    if (damaged(s->dir, s->on_damage, why, err, sizeof(err)) != 0 ||
        checked_open(s, err, sizeof(err)) != 0) {
        log_err("%s", err);
        return -1;
    }
    return 0;
}

long dnsb_store_load(dnsb_store *s, double now, void (*reg_fn)(void *arg, const glb_map_register *reg, double expires),
                     void (*seq_fn)(void *arg, const char *id, uint64_t sequence), void *arg)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0 && (rc = scan(txn, s->seqs)) == 0)
        rc = scan(txn, s->regs);
    if (rc != 0) {
        if (txn)
            mdb_txn_abort(txn);
        if (is_damage(rc))
            return damaged_at_load(s, rc) == 0 ? 0 : -1;
        log_err("database '%s': %s", s->dir, mdb_strerror(rc));
        return -1;
    }
    keylist bad_regs = {0}, bad_seqs = {0};
    uint8_t *arena = NULL;
    size_t arenacap = 0;
    long loaded = 0;
    uint64_t now_ms_v = (uint64_t)(now * 1000.0);
    MDB_val k, v;
    rc = mdb_cursor_open(txn, s->seqs, &cur);
    if (rc == 0) {
        for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op)) == 0; op = MDB_NEXT) {
            char id[GLB_MAP_MAX_ID + 1];
            uint64_t seq, at;
            if (dnsb_store_decode_seq(k.mv_data, k.mv_size, v.mv_data, v.mv_size, id, &seq, &at) != 0 ||
                at + (uint64_t)DNSB_STORE_SEQ_KEEP * 1000u < now_ms_v) {
                keylist_add(&bad_seqs, &k);
                continue;
            }
            if (seq_fn)
                seq_fn(arg, id, seq);
        }
        mdb_cursor_close(cur);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    if (rc == 0)
        rc = mdb_cursor_open(txn, s->regs, &cur);
    if (rc == 0) {
        for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op)) == 0; op = MDB_NEXT) {
            glb_map_msg msg;
            uint64_t exp_ms = 0;
            const char *why = dnsb_store_decode_reg(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &msg, &arena,
                                                    &arenacap, &exp_ms);
            if (why) {
                char name[300];
                printable(&k, name, sizeof(name));
                log_warn("database '%s': registration '%s' skipped and deleted: %s", s->dir, name, why);
                s->st.corrupt++;
                keylist_add(&bad_regs, &k);
                continue;
            }
            if (exp_ms <= now_ms_v) {
                s->st.expired++;
                keylist_add(&bad_regs, &k);
                continue;
            }
            reg_fn(arg, &msg.u.reg, (double)exp_ms / 1000.0);
            loaded++;
        }
        mdb_cursor_close(cur);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    mdb_txn_abort(txn);
    free(arena);
    if (rc != 0) {
        log_err("database '%s': %s", s->dir, mdb_strerror(rc));
        loaded = -1;
    }
    s->st.loaded += loaded > 0 ? (uint64_t)loaded : 0;
    if ((bad_regs.n || bad_seqs.n) && !s->readonly) { /* delete them at once, in one transaction */
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        for (size_t i = 0; rc == 0 && i < bad_regs.n; i++) {
            int r = mdb_del(txn, s->regs, &bad_regs.keys[i], NULL);
            rc = r == MDB_NOTFOUND ? 0 : r;
        }
        for (size_t i = 0; rc == 0 && i < bad_seqs.n; i++) {
            int r = mdb_del(txn, s->seqs, &bad_seqs.keys[i], NULL);
            rc = r == MDB_NOTFOUND ? 0 : r;
        }
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc != 0) {
            log_err("database '%s': cleaning up: %s", s->dir, mdb_strerror(rc));
            s->st.errors++;
        }
    }
    keylist_free(&bad_regs);
    keylist_free(&bad_seqs);
    return loaded;
}

void dnsb_store_get_stats(const dnsb_store *s, dnsb_store_stats *out)
{
    *out = s->st;
    out->pending = s->nops;
}

void dnsb_store_close(dnsb_store *s)
{
    if (!s)
        return;
    dnsb_store_flush(s);
    if (s->timer)
        event_free(s->timer);
    ops_clear(s);
    free(s->ops);
    if (s->env) /* NULL after a damaged database was refused at load */
        mdb_env_close(s->env);
    free(s);
}
