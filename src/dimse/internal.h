/*
 * dimse internals: a connection (TCP, optionally TLS) with deadline-bounded reads and writes,
 * shared by the SCP (net.c) and the SCU (scu.c). Not a public API.
 */
#ifndef MEDSEAL_DIMSE_INTERNAL_H
#define MEDSEAL_DIMSE_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "medseal/dimse.h"

typedef struct dm_conn {
    int fd;
    SSL *ssl;
    const atomic_int *stop; /* non-zero: give up waiting (server stopping); may be NULL */
} dm_conn;

uint64_t dm__now_ms(void);
/* 0 on success; -1 on error, EOF, a deadline (CLOCK_MONOTONIC ms) passed, or *stop set. *why
 * names which ("timeout", "closed", "stopped", "error"). */
int dm__read(dm_conn *c, void *p, size_t n, uint64_t deadline, const char **why);
int dm__write(dm_conn *c, const void *p, size_t n, uint64_t deadline, const char **why);
/* TLS handshake as server (accept) or client. */
int dm__tls_handshake(dm_conn *c, int server, uint64_t deadline, const char **why);
/* Reads one PDU: header, then a body of at most max_body bytes into body (reset first).
 * -2 when the declared length is over max_body (nothing more read). */
int dm__read_pdu(dm_conn *c, uint8_t *type, ms_buf *body, size_t max_body, uint64_t deadline,
                 const char **why);
void dm__conn_close(dm_conn *c);
/* A TLS context: server (cert+key, optional client CA) or client (CA, optional cert+key). */
ms_rc dm__tls_ctx(int server, const char *cert, const char *key, const char *ca, SSL_CTX **out,
                  ms_err *err);

#endif
