/* Detaching, the pid file and dropping root.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "shared/daemon.h"
#include "shared/cfg.h"
#include "shared/log.h"

int glb_daemonize(void)
{
    pid_t pid;
    int fd;

    /* Buffered output must not be written twice, once per process. */
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        _exit(1);
    /* Second fork: the session leader exits, so the daemon can never
     * acquire a controlling terminal again. */
    pid = fork();
    if (pid < 0)
        _exit(1);
    if (pid > 0)
        _exit(0);

    if (chdir("/") < 0)
        return -1;
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* stderr too: a closed terminal or pipe there would fail or SIGPIPE
     * us; once detached, messages go to syslog. */
    if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) {
        close(fd);
        return -1;
    }
    if (fd > STDERR_FILENO)
        close(fd);
    return 0;
}

int glb_pidfile_write(const char *path, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    char buf[32];
    int fd, n;

    if (!path || !*path) {
        snprintf(err, errlen, "pid file: empty path");
        return -1;
    }
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= sizeof tmp) {
        snprintf(err, errlen, "pid file %s: path too long", path);
        return -1;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "pid file %s: %s", path, strerror(errno));
        return -1;
    }
    n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (fchmod(fd, 0644) < 0) {
        snprintf(err, errlen, "pid file %s: %s", path, strerror(errno));
        goto fail;
    }
    ssize_t w = write(fd, buf, (size_t)n);
    if (w != n) {
        snprintf(err, errlen, "pid file %s: %s", path, w < 0 ? strerror(errno) : "short write");
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        snprintf(err, errlen, "pid file %s: %s", path, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "pid file %s: %s", path, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

void glb_pidfile_remove(const char *path)
{
    char buf[32];
    ssize_t n;
    int fd;

    if (!path || !*path)
        return;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || end == buf || (*end != '\n' && *end != '\0'))
        return;
    if (v == (long)getpid())
        unlink(path);
}

int glb_drop_privileges(const char *user, char *err, size_t errlen)
{
    struct passwd *pw;

    if (!user || !*user || getuid() != 0)
        return 0;
    errno = 0;
    pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errlen, "user '%s': %s", user,
                 errno ? strerror(errno) : "no such user");
        return -1;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (initgroups(pw->pw_name, gid) < 0) {
        snprintf(err, errlen, "user '%s': initgroups: %s", user, strerror(errno));
        return -1;
    }
    if (setgid(gid) < 0) {
        snprintf(err, errlen, "user '%s': setgid(%ld): %s", user, (long)gid, strerror(errno));
        return -1;
    }
    if (setuid(uid) < 0) {
        snprintf(err, errlen, "user '%s': setuid(%ld): %s", user, (long)uid, strerror(errno));
        return -1;
    }
    if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid) {
        snprintf(err, errlen, "user '%s': ids did not change", user);
        return -1;
    }
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        snprintf(err, errlen, "user '%s': root could be regained", user);
        return -1;
    }
    return 0;
}

int glb_daemon_detach(int foreground, const char *pidfile, const char *username, char *err, size_t errlen)
{
    if (username[0] && getuid() == 0 && !getpwnam(username)) {
        snprintf(err, errlen, "key 'username': no such user '%s'", username);
        return -1;
    }
    if (!foreground && glb_daemonize() != 0) {
        snprintf(err, errlen, "cannot detach: %s", strerror(errno));
        return -1;
    }
    if (pidfile[0] && glb_pidfile_write(pidfile, err, errlen) != 0)
        return -1;
    return 0;
}

unsigned glb_fd_budget(unsigned want, unsigned others, const char *what)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)want + others;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = old;
        else
            log_info("open files limit raised from %llu to %llu", (unsigned long long)old,
                     (unsigned long long)rl.rlim_cur);
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return want;
    /* Short even so: the connections get what is left (the others get
     * EMFILE at worst, which the acceptors survive). */
    unsigned fit = rl.rlim_cur > others ? (unsigned)(rl.rlim_cur - others) : (unsigned)(rl.rlim_cur / 4);
    if (want && fit == 0)
        fit = 1;
    if (fit >= want)
        fit = want;
    log_warn("open files limit %llu (hard %llu) is below the %llu needed: %s %s %u", (unsigned long long)rl.rlim_cur,
             (unsigned long long)rl.rlim_max, (unsigned long long)need, what, fit < want ? "lowered to" : "stays",
             fit);
    return fit;
}

/* --- the command line ----------------------------------------------------- */

static void usage(FILE *f, const char *name, const char *default_conf)
{
    fprintf(f, "usage: %s [-c FILE] [-d] [-t] [-v] [-h]\n"
               "  -c FILE  configuration file (default %s)\n"
               "  -d       stay in the foreground, log to stderr\n"
               "  -t       check the configuration and exit\n"
               "  -v       print the version and exit\n"
               "  -h       this help, with every configuration key\n",
            name, default_conf);
}

static void help_keys(const char *name, const glb_cfg_key *keys)
{
    const char *section = "";
    printf("\nconfiguration keys (see %s.conf(5)):\n", name);
    for (const glb_cfg_key *k = keys; k->section; k++) {
        if (strcmp(section, k->section) != 0) {
            section = k->section;
            printf("%s:\n", section);
        }
        printf("    %-20s %s%s\n", k->key, k->help, (k->flags & GLB_CFG_REQUIRED) ? " [required]" : "");
    }
}

int glb_daemon_options(int argc, char **argv, const char *name, const char *version, const char *default_conf,
                       const glb_cfg_key *keys, glb_daemon_opts *o)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'v'}, {NULL, 0, NULL, 0}};
    static char conf_abs[PATH_MAX];
    int c;
    o->conf_file = default_conf;
    o->foreground = o->check_only = 0;
    while ((c = getopt_long(argc, argv, "c:dtvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->conf_file = optarg; break;
        case 'd': o->foreground = 1; break;
        case 't': o->check_only = 1; break;
        case 'v': printf("%s %s\n", name, version); return 0;
        case 'h': usage(stdout, name, default_conf); help_keys(name, keys); return 0;
        default: usage(stderr, name, default_conf); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr, name, default_conf);
        return 2;
    }
    if (realpath(o->conf_file, conf_abs))
        o->conf_file = conf_abs;
    return -1;
}
