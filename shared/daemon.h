/* What every daemon does around its loop: detach, pid file, privilege drop.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_DAEMON_H
#define GLB_DAEMON_H

#include <stddef.h>

struct glb_cfg_key;

/* What a daemon's command line says: -c FILE, -d, -t (-v and -h are done
 * by glb_daemon_options itself). */
typedef struct glb_daemon_opts {
    const char *conf_file;  /* absolute when realpath could make it so */
    int foreground;         /* -d */
    int check_only;         /* -t */
} glb_daemon_opts;

/* The command line every daemon shares: "usage: NAME [-c FILE] [-d] [-t]
 * [-v] [-h]"; -v prints "NAME VERSION", -h the usage and every key of keys
 * (the schema, see MAN(5)). The configuration file's path is made absolute
 * (detached, the daemon runs in /: SIGHUP's path must stay valid).
 * Returns -1 to go on with *o filled, else the exit status: 0 after -v or
 * -h, 2 on a usage error (the usage on stderr). */
int glb_daemon_options(int argc, char **argv, const char *name, const char *version, const char *default_conf,
                       const struct glb_cfg_key *keys, glb_daemon_opts *o);

/* Forks into the background (new session, stdin/stdout to /dev/null).
 * Returns 0 in the child; the parent exits. -1 on failure. */
int glb_daemonize(void);

/* Writes our pid to path (created 0644, replaced atomically). Returns 0, or
 * -1 with a message in err. */
int glb_pidfile_write(const char *path, char *err, size_t errlen);

/* Removes the pid file if it still holds our pid. */
void glb_pidfile_remove(const char *path);

/* When running as root and user is non-empty: sets groups, gid and uid of
 * that user. Returns 0 (also when nothing to do), or -1 with a message. */
int glb_drop_privileges(const char *user, char *err, size_t errlen);

/* The start every daemon shares, after binding its sockets: checks that
 * username exists (when root), detaches unless foreground, and writes
 * pidfile (when non-empty). Privileges are dropped after, with
 * glb_drop_privileges, once everything that needs them is open. Returns 0,
 * or -1 with err (before detaching it still reaches the terminal). */
int glb_daemon_detach(int foreground, const char *pidfile, const char *username, char *err, size_t errlen);

/* Descriptors a daemon keeps besides its connections: listeners, spares,
 * epoll, pipes, the database, the log. */
#define GLB_FD_RESERVE 64

/* Makes room for want connections besides others descriptors (reserve
 * included): raises the RLIMIT_NOFILE soft limit as far as the hard limit
 * allows when short. Returns how many of want fit (want, or fewer with a
 * warning naming what, e.g. "map: max-connections"); at least 1 when want
 * is. */
unsigned glb_fd_budget(unsigned want, unsigned others, const char *what);

#endif
