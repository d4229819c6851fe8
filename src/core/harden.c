/*
 * Process hardening for processes that hold PHI: no core files, not dumpable, and a coredump
 * filter that leaves out anonymous and file-backed private memory should a dump happen anyway.
 * Optionally every page of the process is locked in RAM (ms_process_lock_all, serve
 * --lock-all-memory).
 * Trusts: nothing. Owns: process-wide settings (called once at start by serve/deid/analyze).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "medseal/secmem.h"

ms_rc ms_process_harden(ms_err *err)
{
    struct rlimit rl = {0, 0};
    if (setrlimit(RLIMIT_CORE, &rl) != 0)
        return ms_fail(err, MS_E_IO, "setrlimit(RLIMIT_CORE): %s", strerror(errno));
    /* Bits 0-1: anonymous private/shared; 2-3: file-backed private/shared; 4: ELF headers.
     * Keep only ELF headers (0x10). Written before PR_SET_DUMPABLE 0, which hands /proc/self
     * to root (an unprivileged process could no longer open it). Not fatal: the file may be
     * read-only in containers. */
    int fd = open("/proc/self/coredump_filter", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t w = write(fd, "0x10\n", 5);
        (void)w;
        close(fd);
    }
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return ms_fail(err, MS_E_IO, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
    return MS_OK;
}

ms_rc ms_process_lock_all(ms_err *err)
{
#ifdef MCL_ONFAULT
    /* on fault: pages are locked as they are touched, so thread stacks and reserved regions are
     * not all faulted in at once */
    int flags = MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT;
#else
    int flags = MCL_CURRENT | MCL_FUTURE;
#endif
    if (mlockall(flags) != 0)
        return ms_fail(err, MS_E_NOMEM,
                       "mlockall: %s (needs CAP_IPC_LOCK or an RLIMIT_MEMLOCK above the "
                       "process size)",
                       strerror(errno));
    return MS_OK;
}
