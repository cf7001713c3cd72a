/* Logging to stderr or syslog. SPDX-License-Identifier: BSD-3-Clause */
#include "shared/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

static const char *log_ident = "glb";
static int log_syslog;
static int log_level = GLB_LOG_INFO;

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};
static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG};

void glb_log_init(const char *ident, int use_syslog, int level)
{
    if (log_syslog)
        closelog();
    log_ident = ident ? ident : "glb";
    log_syslog = use_syslog;
    log_level = level;
    if (use_syslog)
        openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int glb_log_level_parse(const char *s)
{
    static const char *const alias[] = {"err", "warn", "notice", "info", "debug"};
    for (int i = 0; i <= GLB_LOG_DEBUG; i++)
        if (strcasecmp(s, level_names[i]) == 0 || strcasecmp(s, alias[i]) == 0)
            return i;
    if (s[0] >= '0' && s[0] <= '4' && s[1] == '\0')
        return s[0] - '0';
    return -1;
}

void glb_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    glb_vlog(level, fmt, ap);
    va_end(ap);
}

void glb_vlog(int level, const char *fmt, va_list ap)
{
    if (level > log_level)
        return;
    if (level < 0)
        level = 0;
    if (level > GLB_LOG_DEBUG)
        level = GLB_LOG_DEBUG;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (log_syslog) {
        syslog(syslog_prio[level], "%s", msg);
        return;
    }
    /* One fprintf per line keeps lines from threads whole. */
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ld %s: %s: %s\n", stamp, ts.tv_nsec / 1000000, log_ident,
            level_names[level], msg);
}
