/* The HTTP check's response parser: status line, headers, Content-Length,
 * chunked and close-delimited bodies, read straight out of the bufferevent's
 * input and drained as it goes (probe_http.c has the connection).
 * SPDX-License-Identifier: BSD-3-Clause */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/measure/probe_http_int.h"

static int lower_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* "HTTP/1.x DDD[ reason]". Returns the status or -1. */
static int parse_status_line(const char *s, size_t n)
{
    int st;
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
        return -1;
    if (s[9] < '1' || s[9] > '9' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9')
        return -1;
    if (n > 12 && s[12] != ' ')
        return -1;
    st = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    return st;
}

/* A token character (RFC 9110 §5.6.2). */
static int tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A field line (RFC 9112 §5): a token, a colon, a value without control
 * bytes but HTAB. Returns the colon, or NULL when malformed. Spaces before
 * the colon are refused, which also refuses obsolete line folding. */
static const char *field_line(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i == n || s[i] != ':')
        return NULL;
    for (size_t k = i + 1; k < n; k++) {
        unsigned char ch = (unsigned char)s[k];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7F)
            return NULL;
    }
    return s + i;
}

/* A header line (no EOL). Returns 0 or -1 (malformed). */
static int parse_header(glb_http_check *c, const char *s, size_t n)
{
    const char *colon = field_line(s, n);
    const char *v, *ve;
    size_t nlen;

    if (!colon)
        return -1;
    nlen = (size_t)(colon - s);
    v = colon + 1;
    ve = s + n;
    while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    if (c->interim)
        return 0;
    if (lower_eq(s, nlen, "content-length")) {
        uint64_t len = 0;
        if (v == ve)
            return -1;
        for (const char *d = v; d < ve; d++) {
            if (*d < '0' || *d > '9' || len > (UINT64_MAX - 9) / 10)
                return -1;
            len = len * 10 + (uint64_t)(*d - '0');
        }
        if (c->have_len && len != c->content_length)
            return -1;
        c->have_len = 1;
        c->content_length = len;
    } else if (lower_eq(s, nlen, "transfer-encoding")) {
        /* chunked when it is the last coding */
        const char *last = ve;
        while (last > v && last[-1] != ',')
            last--;
        while (last < ve && (*last == ' ' || *last == '\t'))
            last++;
        /* Transfer-Encoding overrides Content-Length; a final coding other
         * than chunked leaves the body delimited by the close */
        c->chunked = lower_eq(last, (size_t)(ve - last), "chunked") ? 1 : -1;
    }
    return 0;
}

/* The blank line after the headers. Returns 1 when the check finished. */
static int headers_done(glb_http_check *c)
{
    int st = c->r.status;

    if (c->interim) { /* 1xx: another status line follows */
        c->interim = 0;
        c->ph = PH_STATUS;
        return 0;
    }
    if (st == 204 || st == 304) {
        glb_http_complete(c);
        return 1;
    }
    if (c->chunked == 1) {
        c->ph = PH_CHUNK_SIZE;
    } else if (c->chunked == 0 && c->have_len) {
        if (c->content_length > c->max_body) {
            glb_http_finish(c, GLB_HTTP_ERR_TOO_BIG);
            return 1;
        }
        if (c->content_length == 0) {
            glb_http_complete(c);
            return 1;
        }
        c->remaining = c->content_length;
        c->ph = PH_BODY_LEN;
    } else {
        c->ph = PH_BODY_CLOSE;
    }
    return 0;
}

/* Counts n body bytes. Returns 1 when the check finished (too big; then
 * body_bytes keeps what was counted before). */
static int count_body(glb_http_check *c, size_t n)
{
    if (n > c->max_body - c->r.body_bytes) {
        glb_http_finish(c, GLB_HTTP_ERR_TOO_BIG);
        return 1;
    }
    c->r.body_bytes += n;
    return 0;
}

/* One line in a line-oriented phase. Returns 1 when the check finished. */
static int handle_line(glb_http_check *c, const char *s, size_t n)
{
    switch (c->ph) {
    case PH_STATUS: {
        int st = parse_status_line(s, n);
        if (st < 100 || st == 101) {
            glb_http_finish(c, GLB_HTTP_ERR_PROTOCOL);
            return 1;
        }
        c->r.status = st;
        c->interim = st < 200;
        c->have_len = 0;
        c->chunked = 0;
        c->content_length = 0;
        c->ph = PH_HEADERS;
        return 0;
    }
    case PH_HEADERS:
        if (n == 0)
            return headers_done(c);
        if (parse_header(c, s, n) != 0) {
            glb_http_finish(c, GLB_HTTP_ERR_PROTOCOL);
            return 1;
        }
        return 0;
    case PH_CHUNK_SIZE: {
        uint64_t size = 0;
        size_t i;
        for (i = 0; i < n; i++) {
            int ch = (unsigned char)s[i], d;
            if (ch >= '0' && ch <= '9')
                d = ch - '0';
            else if (ch >= 'a' && ch <= 'f')
                d = ch - 'a' + 10;
            else if (ch >= 'A' && ch <= 'F')
                d = ch - 'A' + 10;
            else
                break;
            if (size > (UINT64_MAX >> 4)) {
                glb_http_finish(c, GLB_HTTP_ERR_PROTOCOL);
                return 1;
            }
            size = size << 4 | (uint64_t)d;
        }
        /* at least one digit, then optional whitespace and extensions */
        if (i == 0 || (i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t')) {
            glb_http_finish(c, GLB_HTTP_ERR_PROTOCOL);
            return 1;
        }
        if (size == 0) {
            c->ph = PH_TRAILERS;
            return 0;
        }
        if (size > (uint64_t)(c->max_body - c->r.body_bytes)) {
            glb_http_finish(c, GLB_HTTP_ERR_TOO_BIG);
            return 1;
        }
        c->remaining = size;
        c->ph = PH_CHUNK_DATA;
        return 0;
    }
    case PH_CHUNK_END:
        if (n != 0) {
            glb_http_finish(c, GLB_HTTP_ERR_PROTOCOL);
            return 1;
        }
        c->ph = PH_CHUNK_SIZE;
        return 0;
    case PH_TRAILERS:
        if (n == 0) {
            glb_http_complete(c);
            return 1;
        }
        if (!field_line(s, n)) {
            glb_http_finish(c, GLB_HTTP_ERR_PROTOCOL);
            return 1;
        }
        return 0;
    default:
        return 0;
    }
}

/* Consumes what the input holds. Returns 1 when the check finished (and is
 * freed), 0 when it needs more. */
int glb_http_process_input(glb_http_check *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    for (;;) {
        size_t avail = evbuffer_get_length(in);

        switch (c->ph) {
        case PH_STATUS:
        case PH_HEADERS:
        case PH_TRAILERS:
        case PH_CHUNK_SIZE:
        case PH_CHUNK_END: {
            size_t eol_len = 0, len, limit;
            struct evbuffer_ptr p;
            unsigned char *line;
            int hdr = c->ph == PH_STATUS || c->ph == PH_HEADERS || c->ph == PH_TRAILERS;

            if (avail == 0)
                return 0;
            if (c->ph == PH_STATUS) {
                /* fail fast on something that is not HTTP at all */
                char start[5];
                size_t k = avail < 5 ? avail : 5;
                if (evbuffer_copyout(in, start, k) != (ev_ssize_t)k || memcmp(start, "HTTP/", k) != 0) {
                    glb_http_finish(c, GLB_HTTP_ERR_PROTOCOL);
                    return 1;
                }
            }
            limit = hdr ? MAX_HEADER - c->hdr_bytes : MAX_CHUNK_LINE;
            /* Lines end with CRLF: a bare LF, or a CR or NUL inside the
             * line, is not HTTP a healthy site sends. */
            p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
            if (p.pos < 0) {
                if (avail > limit) {
                    glb_http_finish(c, GLB_HTTP_ERR_PROTOCOL);
                    return 1;
                }
                return 0;
            }
            eol_len = 2;
            if (p.pos == 0 || (size_t)p.pos + 1 > limit ||
                !(line = evbuffer_pullup(in, (ev_ssize_t)p.pos + 1)) || line[p.pos - 1] != '\r') {
                glb_http_finish(c, GLB_HTTP_ERR_PROTOCOL);
                return 1;
            }
            len = (size_t)p.pos - 1;
            if (memchr(line, '\r', len) || memchr(line, '\0', len)) {
                glb_http_finish(c, GLB_HTTP_ERR_PROTOCOL);
                return 1;
            }
            if (hdr)
                c->hdr_bytes += len + eol_len;
            if (handle_line(c, (const char *)line, len))
                return 1;
            evbuffer_drain(in, len + eol_len);
            break;
        }
        case PH_BODY_LEN:
        case PH_CHUNK_DATA: {
            size_t n = avail;
            if (n == 0)
                return 0;
            if ((uint64_t)n > c->remaining)
                n = (size_t)c->remaining;
            /* a Content-Length body was checked against max_body already,
             * a chunk when its size was read */
            c->r.body_bytes += n;
            evbuffer_drain(in, n);
            c->remaining -= n;
            if (c->remaining == 0) {
                if (c->ph == PH_BODY_LEN) {
                    glb_http_complete(c);
                    return 1;
                }
                c->ph = PH_CHUNK_END;
            }
            break;
        }
        case PH_BODY_CLOSE:
            if (avail == 0)
                return 0;
            if (count_body(c, avail))
                return 1;
            evbuffer_drain(in, avail);
            return 0;
        default:
            return 0;
        }
    }
}
