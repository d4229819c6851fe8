/*
 * medseal DIMSE (prefix dm_): the DICOM upper layer (PS3.8: A-ASSOCIATE-RQ/AC/RJ, P-DATA-TF,
 * A-RELEASE, A-ABORT) and the DIMSE services C-ECHO and C-STORE (PS3.7), as an SCP (a listener
 * that accepts associations, optionally over TLS 1.3) and as a C-STORE SCU.
 *
 * Layers: the PDU codec (dm_pdu_*, dm_cmd_*) is pure and fuzzed; the SCP session (dm_sess_*) is a
 * state machine over whole PDUs that writes the bytes to send into a buffer, also without a
 * network; dm_scp_* and dm_scu_* put both on sockets with timers.
 *
 * Trusts: nothing from the peer. Every length is compared with what is left and with a limit
 * before use; a malformed PDU is answered with A-ABORT. What a received instance means is the
 * caller's business (the on_store callback), which sees only whole data sets. Errors name PDU
 * types, item types, offsets and counts, never a value (an AE title or UID may identify a site,
 * a data set holds PHI).
 */
#ifndef MEDSEAL_DIMSE_H
#define MEDSEAL_DIMSE_H

#include <stddef.h>
#include <stdint.h>

#include "medseal/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DM_AE_LEN        16
#define DM_UID_MAX       64
#define DM_MAX_PCS       128 /* presentation context ids are odd, 1..255 */
#define DM_MAX_PC_TS     16  /* transfer syntaxes kept per proposed context (known ones only) */
#define DM_RQ_MAX        (1u << 20) /* largest A-ASSOCIATE-RQ/AC PDU read */
#define DM_PDU_MIN       4096
#define DM_PDU_DEFAULT   65536u     /* the largest P-DATA-TF we accept (0x51 sub-item) */
#define DM_PDU_LIMIT     (1u << 22)
#define DM_APP_CONTEXT   "1.2.840.10008.3.1.1.1"
#define DM_VERIFICATION  "1.2.840.10008.1.1"
#define DM_IMPL_UID      "2.25.143922055422811854149036147218972553777"
#define DM_IMPL_VERSION  "MEDSEAL_1"

/* PDU types (PS3.8 9.3). */
enum {
    DM_PDU_ASSOC_RQ = 0x01,
    DM_PDU_ASSOC_AC = 0x02,
    DM_PDU_ASSOC_RJ = 0x03,
    DM_PDU_PDATA = 0x04,
    DM_PDU_RELEASE_RQ = 0x05,
    DM_PDU_RELEASE_RP = 0x06,
    DM_PDU_ABORT = 0x07,
};

/* Presentation context results (PS3.8 9.3.3.2). */
enum {
    DM_PC_ACCEPT = 0,
    DM_PC_USER_REJECT = 1,
    DM_PC_NO_REASON = 2,
    DM_PC_ABSTRACT_NOT_SUPPORTED = 3,
    DM_PC_TS_NOT_SUPPORTED = 4,
};

/* A-ABORT reasons from the service provider (source 2). */
enum {
    DM_ABORT_NOT_SPECIFIED = 0,
    DM_ABORT_UNRECOGNIZED_PDU = 1,
    DM_ABORT_UNEXPECTED_PDU = 2,
    DM_ABORT_UNRECOGNIZED_PARAM = 4,
    DM_ABORT_UNEXPECTED_PARAM = 5,
    DM_ABORT_INVALID_PARAM = 6,
};

/* ---- transfer syntaxes and SOP classes ------------------------------------------------------ */

/* The transfer syntaxes this side accepts, in the order it prefers them when a context proposes
 * several: index 0..dm_ts_count()-1. */
size_t dm_ts_count(void);
const char *dm_ts_uid(size_t i);
/* Index of a UID, or -1 when not accepted. */
int dm_ts_index(const char *uid);
/* 1 for a storage SOP class (PS3.4 annex B: the 1.2.840.10008.5.1.4.1.1 tree and the listed
 * non-image storage classes outside it), 0 otherwise. */
int dm_sop_is_storage(const char *uid);

/* ---- association negotiation (pure) --------------------------------------------------------- */

typedef struct dm_pc {
    uint8_t id;
    uint8_t result;                 /* AC: DM_PC_*; RQ: filled by dm_assoc_negotiate */
    char abstract[DM_UID_MAX + 1];  /* RQ: the proposed SOP class; AC: "" (not sent) */
    uint8_t ts[DM_MAX_PC_TS];       /* RQ: proposed, known ones, in proposal order */
    uint8_t n_ts;
    uint8_t n_ts_unknown;           /* RQ: proposed but not accepted here */
    int chosen;                     /* index of the transfer syntax in use, -1 none */
} dm_pc;

typedef struct dm_assoc {
    uint16_t version;
    char called[DM_AE_LEN + 1], calling[DM_AE_LEN + 1]; /* trailing spaces removed */
    uint8_t reserved[32];                               /* echoed in the AC */
    char app_ctx[DM_UID_MAX + 1];
    dm_pc pc[DM_MAX_PCS];
    size_t n_pc;
    uint32_t max_pdu; /* 0x51: the largest P-DATA-TF the sender takes (0: unlimited) */
    char impl_uid[DM_UID_MAX + 1];
    char impl_version[DM_AE_LEN + 1];
} dm_assoc;

/* Parses the body (after the 6-byte header) of an A-ASSOCIATE-RQ (type 1) or -AC (type 2).
 * MS_E_FORMAT/MS_E_TRUNC for a malformed PDU (the caller aborts). */
ms_rc dm_assoc_parse(uint8_t type, const uint8_t *body, size_t len, dm_assoc *out, ms_err *err);
/* Decides every proposed context: Verification and storage SOP classes with a known transfer
 * syntax are accepted (the proposer's first known one), others rejected with a reason. */
void dm_assoc_negotiate(dm_assoc *a);
/* Appends a whole A-ASSOCIATE-AC (answering rq, our receive maximum max_pdu) or -RQ PDU. */
ms_rc dm_assoc_build(uint8_t type, const dm_assoc *a, uint32_t max_pdu, ms_buf *out, ms_err *err);
/* 10-byte PDUs: A-ASSOCIATE-RJ (result, source, reason), A-ABORT (source, reason), and
 * A-RELEASE-RQ/RP (type only). */
void dm_pdu_short(uint8_t type, uint8_t a, uint8_t b, uint8_t c, uint8_t out[10]);

/* ---- P-DATA-TF ------------------------------------------------------------------------------ */

typedef struct dm_pdv {
    uint8_t pc_id;
    uint8_t is_command, is_last;
    ms_slice data;
} dm_pdv;
/* Reads the next PDV from a P-DATA-TF body; MS_E_NOTFOUND at the end. */
ms_rc dm_pdv_next(ms_rd *r, dm_pdv *out, ms_err *err);
/* Appends P-DATA-TF PDUs carrying `n` bytes as fragments of at most what a peer with maximum
 * max_pdu (0: unlimited) takes; the last fragment is flagged last. */
ms_rc dm_pdata_build(uint8_t pc_id, int is_command, const uint8_t *p, size_t n, uint32_t max_pdu,
                     ms_buf *out, ms_err *err);

/* ---- DIMSE command sets (group 0000, implicit VR little endian) ---------------------------- */

enum {
    DM_C_STORE_RQ = 0x0001,
    DM_C_STORE_RSP = 0x8001,
    DM_C_ECHO_RQ = 0x0030,
    DM_C_ECHO_RSP = 0x8030,
    DM_C_CANCEL_RQ = 0x0FFF,
};
#define DM_NO_DATASET 0x0101

typedef struct dm_cmd {
    uint16_t field;
    uint16_t msg_id, msg_id_rsp;
    uint16_t priority;
    uint16_t ds_type;  /* DM_NO_DATASET or another value (a data set follows) */
    uint16_t status;
    int has_status;
    char sop_class[DM_UID_MAX + 1];
    char sop_inst[DM_UID_MAX + 1];
} dm_cmd;
ms_rc dm_cmd_parse(const uint8_t *p, size_t n, dm_cmd *out, ms_err *err);
/* Appends the encoded command set (with its group length). */
ms_rc dm_cmd_build(const dm_cmd *c, ms_buf *out, ms_err *err);

/* ---- the SCP session (pure state machine) ---------------------------------------------------- */

/* What the SCP was told about a received instance. */
typedef struct dm_instance {
    const char *calling_ae;
    const char *sop_class, *sop_inst, *ts;
    const uint8_t *part10; /* a whole Part 10 file: preamble, meta built here, the data set */
    size_t len;
} dm_instance;

typedef struct dm_scp_cfg {
    const char *ae_title;  /* our AE title; a different called AE title is refused */
    uint32_t max_pdu;      /* the largest P-DATA-TF PDU we take (0: DM_PDU_DEFAULT) */
    size_t max_object;     /* the largest data set of one C-STORE (0: 64 MiB) */
    ms_alloc *alloc;       /* data set buffers */
    /* 0: the calling AE may associate from peer_ip; else an A-ASSOCIATE-RJ reason (source 1):
     * 3 calling AE not recognized. conn_ud is the per-connection pointer it may set. */
    int (*on_assoc)(void *ud, const char *calling, const char *peer_ip, void **conn_ud);
    /* A C-STORE's status (0x0000 success, 0xA700 out of resources, 0xA900/0xC000 ...). */
    uint16_t (*on_store)(void *ud, void *conn_ud, const dm_instance *in);
    /* The association ended: released = 1 after A-RELEASE, 0 aborted or dropped. */
    void (*on_end)(void *ud, void *conn_ud, int released);
    /* One line per event without values ("association accepted", "rejected ..."). */
    void (*on_log)(void *ud, void *conn_ud, const char *event, const char *detail);
    void *ud;
} dm_scp_cfg;

enum {
    DM_SESS_CONTINUE = 0,
    DM_SESS_CLOSE = 1, /* send out, then wait (ARTIM) for the peer to close */
    DM_SESS_DROP = 2,  /* close now (an A-ABORT was received) */
};

typedef struct dm_sess dm_sess;
ms_rc dm_sess_new(const dm_scp_cfg *cfg, const char *peer_ip, dm_sess **out, ms_err *err);
/* Feeds one whole PDU. Appends what to send to out. Returns DM_SESS_CONTINUE or DM_SESS_CLOSE
 * (after we sent an RJ, a RELEASE-RP or an A-ABORT) or DM_SESS_DROP (received A-ABORT). */
int dm_sess_pdu(dm_sess *s, uint8_t type, const uint8_t *body, size_t len, ms_buf *out);
/* The largest body accepted for a PDU of this type in the session's state (0: not expected). */
size_t dm_sess_pdu_limit(const dm_sess *s, uint8_t type);
/* 1 once an association was accepted. */
int dm_sess_associated(const dm_sess *s);
/* Ends the session (on_end(released=0) unless it ended already) and frees it. */
void dm_sess_free(dm_sess *s);

/* ---- the SCP on a socket ---------------------------------------------------------------------- */

typedef struct dm_scp_net {
    const char *listen;       /* "HOST:PORT" (IPv4); port 0 picks one */
    const char *cert_path;    /* TLS: PEM certificate chain and key; NULL: plain TCP */
    const char *key_path;
    const char *ca_path;      /* TLS: when set, a client certificate signed by it is required */
    unsigned artim_s;         /* ARTIM: wait for A-ASSOCIATE-RQ / for the peer's close (30) */
    unsigned idle_s;          /* an association with no PDU for this long is aborted (60) */
    unsigned max_assocs;      /* associations at once (64); past it A-ASSOCIATE-RJ transient */
} dm_scp_net;

typedef struct dm_scp dm_scp;
ms_rc dm_scp_start(const dm_scp_cfg *cfg, const dm_scp_net *net, dm_scp **out, ms_err *err);
uint16_t dm_scp_port(const dm_scp *s);
/* Stops accepting, aborts associations still open after grace_s, joins every thread. */
void dm_scp_stop(dm_scp *s, unsigned grace_s);

/* ---- the C-STORE SCU ------------------------------------------------------------------------ */

typedef struct dm_scu_opts {
    const char *calling_ae;  /* our AE title */
    const char *called_ae;
    const char *host;        /* IPv4 address or name */
    uint16_t port;
    unsigned timeout_s;      /* connect, negotiation and each answer (30) */
    const char *ca_path;     /* TLS when set: the peer's certificate must verify against it */
    const char *cert_path, *key_path; /* TLS client certificate (optional) */
} dm_scu_opts;

/* Sends each Part 10 file (memory) with C-STORE in one association and releases it.
 * statuses[i] gets each DIMSE status (may be NULL). MS_E_IO when the peer is unreachable or the
 * association fails, MS_E_UNSUPPORTED when it rejected the SOP class / transfer syntax,
 * MS_E_VERIFY when a status is not success or a warning. */
ms_rc dm_scu_store(const dm_scu_opts *o, const ms_slice *files, size_t n, uint16_t *statuses,
                   ms_err *err);
/* Parses "AE@host:port" (dicom_results_to). */
ms_rc dm_parse_target(const char *s, char ae[DM_AE_LEN + 1], char *host, size_t host_len,
                      uint16_t *port, ms_err *err);

#ifdef __cplusplus
}
#endif
#endif
