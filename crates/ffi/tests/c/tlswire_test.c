/*
 * C tests of the tlswire ABI, compiled against the committed header by tests/c_api.rs.
 *
 * Usage: tlswire_test CERT_DIR OPENSSL_PORT
 *   CERT_DIR holds ca.crt, server.crt/.key, client.crt/.key, expired.crt/.key and
 *   wrong_name.crt/.key; OPENSSL_PORT is an `openssl s_server -rev` on 127.0.0.1.
 * Prints one line per test and exits 0 when all pass.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tlswire.h"

static const char *dir;
static int failures;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s (last error %d: %s)\n", __FILE__,   \
                    __LINE__, #cond, tlswire_last_error_code(),                         \
                    tlswire_last_error_message());                                      \
            failures++;                                                                 \
            return 0;                                                                   \
        }                                                                               \
    } while (0)

static char *path(const char *name) {
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static tlswire_client_config *client_config(int with_identity) {
    tlswire_client_config *cfg = NULL;
    if (!tlswire_client_config_new(&cfg)) return NULL;
    if (!tlswire_client_config_trust_pem_file(cfg, path("ca.crt"))) goto fail;
    if (with_identity &&
        !tlswire_client_config_identity_pem_files(cfg, path("client.crt"), path("client.key")))
        goto fail;
    return cfg;
fail:
    tlswire_client_config_free(cfg);
    return NULL;
}

static tlswire_server_config *server_config(const char *name, int client_auth) {
    char cert[600], key[600];
    tlswire_server_config *cfg = NULL;
    snprintf(cert, sizeof cert, "%s/%s.crt", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    if (!tlswire_server_config_new(cert, key, &cfg)) return NULL;
    if (client_auth &&
        !tlswire_server_config_client_auth(cfg, TLSWIRE_CLIENT_AUTH_REQUIRED, path("ca.crt"))) {
        tlswire_server_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* One round of a host event loop: poll every socket connection's fd for its interest (at
 * most 20 ms), then let each one do its I/O. */
static void poll_round(tlswire_conn **conns, int n) {
    struct pollfd fds[4];
    int i;
    for (i = 0; i < n; i++) {
        int fd = -1, interest = 0;
        fds[i].fd = -1;
        fds[i].events = 0;
        fds[i].revents = 0;
        if (conns[i] && tlswire_pollfd(conns[i], &fd) && tlswire_interest(conns[i], &interest) &&
            interest != 0) {
            fds[i].fd = fd;
            if (interest & TLSWIRE_INTEREST_READ) fds[i].events |= POLLIN;
            if (interest & TLSWIRE_INTEREST_WRITE) fds[i].events |= POLLOUT;
        }
    }
    poll(fds, (nfds_t)n, 20);
    for (i = 0; i < n; i++) {
        size_t avail;
        if (conns[i]) tlswire_bytesavailable(conns[i], &avail);
    }
}

/* Reads whatever `conn` has into buf at *len (bounded by cap). */
static void read_some(tlswire_conn *conn, char *buf, size_t *len, size_t cap) {
    size_t n = 0;
    if (*len < cap && tlswire_read(conn, (uint8_t *)buf + *len, cap - *len, &n)) *len += n;
}

/* Echoes what the server side reads back to the client. */
static void echo(tlswire_conn *server) {
    uint8_t buf[4096];
    size_t n = 0, off = 0, w = 0;
    int i;
    if (!tlswire_read(server, buf, sizeof buf, &n)) return;
    for (i = 0; i < 100 && off < n; i++) {
        if (!tlswire_write(server, buf + off, n - off, &w)) return;
        off += w;
        if (off < n) poll_round(&server, 1);
    }
}

/* A loopback listener on a free port; returns the fd and sets *port. */
static int listener(uint16_t *port) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

static int test_version_and_null_arguments(void) {
    tlswire_client_config *cfg = NULL;
    tlswire_conn *conn = NULL;
    size_t n = 0;
    int fd = 0, events = 0;
    CHECK(tlswire_init() == 1);
    CHECK(tlswire_version() != NULL && strlen(tlswire_version()) > 0);
    CHECK(tlswire_abi_version() == TLSWIRE_ABI_VERSION);

    CHECK(tlswire_connect(NULL, "127.0.0.1", 443, &conn) == 0);
    CHECK(tlswire_last_error_code() == TLSWIRE_ERROR_NULL_ARGUMENT);
    CHECK(strstr(tlswire_last_error_message(), "config") != NULL);
    CHECK(tlswire_client_config_new(NULL) == 0);
    CHECK(tlswire_client_config_new(&cfg) == 1);
    CHECK(tlswire_connect(cfg, NULL, 443, &conn) == 0);
    CHECK(tlswire_last_error_code() == TLSWIRE_ERROR_NULL_ARGUMENT);
    CHECK(tlswire_connect(cfg, "127.0.0.1", 443, NULL) == 0);
    /* A config that trusts nothing is refused with a message that says what to call. */
    CHECK(tlswire_connect(cfg, "127.0.0.1", 443, &conn) == 0);
    CHECK(tlswire_last_error_code() == TLSWIRE_ERROR_CONFIG);
    CHECK(strstr(tlswire_last_error_message(), "trust") != NULL);
    /* A missing file is named in the message. */
    CHECK(tlswire_client_config_trust_pem_file(cfg, "/nonexistent/ca.pem") == 0);
    CHECK(tlswire_last_error_code() == TLSWIRE_ERROR_CONFIG);
    CHECK(strstr(tlswire_last_error_message(), "/nonexistent/ca.pem") != NULL);
    CHECK(tlswire_server_config_client_auth(NULL, TLSWIRE_CLIENT_AUTH_NONE, NULL) == 0);
    CHECK(tlswire_client_config_alpn(cfg, "") == 0);
    CHECK(tlswire_last_error_code() == TLSWIRE_ERROR_INVALID_ARGUMENT);

    CHECK(tlswire_read(NULL, NULL, 0, &n) == 0);
    CHECK(tlswire_write(NULL, (const uint8_t *)"x", 1, &n) == 0);
    CHECK(tlswire_bytesavailable(NULL, &n) == 0);
    CHECK(tlswire_wait(NULL, 0) == 0);
    CHECK(tlswire_pollfd(NULL, &fd) == 0);
    CHECK(tlswire_interest(NULL, &events) == 0);
    CHECK(tlswire_close(NULL) == 0);
    CHECK(tlswire_feed(NULL, NULL, 0, &n) == 0);
    CHECK(tlswire_isopen(NULL) == 0);
    CHECK(tlswire_error_code(NULL) == TLSWIRE_ERROR_NULL_ARGUMENT);
    CHECK(tlswire_error_message(NULL) != NULL);

    /* NULL buffers and out-parameters on a live connection. */
    CHECK(tlswire_client_config_dangerous_accept_any_certificate(cfg) == 1);
    CHECK(tlswire_client_new(cfg, "localhost", &conn) == 1);
    CHECK(tlswire_read(conn, NULL, 5, &n) == 0);
    CHECK(tlswire_error_code(conn) == TLSWIRE_ERROR_NULL_ARGUMENT);
    CHECK(tlswire_read(conn, (uint8_t *)&fd, sizeof fd, NULL) == 0);
    CHECK(tlswire_peek_output(conn, NULL, &n) == 0);
    CHECK(tlswire_pollfd(conn, &fd) == 0);
    CHECK(tlswire_error_code(conn) == TLSWIRE_ERROR_WRONG_KIND);
    CHECK(tlswire_isopen(conn) == 1);
    CHECK(tlswire_consume_output(conn, 1u << 30) == 0);
    CHECK(tlswire_error_code(conn) == TLSWIRE_ERROR_INVALID_ARGUMENT);

    tlswire_conn_free(conn);
    tlswire_conn_free(NULL);
    tlswire_client_config_free(cfg);
    tlswire_client_config_free(NULL);
    tlswire_server_config_free(NULL);
    return 1;
}

/* Client and server are both tlswire: a poll() loop on pollfd/interest, mutual TLS, echo, then
 * close_notify seen by the server as a clean end. */
static int test_poll_loop_echo_with_tlswire_server(void) {
    const char *msg = "hello through tlswire";
    tlswire_client_config *ccfg = client_config(1);
    tlswire_server_config *scfg = server_config("server", 1);
    tlswire_conn *conns[2] = {NULL, NULL};
    char got[64];
    size_t len = 0, w = 0, cert_len = 0;
    const uint8_t *cert = NULL;
    uint16_t port = 0;
    int lfd = listener(&port), sfd = -1, i;
    CHECK(ccfg && scfg && lfd >= 0);
    CHECK(tlswire_connect(ccfg, "127.0.0.1", port, &conns[0]) == 1);
    CHECK(tlswire_isopen(conns[0]) == 1);
    /* Written before the handshake: sent when it completes. */
    CHECK(tlswire_write(conns[0], (const uint8_t *)msg, strlen(msg), &w) == 1 && w == strlen(msg));
    sfd = accept(lfd, NULL, NULL);
    CHECK(sfd >= 0);
    CHECK(tlswire_accept_fd(scfg, sfd, &conns[1]) == 1);
    for (i = 0; i < 500 && len < strlen(msg); i++) {
        poll_round(conns, 2);
        echo(conns[1]);
        read_some(conns[0], got, &len, sizeof got);
    }
    CHECK(len == strlen(msg) && memcmp(got, msg, len) == 0);
    CHECK(tlswire_handshake_complete(conns[0]) && tlswire_handshake_complete(conns[1]));
    /* The server verified and kept the client's certificate. */
    CHECK(tlswire_peer_certificate(conns[1], 0, &cert, &cert_len) == 1 && cert_len > 100);
    CHECK(tlswire_peer_certificate(conns[1], 9, &cert, &cert_len) == 0);

    CHECK(tlswire_close(conns[0]) == 1);
    CHECK(tlswire_isopen(conns[0]) == 0);
    CHECK(tlswire_write(conns[0], (const uint8_t *)"x", 1, &w) == 0);
    CHECK(tlswire_error_code(conns[0]) == TLSWIRE_ERROR_CLOSED);
    for (i = 0; i < 500 && tlswire_isopen(conns[1]); i++) poll_round(conns, 2);
    CHECK(tlswire_isopen(conns[1]) == 0);
    CHECK(tlswire_error_code(conns[1]) == TLSWIRE_OK);
    tlswire_conn_free(conns[0]);
    tlswire_conn_free(conns[1]);
    tlswire_client_config_free(ccfg);
    tlswire_server_config_free(scfg);
    close(lfd);
    return 1;
}

/* tlswire_connect by name ("localhost": resolved off-thread) to openssl s_server -rev, using
 * only tlswire_wait. */
static int test_wait_echo_with_openssl(uint16_t port) {
    const char *msg = "hello openssl\n", *want = "lssnepo olleh\n";
    tlswire_client_config *cfg = client_config(0);
    tlswire_conn *conn = NULL;
    char got[64];
    size_t len = 0, w = 0;
    int i, fd = -1, fd_again = -1;
    CHECK(cfg);
    CHECK(tlswire_connect(cfg, "localhost", port, &conn) == 1);
    CHECK(tlswire_pollfd(conn, &fd) == 1 && fd >= 0);
    CHECK(tlswire_write(conn, (const uint8_t *)msg, strlen(msg), &w) == 1 && w == strlen(msg));
    for (i = 0; i < 200 && len < strlen(want); i++) {
        if (!tlswire_wait(conn, 100)) CHECK(tlswire_error_code(conn) == TLSWIRE_ERROR_TIMEOUT);
        read_some(conn, got, &len, sizeof got);
    }
    CHECK(len == strlen(want) && memcmp(got, want, len) == 0);
    /* The descriptor kept its number through resolution and connection. */
    CHECK(tlswire_pollfd(conn, &fd_again) == 1 && fd_again == fd);
    CHECK(tlswire_close(conn) == 1);
    tlswire_conn_free(conn);
    tlswire_client_config_free(cfg);
    return 1;
}

/* Moves ciphertext between a sans-IO connection and its end of a socketpair. */
static void sans_io_round(tlswire_conn *conn, int sock) {
    const uint8_t *out = NULL;
    size_t out_len = 0, consumed = 0;
    uint8_t in[8192];
    ssize_t n;
    if (tlswire_peek_output(conn, &out, &out_len) && out_len > 0) {
        n = write(sock, out, out_len);
        if (n > 0) tlswire_consume_output(conn, (size_t)n);
    }
    n = read(sock, in, sizeof in);
    if (n > 0) {
        size_t fed = 0;
        while (fed < (size_t)n && tlswire_feed(conn, in + fed, (size_t)n - fed, &consumed) &&
               consumed > 0)
            fed += consumed;
    } else if (n == 0) {
        tlswire_feed(conn, NULL, 0, &consumed);
    }
}

/* The sans-IO variant over a socketpair, against a tlswire fd server. */
static int test_sans_io_over_socketpair(void) {
    const char *msg = "sans-IO says hi";
    tlswire_client_config *ccfg = client_config(1);
    tlswire_server_config *scfg = server_config("server", 1);
    tlswire_conn *client = NULL, *server = NULL;
    int sv[2], i, events = 0;
    char got[64];
    size_t len = 0, w = 0;
    CHECK(ccfg && scfg);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
    CHECK(tlswire_client_new(ccfg, "localhost", &client) == 1);
    CHECK(tlswire_interest(client, &events) == 1 && (events & TLSWIRE_INTEREST_WRITE));
    CHECK(tlswire_accept_fd(scfg, sv[1], &server) == 1);
    CHECK(tlswire_write(client, (const uint8_t *)msg, strlen(msg), &w) == 1 && w == strlen(msg));
    for (i = 0; i < 500 && len < strlen(msg); i++) {
        sans_io_round(client, sv[0]);
        poll_round(&server, 1);
        echo(server);
        read_some(client, got, &len, sizeof got);
    }
    CHECK(len == strlen(msg) && memcmp(got, msg, len) == 0);
    CHECK(tlswire_wait(client, 0) == 0);
    CHECK(tlswire_error_code(client) == TLSWIRE_ERROR_WRONG_KIND);
    /* The server closes cleanly; the sans-IO client sees close_notify, then EOF. */
    CHECK(tlswire_close(server) == 1);
    for (i = 0; i < 200 && tlswire_isopen(client); i++) {
        poll_round(&server, 1);
        sans_io_round(client, sv[0]);
    }
    CHECK(tlswire_isopen(client) == 0);
    CHECK(tlswire_error_code(client) == TLSWIRE_OK);
    tlswire_conn_free(server);
    sans_io_round(client, sv[0]);
    CHECK(tlswire_error_code(client) == TLSWIRE_OK);
    tlswire_conn_free(client);
    close(sv[0]);
    tlswire_client_config_free(ccfg);
    tlswire_server_config_free(scfg);
    return 1;
}

/* A TCP connection to 127.0.0.1:port made by the caller, non-blocking; -1 on failure. */
static int tcp_connect(uint16_t port) {
    struct sockaddr_in addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* openssl s_server -rev through a host poll() loop on pollfd/interest. */
static int test_poll_loop_with_openssl(uint16_t port) {
    const char *msg = "poll loop\n", *want = "pool llop\n";
    tlswire_client_config *cfg = client_config(0);
    tlswire_conn *conn = NULL;
    char got[64];
    size_t len = 0, w = 0;
    int i;
    CHECK(cfg);
    CHECK(tlswire_connect(cfg, "127.0.0.1", port, &conn) == 1);
    CHECK(tlswire_write(conn, (const uint8_t *)msg, strlen(msg), &w) == 1 && w == strlen(msg));
    for (i = 0; i < 500 && len < strlen(want) && tlswire_isopen(conn); i++) {
        poll_round(&conn, 1);
        read_some(conn, got, &len, sizeof got);
    }
    CHECK(len == strlen(want) && memcmp(got, want, len) == 0);
    CHECK(tlswire_close(conn) == 1);
    tlswire_conn_free(conn);
    tlswire_client_config_free(cfg);
    return 1;
}

/* openssl s_server -rev through the sans-IO variant over the caller's own TCP socket. */
static int test_sans_io_with_openssl(uint16_t port) {
    const char *msg = "sans-IO\n", *want = "OI-snas\n";
    tlswire_client_config *cfg = client_config(0);
    tlswire_conn *conn = NULL;
    char got[64];
    size_t len = 0, w = 0;
    int i, fd = tcp_connect(port);
    CHECK(cfg && fd >= 0);
    CHECK(tlswire_client_new(cfg, "localhost", &conn) == 1);
    CHECK(tlswire_write(conn, (const uint8_t *)msg, strlen(msg), &w) == 1 && w == strlen(msg));
    for (i = 0; i < 500 && len < strlen(want) && tlswire_isopen(conn); i++) {
        struct pollfd p;
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        sans_io_round(conn, fd);
        read_some(conn, got, &len, sizeof got);
        poll(&p, 1, 20);
    }
    CHECK(len == strlen(want) && memcmp(got, want, len) == 0);
    CHECK(tlswire_close(conn) == 1);
    sans_io_round(conn, fd);
    tlswire_conn_free(conn);
    close(fd);
    tlswire_client_config_free(cfg);
    return 1;
}

/* A client over one end of a socketpair against a tlswire server on the other, driven until
 * the client is no longer open; returns the client's error code and copies its message. */
static int client_outcome(const char *server_cert, char *message, size_t cap) {
    tlswire_client_config *ccfg = client_config(0);
    tlswire_server_config *scfg = server_config(server_cert, 0);
    tlswire_conn *conns[2] = {NULL, NULL};
    int sv[2], i, code = -1;
    if (!ccfg || !scfg || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;
    if (tlswire_connect_fd(ccfg, sv[0], "localhost", &conns[0]) &&
        tlswire_accept_fd(scfg, sv[1], &conns[1])) {
        for (i = 0; i < 500 && tlswire_isopen(conns[0]); i++) poll_round(conns, 2);
        code = tlswire_error_code(conns[0]);
        snprintf(message, cap, "%s", tlswire_error_message(conns[0]));
    }
    tlswire_conn_free(conns[0]);
    tlswire_conn_free(conns[1]);
    tlswire_client_config_free(ccfg);
    tlswire_server_config_free(scfg);
    return code;
}

static int test_bad_certificate_and_name_mismatch(void) {
    char message[512];
    CHECK(client_outcome("expired", message, sizeof message) == TLSWIRE_ERROR_BAD_CERTIFICATE);
    CHECK(strstr(message, "expired") != NULL);
    CHECK(client_outcome("wrong_name", message, sizeof message) == TLSWIRE_ERROR_NAME_MISMATCH);
    CHECK(strstr(message, "not valid for name") != NULL);
    CHECK(strstr(message, "localhost") != NULL);
    return 1;
}

static int test_peer_eof_during_handshake(void) {
    tlswire_client_config *cfg = client_config(0);
    tlswire_conn *conn = NULL;
    int sv[2], i;
    size_t n = 1;
    char hello[4096];
    CHECK(cfg && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(tlswire_connect_fd(cfg, sv[0], "localhost", &conn) == 1);
    /* The peer reads the ClientHello, then hangs up without answering. */
    CHECK(tlswire_bytesavailable(conn, &n) == 1 && n == 0);
    CHECK(read(sv[1], hello, sizeof hello) > 0);
    close(sv[1]);
    for (i = 0; i < 100 && tlswire_isopen(conn); i++) tlswire_wait(conn, 50);
    CHECK(tlswire_isopen(conn) == 0);
    CHECK(tlswire_error_code(conn) == TLSWIRE_ERROR_EOF_DURING_HANDSHAKE);
    CHECK(strstr(tlswire_error_message(conn), "before the TLS handshake finished") != NULL);
    tlswire_conn_free(conn);
    tlswire_client_config_free(cfg);
    return 1;
}

/* The server sends "bye" and then closes cleanly (close_notify) or abruptly (no close_notify). */
static int close_then_read(int clean) {
    tlswire_client_config *ccfg = client_config(0);
    tlswire_server_config *scfg = server_config("server", 0);
    tlswire_conn *conns[2] = {NULL, NULL};
    int sv[2], i;
    char got[16];
    size_t len = 0, w = 0, n = 0;
    CHECK(ccfg && scfg && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(tlswire_connect_fd(ccfg, sv[0], "localhost", &conns[0]) == 1);
    CHECK(tlswire_accept_fd(scfg, sv[1], &conns[1]) == 1);
    CHECK(tlswire_write(conns[1], (const uint8_t *)"bye", 3, &w) == 1 && w == 3);
    for (i = 0; i < 500 && !tlswire_handshake_complete(conns[1]); i++) poll_round(conns, 2);
    poll_round(conns, 2);
    if (clean) CHECK(tlswire_close(conns[1]) == 1);
    tlswire_conn_free(conns[1]);
    conns[1] = NULL;
    for (i = 0; i < 200 && len < 3; i++) {
        tlswire_wait(conns[0], 50);
        read_some(conns[0], got, &len, sizeof got);
    }
    CHECK(len == 3 && memcmp(got, "bye", 3) == 0);
    for (i = 0; i < 100 && tlswire_isopen(conns[0]); i++) tlswire_wait(conns[0], 50);
    CHECK(tlswire_isopen(conns[0]) == 0);
    if (clean) {
        CHECK(tlswire_read(conns[0], (uint8_t *)got, sizeof got, &n) == 1 && n == 0);
        CHECK(tlswire_error_code(conns[0]) == TLSWIRE_OK);
    } else {
        CHECK(tlswire_read(conns[0], (uint8_t *)got, sizeof got, &n) == 0 && n == 0);
        CHECK(tlswire_error_code(conns[0]) == TLSWIRE_ERROR_UNEXPECTED_EOF);
        CHECK(strstr(tlswire_error_message(conns[0]), "close_notify") != NULL);
    }
    tlswire_conn_free(conns[0]);
    tlswire_client_config_free(ccfg);
    tlswire_server_config_free(scfg);
    return 1;
}

static int test_close_notify_vs_abrupt_close(void) {
    CHECK(close_then_read(1));
    CHECK(close_then_read(0));
    return 1;
}

static int test_wait_timeout(void) {
    tlswire_client_config *ccfg = client_config(0);
    tlswire_server_config *scfg = server_config("server", 0);
    tlswire_conn *conns[2] = {NULL, NULL};
    int sv[2], i;
    long start;
    CHECK(ccfg && scfg && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(tlswire_connect_fd(ccfg, sv[0], "localhost", &conns[0]) == 1);
    CHECK(tlswire_accept_fd(scfg, sv[1], &conns[1]) == 1);
    for (i = 0; i < 500 && !tlswire_handshake_complete(conns[0]); i++) poll_round(conns, 2);
    CHECK(tlswire_handshake_complete(conns[0]));
    poll_round(conns, 2);
    start = now_ms();
    CHECK(tlswire_wait(conns[0], 100) == 0);
    CHECK(now_ms() - start >= 90);
    CHECK(tlswire_error_code(conns[0]) == TLSWIRE_ERROR_TIMEOUT);
    CHECK(tlswire_isopen(conns[0]) == 1);
    /* Data already buffered: wait returns at once. */
    CHECK(tlswire_write(conns[1], (const uint8_t *)"x", 1, (size_t[]){0}) == 1);
    for (i = 0; i < 100; i++) {
        size_t n = 0;
        poll_round(conns, 2);
        if (tlswire_bytesavailable(conns[0], &n) && n > 0) break;
    }
    CHECK(tlswire_wait(conns[0], 10000) == 1);
    CHECK(tlswire_error_code(conns[0]) == TLSWIRE_OK);
    tlswire_conn_free(conns[0]);
    tlswire_conn_free(conns[1]);
    tlswire_client_config_free(ccfg);
    tlswire_server_config_free(scfg);
    return 1;
}

static int test_connect_refused(void) {
    tlswire_client_config *cfg = client_config(0);
    tlswire_conn *conn = NULL;
    uint16_t port = 0;
    int lfd = listener(&port), i;
    CHECK(cfg && lfd >= 0);
    close(lfd); /* Nothing listens on the port now. */
    CHECK(tlswire_connect(cfg, "127.0.0.1", port, &conn) == 1);
    for (i = 0; i < 100 && tlswire_isopen(conn); i++) tlswire_wait(conn, 50);
    CHECK(tlswire_isopen(conn) == 0);
    CHECK(tlswire_error_code(conn) == TLSWIRE_ERROR_CONNECT);
    CHECK(strstr(tlswire_error_message(conn), "127.0.0.1") != NULL);
    tlswire_conn_free(conn);
    CHECK(tlswire_connect(cfg, "no-such-host.invalid", port, &conn) == 1);
    /* Up to 30 s: a resolver whose DNS server does not answer gives up after ~10 s. */
    for (i = 0; i < 600 && tlswire_isopen(conn); i++) tlswire_wait(conn, 50);
    CHECK(tlswire_error_code(conn) == TLSWIRE_ERROR_RESOLVE);
    CHECK(strstr(tlswire_error_message(conn), "no-such-host.invalid") != NULL);
    tlswire_conn_free(conn);
    tlswire_client_config_free(cfg);
    return 1;
}

#define RUN(test)                                            \
    do {                                                     \
        int ok_ = (test);                                    \
        printf("%s %s\n", ok_ ? "ok  " : "FAIL", #test);     \
        fflush(stdout);                                      \
    } while (0)

int main(int argc, char **argv) {
    uint16_t openssl_port;
    if (argc != 3) {
        fprintf(stderr, "usage: %s CERT_DIR OPENSSL_PORT\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    openssl_port = (uint16_t)atoi(argv[2]);
    RUN(test_version_and_null_arguments());
    RUN(test_poll_loop_echo_with_tlswire_server());
    RUN(test_wait_echo_with_openssl(openssl_port));
    RUN(test_sans_io_over_socketpair());
    RUN(test_poll_loop_with_openssl(openssl_port));
    RUN(test_sans_io_with_openssl(openssl_port));
    RUN(test_bad_certificate_and_name_mismatch());
    RUN(test_peer_eof_during_handshake());
    RUN(test_close_notify_vs_abrupt_close());
    RUN(test_wait_timeout());
    RUN(test_connect_refused());
    printf("%d failure(s)\n", failures);
    return failures == 0 ? 0 : 1;
}
