/*
 * Locked memory for PHI (prefix ms_secmem_) and process hardening.
 *
 * ms_secmem_new maps one region of `size` bytes, locks it in RAM (mlock), excludes it from core
 * dumps (MADV_DONTDUMP) and from fork children (MADV_WIPEONFORK), and fills `alloc` with an
 * ms_alloc whose blocks come from that region. The region size is the ceiling: allocations past it
 * fail (the gateway answers 413/507, nothing is swapped). Every block is wiped on release; the
 * whole region on ms_secmem_free. Thread safe.
 */
#ifndef MEDSEAL_SECMEM_H
#define MEDSEAL_SECMEM_H

#include "medseal/core.h"

typedef struct ms_secmem ms_secmem;

/* require_lock: fail with MS_E_NOMEM if mlock is refused (RLIMIT_MEMLOCK); else carry on
 * unlocked (check ms_secmem_locked). OUT: *out owned (ms_secmem_free), *alloc initialised (it
 * must not outlive *out). Set alloc->limit afterwards for a per-request ceiling if wanted. */
ms_rc ms_secmem_new(size_t size, int require_lock, ms_secmem **out, ms_alloc *alloc, ms_err *err);
int ms_secmem_locked(const ms_secmem *m);
/* 1 when p points into m's region (a block it gave out), else 0. Lock free. */
int ms_secmem_owns(const ms_secmem *m, const void *p);
/* Bytes in use, block headers and rounding included. */
size_t ms_secmem_used(ms_secmem *m);
/* Wipes, unlocks and unmaps the region. NULL is a no-op. */
void ms_secmem_free(ms_secmem *m);

/* Process hardening for anything that holds PHI: no core dumps (RLIMIT_CORE 0), not dumpable
 * (PR_SET_DUMPABLE 0, which also blocks ptrace attach by other users and /proc/PID/mem reads).
 * Returns MS_E_IO with a message if a setting could not be applied. */
ms_rc ms_process_harden(ms_err *err);

/* Locks every page of the process in RAM, now and in the future, as it is first touched
 * (mlockall MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT): libraries' buffers that the locked region
 * cannot serve (libmicrohttpd's connection pools, GnuTLS records, libcurl) are never swapped.
 * Needs CAP_IPC_LOCK or an RLIMIT_MEMLOCK above the process's whole virtual size; afterwards an
 * allocation past the limit fails (the request fails) instead of being swapped. MS_E_NOMEM with
 * the reason when refused. */
ms_rc ms_process_lock_all(ms_err *err);

#endif
