// Validates rendered Kubernetes manifests (multi-document YAML on stdin, e.g. `kubectl kustomize
// deploy/k8s/overlays/tdx`) offline against the Kubernetes OpenAPI schemas compiled into the npm
// package kubernetes-models (used by tests/test_gateway_deploy.c), and refuses unknown fields.
// The package's compiled validators ignore fields their schema does not name (a typo such as
// readOnlyRootFileSystem would pass), so each object is validated through a Proxy that records
// every property the validator reads: a validator reads each property its schema names (and every
// key of a map such as labels), so a field present in the object and never read is unknown to the
// schema and reported with its path, as `kubectl apply --validate=strict` would. Prints one line
// per object; exits 1 if any is invalid, has an unknown field, or is of a kind the package lacks.
// Trusts: nothing it reads.
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';

// A read-tracking view of plain data: every property read through it is added to `seen` as a
// JSON-pointer path.
function tracked(v, path, seen) {
  if (v === null || typeof v !== 'object') return v;
  return new Proxy(v, {
    get(t, k, r) {
      if (typeof k !== 'string') return Reflect.get(t, k, r);
      const p = `${path}/${k}`;
      if (Object.prototype.hasOwnProperty.call(t, k)) seen.add(p);
      return tracked(Reflect.get(t, k, r), p, seen);
    },
  });
}

// Every path in the data that the validator never read.
function unread(v, path, seen, out) {
  if (v === null || typeof v !== 'object') return;
  for (const k of Object.keys(v)) {
    const p = `${path}/${k}`;
    if (!seen.has(p)) out.push(p);
    else unread(v[k], p, seen, out);
  }
}

const docs = yaml.loadAll(readFileSync(0, 'utf8')).filter((d) => d);
let bad = 0;
for (const d of docs) {
  const name = `${d.kind}/${d.metadata && d.metadata.name}`;
  try {
    const group = d.apiVersion.includes('/') ? d.apiVersion : 'v1';
    const mod = await import(`kubernetes-models/${group}`);
    const M = mod[d.kind];
    if (typeof M !== 'function') throw new Error(`no model for ${d.apiVersion} ${d.kind}`);
    const plain = new M(d).toJSON();
    const seen = new Set();
    M.prototype.validate.call(tracked(plain, '', seen));
    const unknown = [];
    unread(plain, '', seen, unknown);
    if (unknown.length) throw new Error(`unknown field ${unknown.slice(0, 5).join(', ')}`);
    console.log(`ok   ${name}`);
  } catch (e) {
    bad++;
    console.log(`FAIL ${name}: ${String(e.message || e).split('\n').slice(0, 3).join(' ')}`);
  }
}
console.log(`${docs.length} objects, ${bad} invalid`);
process.exit(bad || docs.length === 0 ? 1 : 0);
