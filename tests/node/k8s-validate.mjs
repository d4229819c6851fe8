// Validates rendered Kubernetes manifests (multi-document YAML on stdin, e.g. `kubectl kustomize
// deploy/k8s/overlays/tdx`) offline against the Kubernetes OpenAPI schemas compiled into the npm
// package kubernetes-models (used by tests/test_deploy_k8s.c). Note: its validator ignores
// unknown fields (a typo such as readOnlyRootFileSystem passes), so the C test also checks the
// fields that matter by name. Prints one line per object; exits 1 if any is invalid or of a kind
// the package lacks. Trusts: nothing it reads.
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';

const docs = yaml.loadAll(readFileSync(0, 'utf8')).filter((d) => d);
let bad = 0;
for (const d of docs) {
  const name = `${d.kind}/${d.metadata && d.metadata.name}`;
  try {
    const group = d.apiVersion.includes('/') ? d.apiVersion : 'v1';
    const mod = await import(`kubernetes-models/${group}`);
    const M = mod[d.kind];
    if (typeof M !== 'function') throw new Error(`no model for ${d.apiVersion} ${d.kind}`);
    new M(d).validate();
    console.log(`ok   ${name}`);
  } catch (e) {
    bad++;
    console.log(`FAIL ${name}: ${String(e.message || e).split('\n').slice(0, 3).join(' ')}`);
  }
}
console.log(`${docs.length} objects, ${bad} invalid`);
process.exit(bad || docs.length === 0 ? 1 : 0);
