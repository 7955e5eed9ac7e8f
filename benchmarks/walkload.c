/* walkload: a load client for `csip_load.py --walk` that costs the machine little CPU per request.
 *
 * The server under test shares its cores with the load client, so every microsecond the client spends
 * is one the server does not get; a Python client cost about as much per request as the server did.
 * This one keeps many kept-alive mutual-TLS connections, each presenting its own device certificate
 * (the server answers a site's URLs only to that site's certificate, which no common HTTP load tool
 * can do per connection), and walks each connection's own list of GETs round-robin, sending the next
 * request as soon as the previous response is complete. One thread and one epoll set: at a fifth or
 * less of the server's CPU per request, a part of one core is all it takes.
 *
 * Config, one directive a line (paths without spaces):
 *   host 127.0.0.1 | port 8443 | ca ca.pem | ciphers ECDHE-ECDSA-AES128-CCM8 | warmup_s 2 | duration_s 20
 *   conn cert.pem key.pem      (starts a connection)
 *   get /path                  (appends a GET to the last connection's walk)
 * Prints one JSON object: ok requests in the window, latency percentiles, errors by kind, and the
 * client's own CPU seconds inside the window.
 *
 * Build: gcc -O2 -o walkload walkload.c -lssl -lcrypto      Run: walkload CONFIG
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_BYTES 65536 /* a response larger than this is an error: the walked resources are a few kB */

enum { E_CONNECT, E_HTTP, E_WARMUP_HTTP, E_CLOSED, E_PROTOCOL, E_KINDS };
static const char *ERROR_NAMES[E_KINDS] = {"connect", "http", "warm-up http", "closed early", "protocol"};

typedef struct {
    char *cert, *key;
    char **requests; /* full request texts, sent in turn */
    size_t *request_bytes;
    int n_requests, next;
    int fd, open;
    SSL *ssl;
    char *buf;
    size_t have;
    double sent_at;
    const char *pending; /* a request whose write TLS asked to retry when writable */
    size_t pending_bytes;
} Conn;

static Conn *conns;
static int n_conns;
static double *latencies; /* seconds, responses completed inside the window */
static size_t n_lat, cap_lat;
static long errors[E_KINDS];
static double window_start, window_stop;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec * 1e-6;
}

static void die(const char *what) {
    fprintf(stderr, "walkload: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static void *grow(void *p, size_t bytes) {
    p = realloc(p, bytes);
    if (!p) die("out of memory");
    return p;
}

static void record(double latency_s) {
    if (n_lat == cap_lat) {
        cap_lat = cap_lat ? cap_lat * 2 : 65536;
        latencies = grow(latencies, cap_lat * sizeof *latencies);
    }
    latencies[n_lat++] = latency_s;
}

static void close_conn(Conn *c, int epfd) {
    if (!c->open) return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    SSL_free(c->ssl); /* no close_notify: the run is over or the connection already failed */
    close(c->fd);
    c->open = 0;
}

/* Write (or retry) a request; TLS may ask to wait for the socket to take more. */
static void write_request(Conn *c, int epfd, const char *data, size_t bytes) {
    int n = SSL_write(c->ssl, data, (int)bytes);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (n > 0) {
        if (c->pending) epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->pending = NULL;
    } else if (SSL_get_error(c->ssl, n) == SSL_ERROR_WANT_WRITE) {
        if (!c->pending) { /* the retry must pass the same buffer: OpenSSL checks it */
            ev.events |= EPOLLOUT;
            epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        }
        c->pending = data, c->pending_bytes = bytes;
    } else {
        if (now_s() < window_stop) errors[E_CLOSED]++;
        close_conn(c, epfd);
    }
}

static void send_next(Conn *c, int epfd) {
    double t = now_s();
    if (t >= window_stop) {
        close_conn(c, epfd);
        return;
    }
    int i = c->next++ % c->n_requests;
    c->sent_at = t;
    write_request(c, epfd, c->requests[i], c->request_bytes[i]);
}

/* Bytes of a complete response at the start of the buffer, 0 if not all in yet, -1 if unframed. */
static long response_bytes(Conn *c) {
    char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
    if (!end) return c->have >= BUF_BYTES ? -1 : 0;
    long head = end + 4 - c->buf, length = -1;
    for (char *line = strstr(c->buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0) length = strtol(line + 17, NULL, 10);
    if (length < 0 || head + length > BUF_BYTES) return -1; /* the server always sends a length */
    return c->have >= (size_t)(head + length) ? head + length : 0;
}

static void on_readable(Conn *c, int epfd) {
    for (;;) {
        if (c->have >= BUF_BYTES - 1) { errors[E_PROTOCOL]++; close_conn(c, epfd); return; }
        int n = SSL_read(c->ssl, c->buf + c->have, (int)(BUF_BYTES - c->have - 1));
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
            if (now_s() < window_stop) errors[E_CLOSED]++;
            close_conn(c, epfd);
            return;
        }
        c->have += n;
        c->buf[c->have] = 0; /* for strstr in response_bytes */
        long bytes;
        while ((bytes = response_bytes(c)) != 0) {
            if (bytes < 0) { errors[E_PROTOCOL]++; close_conn(c, epfd); return; }
            double t = now_s();
            int ok = c->have > 12 && memcmp(c->buf + 9, "200", 3) == 0;
            if (t >= window_start && t < window_stop) {
                if (ok) record(t - c->sent_at); else errors[E_HTTP]++;
            } else if (!ok && t < window_start) {
                errors[E_WARMUP_HTTP]++;
            }
            memmove(c->buf, c->buf + bytes, c->have - bytes);
            c->have -= bytes;
            c->buf[c->have] = 0;
            send_next(c, epfd);
            if (!c->open) return;
        }
        /* a whole response in and nothing after it: the next bytes answer the request just sent, so
           no read to learn the socket is empty (a system call per request saved) */
        if (c->have == 0 && SSL_pending(c->ssl) == 0) return;
    }
}

/* A blocking TCP connect and TLS handshake, then non-blocking: handshakes are outside the window. */
static int open_conn(Conn *c, SSL_CTX *ctx, struct addrinfo *addr, const char *host) {
    c->fd = socket(addr->ai_family, SOCK_STREAM, 0);
    if (c->fd < 0) return -1;
    if (connect(c->fd, addr->ai_addr, addr->ai_addrlen) < 0) {
        close(c->fd);
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ssl = SSL_new(ctx);
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl); /* the server's certificate must name the host */
    if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) : X509_VERIFY_PARAM_set1_host(param, host, 0)) != 1 ||
        SSL_use_certificate_chain_file(c->ssl, c->cert) != 1 ||
        SSL_use_PrivateKey_file(c->ssl, c->key, SSL_FILETYPE_PEM) != 1 || SSL_set_fd(c->ssl, c->fd) != 1 ||
        SSL_connect(c->ssl) != 1) {
        ERR_print_errors_fp(stderr);
        SSL_free(c->ssl);
        close(c->fd);
        return -1;
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct_ms(double q) {
    if (!n_lat) return 0;
    size_t i = (size_t)(q * n_lat);
    return 1e3 * latencies[i < n_lat ? i : n_lat - 1];
}

/* The config: see the top of this file. */
static void read_config(const char *path, char **host, char **port, char **ca, char **ciphers, double *warmup_s,
                        double *duration_s) {
    FILE *f = fopen(path, "r");
    if (!f) die("cannot open the config");
    char line[4096], key[32], a[2048], b[2048];
    while (fgets(line, sizeof line, f)) {
        int n = sscanf(line, "%31s %2047s %2047s", key, a, b);
        if (n < 2) continue;
        if (!strcmp(key, "host")) *host = strdup(a);
        else if (!strcmp(key, "port")) *port = strdup(a);
        else if (!strcmp(key, "ca")) *ca = strdup(a);
        else if (!strcmp(key, "ciphers")) *ciphers = strdup(a);
        else if (!strcmp(key, "warmup_s")) *warmup_s = atof(a);
        else if (!strcmp(key, "duration_s")) *duration_s = atof(a);
        else if (!strcmp(key, "conn") && n == 3) {
            conns = grow(conns, (n_conns + 1) * sizeof *conns);
            conns[n_conns++] = (Conn){.cert = strdup(a), .key = strdup(b)};
        } else if (!strcmp(key, "get") && n_conns) {
            Conn *c = &conns[n_conns - 1];
            char request[4096];
            int bytes = snprintf(request, sizeof request,
                                 "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/sep+xml\r\n\r\n", a,
                                 *host ? *host : "localhost");
            c->requests = grow(c->requests, (c->n_requests + 1) * sizeof *c->requests);
            c->request_bytes = grow(c->request_bytes, (c->n_requests + 1) * sizeof *c->request_bytes);
            c->requests[c->n_requests] = strdup(request);
            c->request_bytes[c->n_requests++] = (size_t)bytes;
        } else {
            fprintf(stderr, "walkload: unknown line: %s", line);
            exit(2);
        }
    }
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: walkload CONFIG\n");
        return 2;
    }
    char *host = NULL, *port = NULL, *ca = NULL, *ciphers = "ECDHE-ECDSA-AES128-CCM8";
    double warmup_s = 2, duration_s = 20;
    read_config(argv[1], &host, &port, &ca, &ciphers, &warmup_s, &duration_s);
    if (!host || !port || !ca || !n_conns) die("the config needs host, port, ca and at least one conn");

    /* IEEE 2030.5 / CSIP: TLS 1.2 only, the given ECDHE-ECDSA suite on P-256, the server checked against the CA */
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) || !SSL_CTX_set_cipher_list(ctx, ciphers) ||
        !SSL_CTX_set1_groups_list(ctx, "P-256") || !SSL_CTX_load_verify_locations(ctx, ca, NULL))
        die("TLS setup failed");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *addr;
    if (getaddrinfo(host, port, &hints, &addr) != 0) die("cannot resolve the host");
    int epfd = epoll_create1(0);
    for (int i = 0; i < n_conns; i++) {
        Conn *c = &conns[i];
        if (!c->n_requests || open_conn(c, ctx, addr, host) < 0) {
            errors[E_CONNECT]++;
            continue;
        }
        c->open = 1;
        c->buf = grow(NULL, BUF_BYTES + 1);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    }
    freeaddrinfo(addr);

    /* every connection walks from now; the window opens after the warm-up (the server's caches filled) */
    window_start = now_s() + warmup_s;
    window_stop = window_start + duration_s;
    for (int i = 0; i < n_conns; i++)
        if (conns[i].open) send_next(&conns[i], epfd);
    double cpu_at_start = -1, cpu_in_window = 0;
    struct epoll_event events[256];
    for (;;) {
        double t = now_s();
        if (cpu_at_start < 0 && t >= window_start) cpu_at_start = cpu_s();
        if (t >= window_stop) break;
        double until = t < window_start ? window_start : window_stop; /* wake to read the CPU clock */
        int n = epoll_wait(epfd, events, 256, (int)((until - t) * 1e3) + 1);
        for (int i = 0; i < n; i++) {
            Conn *c = events[i].data.ptr;
            if (!c->open) continue;
            if ((events[i].events & EPOLLOUT) && c->pending) write_request(c, epfd, c->pending, c->pending_bytes);
            if (c->open && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(c, epfd);
        }
    }
    cpu_in_window = cpu_s() - cpu_at_start;
    for (int i = 0; i < n_conns; i++) close_conn(&conns[i], epfd);

    qsort(latencies, n_lat, sizeof *latencies, cmp_double);
    long total_errors = 0;
    for (int k = 0; k < E_KINDS; k++) total_errors += errors[k];
    printf("{\"connections\": %d, \"duration_s\": %g, \"requests_ok\": %zu, "
           "\"requests_per_s\": %.1f, \"latency_ms\": {\"p50\": %.2f, \"p90\": %.2f, \"p99\": %.2f, \"max\": %.2f}, "
           "\"errors\": %ld, \"errors_by_kind\": {",
           n_conns, duration_s, n_lat, n_lat / duration_s, pct_ms(0.5), pct_ms(0.9), pct_ms(0.99),
           n_lat ? 1e3 * latencies[n_lat - 1] : 0.0, total_errors);
    const char *sep = "";
    for (int k = 0; k < E_KINDS; k++)
        if (errors[k]) printf("%s\"%s\": %ld", sep, ERROR_NAMES[k], errors[k]), sep = ", ";
    printf("}, \"cpu_s\": %.3f}\n", cpu_in_window);
    SSL_CTX_free(ctx);
    return 0;
}
