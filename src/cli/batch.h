/*
 * Shared by cmd_batch.c and batch_seal.c (medseal batch, open, keygen --recipient): sealing
 * output files to a recipient's X25519 public key and reading them back.
 *
 * Sealed file format (libsodium primitives only, nothing composed of our own):
 *   "MSSEAL01"                       8 bytes, magic and version
 *   crypto_box_seal(k, recipient)    80 bytes: a fresh 32-byte secretstream key k sealed to the
 *                                    recipient (X25519 + XSalsa20-Poly1305, anonymous sender)
 *   secretstream header              24 bytes (crypto_secretstream_xchacha20poly1305)
 *   chunks                           each BT_SEAL_CHUNK plaintext bytes (the last one shorter,
 *                                    possibly empty) + 17 bytes, the last tagged TAG_FINAL
 * A file cut short (no FINAL chunk), extended after FINAL, or altered fails to open.
 */
#ifndef MEDSEAL_CLI_BATCH_H
#define MEDSEAL_CLI_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define BT_SEAL_MAGIC "MSSEAL01"
#define BT_SEAL_CHUNK 65536

/* Writes p[0..n) sealed to the public key pk to fd: 0, or -1. */
int bt_seal_write(int fd, const uint8_t pk[32], const uint8_t *p, size_t n);
/* Opens the sealed stream in `in` with the secret key sk, writing the plaintext to `out`:
 * 0; -1 not a sealed file, wrong key, cut short or altered (nothing more is written then). */
int bt_seal_open(int in, int out, const uint8_t sk[32]);
/* Reads a key file of 64 hex characters (public key of keygen --recipient, or its secret). */
int bt_recipient_read(const char *path, uint8_t key[32]);
/* date (YYYYMMDD or YYYY-MM-DD) + months as "YYYY-MM-DD": 0, or -1 (bad date, months < 0). */
int bt_due_date(const char *date, int months, char out[11]);

#endif
