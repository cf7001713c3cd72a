/* Logging to stderr or syslog, with levels. SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_LOG_H
#define GLB_LOG_H

#include <stdarg.h>

enum glb_log_level { GLB_LOG_ERR = 0, GLB_LOG_WARN, GLB_LOG_NOTICE, GLB_LOG_INFO, GLB_LOG_DEBUG };

/* Sets the program name, the destination (syslog when use_syslog, else stderr)
 * and the most verbose level printed. Safe to call again (e.g. on reload). */
void glb_log_init(const char *ident, int use_syslog, int level);

/* Parses "err", "warning", "notice", "info", "debug" or 0..4; -1 when unknown. */
int glb_log_level_parse(const char *s);

/* Logs one line at level (no trailing newline needed). Thread-safe. */
void glb_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* glb_log with a va_list. */
void glb_vlog(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_err(...)    glb_log(GLB_LOG_ERR, __VA_ARGS__)
#define log_warn(...)   glb_log(GLB_LOG_WARN, __VA_ARGS__)
#define log_notice(...) glb_log(GLB_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   glb_log(GLB_LOG_INFO, __VA_ARGS__)
#define log_debug(...)  glb_log(GLB_LOG_DEBUG, __VA_ARGS__)

#endif
