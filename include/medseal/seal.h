/*
 * Secrets at rest (prefix ms_): AES-256-GCM sealing under a master key, and the master key's
 * sources. Used for the API key store, the audit log key and the pseudonym key in a state dir.
 *
 * Master key sources (ms_master_key_load spec):
 *   "file:PATH" or "PATH"  64 hex characters (medseal keygen), mode 0600, on an encrypted volume
 *   "env:VAR"             64 hex characters in VAR; the value is wiped from the environment
 *   "fd:N"                64 hex characters read from inherited descriptor N, then closed: the
 *                         hand-off for a key-broker agent that releases the key only after
 *                         verifying this VM's attestation (see README.md)
 */
#ifndef MEDSEAL_SEAL_H
#define MEDSEAL_SEAL_H

#include "medseal/core.h"

/* Appends "MSS1" | random nonce(12) | AES-256-GCM(pt) | tag(16) to out. `label` is bound as
 * additional data (e.g. "audit-log-key"). */
ms_rc ms_seal(const uint8_t key[MS_KEY_LEN], const char *label, const uint8_t *pt, size_t n,
              ms_buf *out, ms_err *err);
/* Verifies and decrypts; appends the plaintext to out. MS_E_CRYPTO for a wrong key, a wrong
 * label or any change to the sealed bytes; MS_E_FORMAT if it is not a sealed secret. */
ms_rc ms_unseal(const uint8_t key[MS_KEY_LEN], const char *label, const uint8_t *in, size_t n,
                ms_buf *out, ms_err *err);
/* Loads the master key from a source spec (above). */
ms_rc ms_master_key_load(const char *spec, uint8_t key[MS_KEY_LEN], ms_err *err);

/* ms_seal label of a sealed pseudonym (site) key file: `medseal keygen --seal`, serve --pseudo-key
 */
#define MS_SEAL_LABEL_PSEUDO_KEY "medseal pseudonym key"

/* A key file that is either plain (64 hex characters, ms_keyfile_read) or sealed (ms_seal of the
 * 32 key bytes under `master` with `label`, e.g. `medseal keygen --seal SPEC`). OUT: *sealed
 * (may be NULL) says which. A sealed file with master == NULL is MS_E_INVAL. */
ms_rc ms_keyfile_read_sealed(const char *path, const uint8_t *master, const char *label,
                             uint8_t key[MS_KEY_LEN], int *sealed, ms_err *err);
/* 1 when the file at path starts like a sealed secret ("MSS1"), else 0 (also when unreadable). */
int ms_file_is_sealed(const char *path);

#endif
