/*
 * The deployment files: deploy/k8s renders with `kubectl kustomize` (base and the tdx / snp
 * Confidential Containers overlays), every object validates offline against the Kubernetes
 * schemas (tests/node/k8s-validate.mjs, npm kubernetes-models), and the fields that matter are
 * there by name (the validator ignores unknown fields): probes on /healthz, memory matching
 * mem_limit, read-only root, non-root, no privilege escalation, only IPC_LOCK added; in the TEE
 * overlays the runtime class, the KBS init step and --master-key fd:3, never
 * --insecure-no-attestation. deploy/haproxy/haproxy.cfg passes `haproxy -c`. Skipped when
 * kubectl, node's packages or haproxy are missing.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static int check_overlay(const char *name, const char *runtime)
{
    char *out = NULL, *val = NULL;
    const char *root = ms_test_root();
    CHECK(ms_test_sh(&out, "kubectl kustomize '%s/deploy/k8s/%s' 2>/dev/null", root, name) == 0);
    CHECK(out != NULL);
    int rc = ms_test_sh(&val, "kubectl kustomize '%s/deploy/k8s/%s' 2>/dev/null | node "
                              "'%s/tests/node/k8s-validate.mjs'",
                        root, name, root);
    printf("  %s:\n%s", name, val ? val : "");
    CHECK_EQ_INT(rc, 0);
    CHECK(count(out, "kind: Deployment") == 1 && count(out, "kind: Service\n") == 1 &&
          count(out, "kind: PodDisruptionBudget") == 1 && count(out, "kind: NetworkPolicy") == 1 &&
          count(out, "kind: ConfigMap") == 1 && count(out, "kind: Ingress") == 1);
    CHECK(count(out, "path: /healthz") == 2); /* readiness and liveness */
    CHECK(count(out, "scheme: HTTPS") == 2);
    CHECK(strstr(out, "readOnlyRootFilesystem: true") != NULL);
    CHECK(strstr(out, "allowPrivilegeEscalation: false") != NULL);
    CHECK(strstr(out, "runAsNonRoot: true") != NULL);
    CHECK(strstr(out, "- IPC_LOCK") != NULL && count(out, "add:") == 1);
    CHECK(count(out, "- ALL") >= 1);
    /* resources match mem_limit: 3 GiB for request data + 1 GiB, requests = limits */
    CHECK(strstr(out, "mem_limit = 3221225472") != NULL && count(out, "memory: 4Gi") == 2);
    CHECK(strstr(out, "nginx.ingress.kubernetes.io/upstream-hash-by") != NULL);
    CHECK(strstr(out, "secretKeyRef") != NULL && strstr(out, "configMapKeyRef") != NULL);
    if (runtime != NULL) {
        char rt[96];
        snprintf(rt, sizeof rt, "runtimeClassName: %s", runtime);
        CHECK(strstr(out, rt) != NULL);
        CHECK(strstr(out, "initContainers:") != NULL &&
              strstr(out, "http://127.0.0.1:8006/cdh/resource/medseal/master-key/") != NULL);
        CHECK(strstr(out, "--master-key fd:3") != NULL);
        CHECK(strstr(out, "insecure-no-attestation") == NULL);
        CHECK(strstr(out, "medseal-master-key") == NULL); /* no key from a Kubernetes Secret */
        CHECK(strstr(out, "medium: Memory") != NULL);
    } else {
        CHECK(strstr(out, "runtimeClassName") == NULL);
    }
    free(out);
    free(val);
    return 0;
}

TEST(test_gw_deploy_k8s_overlays_render_and_validate)
{
    if (ms_test_sh(NULL, "command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null "
                         "2>&1") != 0)
        SKIP("kubectl with kustomize missing");
    if (ms_test_sh(NULL, "test -d '%s/tests/node/node_modules/kubernetes-models' && test -d "
                         "'%s/tests/node/node_modules/js-yaml'",
                   ms_test_root(), ms_test_root()) != 0)
        SKIP("tests/node packages missing (npm ci in tests/node)");
    CHECK(check_overlay("base", NULL) == 0);
    CHECK(check_overlay("overlays/tdx", "kata-qemu-tdx") == 0);
    CHECK(check_overlay("overlays/snp", "kata-qemu-snp") == 0);
    /* ... and an unknown (misspelt) field is refused with its path, as kubectl's strict
     * validation would: the schemas alone let it pass */
    char *val = NULL;
    CHECK(ms_test_sh(&val, "kubectl kustomize '%s/deploy/k8s/overlays/tdx' 2>/dev/null | sed "
                           "'s/readOnlyRootFilesystem/readOnlyRootFileSystem/' | node "
                           "'%s/tests/node/k8s-validate.mjs'",
                     ms_test_root(), ms_test_root()) == 1);
    CHECK(val != NULL && strstr(val, "FAIL Deployment/medseal: unknown field "
                                     "/spec/template/spec/containers/0/securityContext/"
                                     "readOnlyRootFileSystem") != NULL);
    free(val);
    /* the validator can fail: a string replica count is refused */
    CHECK(ms_test_sh(NULL, "printf 'apiVersion: apps/v1\\nkind: Deployment\\nmetadata: {name: "
                           "x}\\nspec: {replicas: three}\\n' | node '%s/tests/node/k8s-validate.mjs' "
                           ">/dev/null",
                     ms_test_root()) == 1);
    return 0;
}

/* Debian 12's kubectl (kubernetes-client 1.20) embeds kustomize v2.0.3; kubectl 1.32 has
 * kustomize 5. The kustomizations use only fields both read: v2.0.3 knows no `patches`, `labels`,
 * `components` or `replacements`, and lists folders under `bases` only (its `resources` take
 * files); kustomize 5 still reads `bases` and `patchesStrategicMerge` (deprecated, with a
 * warning). This checks every kustomization.yaml against that common set, so no kustomize v2 is
 * needed to catch a file that v2 would refuse. */
TEST(test_gw_deploy_k8s_kustomize_v2_fields_only)
{
    static const char *const common[] = {"resources:", "bases:", "patchesStrategicMerge:",
                                         "namespace:", "namePrefix:", "nameSuffix:",
                                         "commonLabels:", "commonAnnotations:",
                                         "configMapGenerator:", "secretGenerator:", "images:",
                                         "generatorOptions:", NULL};
    char *out = NULL;
    CHECK(ms_test_sh(&out, "cd '%s/deploy/k8s' && for f in $(find . -name kustomization.yaml | "
                           "sort); do d=$(dirname $f); echo \"FILE $f\"; grep -E '^[A-Za-z]' $f; "
                           "awk '/^resources:/{r=1;next} /^[A-Za-z]/{r=0} r && /^ *- /{print $2}' "
                           "$f | while read x; do test -f \"$d/$x\" || echo \"NOTAFILE $x\"; "
                           "done; done",
                     ms_test_root()) == 0);
    CHECK(out != NULL && count(out, "FILE ") == 3);
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "FILE ", 5) == 0)
            continue;
        int ok = 0;
        for (size_t i = 0; common[i] != NULL && !ok; i++)
            ok = strncmp(line, common[i], strlen(common[i])) == 0;
        if (!ok)
            fprintf(stderr, "  not read by kustomize v2.0.3 and 5: %s\n", line);
        CHECK(ok);
    }
    free(out);
    return 0;
}

TEST(test_gw_deploy_haproxy_config_valid)
{
    if (ms_test_sh(NULL, "command -v haproxy >/dev/null") != 0)
        SKIP("haproxy missing");
    CHECK(ms_test_sh(NULL,
                     "MEDSEAL_BIND=127.0.0.1:1 MEDSEAL_DIMSE=127.0.0.1:2 MEDSEAL_GW1=127.0.0.1:3 "
                     "MEDSEAL_GW2=127.0.0.1:4 MEDSEAL_GW3=127.0.0.1:5 MEDSEAL_DIMSE1=127.0.0.1:6 "
                     "MEDSEAL_DIMSE2=127.0.0.1:7 MEDSEAL_DIMSE3=127.0.0.1:8 "
                     "MEDSEAL_STATS='%s/s.sock' haproxy -c -q -f '%s/deploy/haproxy/haproxy.cfg'",
                     ms_test_tmpdir(), ms_test_root()) == 0);
    return 0;
}
