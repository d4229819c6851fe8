/*
 * Optional NVIDIA GPU evidence (H100/H200 in confidential-computing mode) through NVML, loaded
 * with dlopen so that medseal neither links nor needs the NVIDIA driver. The SPDM attestation
 * report is requested with a nonce derived from the CPU REPORTDATA, binding GPU and CPU evidence
 * to the same client nonce and TLS key; the verifier side (NVIDIA device root, RIMs) is NVIDIA's
 * nvtrust local verifier. Struct layouts from nvml.h (see ../shared/notes/attestation.md §e).
 *
 * Trusts: the NVML library it loads (root-owned system path). Owns: the dlopen handle (closed
 * before return).
 */
#include <dlfcn.h>
#include <string.h>

#include "internal.h"

#define NVML_CC_REPORT_MAX 0x2000
#define NVML_CC_CEC_MAX    0x1000
#define NVML_CC_CERT_MAX   0x1000
#define NVML_CC_ACERT_MAX  0x1400

struct nvml_cc_state {
    unsigned environment, cc_feature, dev_tools_mode;
};

struct nvml_cc_report {
    unsigned is_cec_present, report_size, cec_size;
    unsigned char nonce[32];
    unsigned char report[NVML_CC_REPORT_MAX];
    unsigned char cec[NVML_CC_CEC_MAX];
};

struct nvml_cc_cert {
    unsigned cert_chain_size, att_cert_chain_size;
    unsigned char cert_chain[NVML_CC_CERT_MAX];
    unsigned char att_cert_chain[NVML_CC_ACERT_MAX];
};

typedef int (*nvml_void_fn)(void);
typedef int (*nvml_count_fn)(unsigned *);
typedef int (*nvml_handle_fn)(unsigned, void **);
typedef int (*nvml_state_fn)(struct nvml_cc_state *);
typedef int (*nvml_report_fn)(void *, struct nvml_cc_report *);
typedef int (*nvml_cert_fn)(void *, struct nvml_cc_cert *);

struct nvml {
    nvml_void_fn init, shutdown;
    nvml_count_fn count;
    nvml_handle_fn handle;
    nvml_state_fn state;
    nvml_report_fn report;
    nvml_cert_fn cert;
};

static int load(void *h, struct nvml *n)
{
    /* POSIX: a function pointer may be converted through dlsym's void * */
    *(void **)&n->init = dlsym(h, "nvmlInit_v2");
    *(void **)&n->shutdown = dlsym(h, "nvmlShutdown");
    *(void **)&n->count = dlsym(h, "nvmlDeviceGetCount_v2");
    *(void **)&n->handle = dlsym(h, "nvmlDeviceGetHandleByIndex_v2");
    *(void **)&n->state = dlsym(h, "nvmlSystemGetConfComputeState");
    *(void **)&n->report = dlsym(h, "nvmlDeviceGetConfComputeGpuAttestationReport");
    *(void **)&n->cert = dlsym(h, "nvmlDeviceGetConfComputeGpuCertificate");
    return n->init && n->shutdown && n->count && n->handle && n->state && n->report && n->cert;
}

static void absent(json_t *o, const char *why)
{
    json_object_set_new(o, "present", json_false());
    json_object_set_new(o, "reason", json_string(why));
}

static int b64(json_t *o, const char *key, const unsigned char *p, size_t n)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    int ok = ms_b64_encode(p, n, &b, NULL) == MS_OK &&
             json_object_set_new(o, key, json_stringn((const char *)b.p, b.len)) == 0;
    ms_buf_free(&b);
    return ok;
}

static void collect(struct nvml *n, const uint8_t nonce[32], json_t *o)
{
    unsigned cnt = 0;
    void *dev = NULL;
    struct nvml_cc_state st = {0};
    if (n->count(&cnt) != 0 || cnt == 0 || n->handle(0, &dev) != 0) {
        absent(o, "no NVIDIA GPU");
        return;
    }
    if (n->state(&st) != 0 || st.cc_feature != 1) {
        absent(o, "GPU not in confidential-computing mode");
        return;
    }
    struct nvml_cc_report *r = ms_malloc(NULL, sizeof *r);
    struct nvml_cc_cert *c = ms_malloc(NULL, sizeof *c);
    if (r != NULL && c != NULL) {
        memcpy(r->nonce, nonce, 32);
        if (n->report(dev, r) != 0 || r->report_size > NVML_CC_REPORT_MAX || n->cert(dev, c) != 0 ||
            c->att_cert_chain_size > NVML_CC_ACERT_MAX) {
            absent(o, "NVML attestation report unavailable");
        } else {
            json_object_set_new(o, "present", json_true());
            json_object_set_new(o, "format", json_string("nvidia-spdm-measurements"));
            att__json_hex(o, "nonce", nonce, 32);
            b64(o, "report", r->report, r->report_size);
            b64(o, "cert_chain", c->att_cert_chain, c->att_cert_chain_size);
        }
    } else {
        absent(o, "out of memory");
    }
    ms_free(NULL, r);
    ms_free(NULL, c);
}

void att__gpu_evidence(const uint8_t nonce32[32], json_t *obj)
{
    void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    struct nvml n;
    if (h == NULL) {
        absent(obj, "NVML (libnvidia-ml.so.1) not installed");
        return;
    }
    if (!load(h, &n)) {
        dlclose(h);
        {
            absent(obj, "NVML lacks the confidential-computing API");
            return;
        }
    }
    if (n.init() != 0) {
        dlclose(h);
        {
            absent(obj, "NVML initialisation failed (no driver?)");
            return;
        }
    }
    collect(&n, nonce32, obj);
    n.shutdown();
    dlclose(h);
}
