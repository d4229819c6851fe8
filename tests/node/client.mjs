// The official openai SDK (6.x, Node 20) against a running `medseal serve` over TLS with a test CA
// (NODE_EXTRA_CA_CERTS). Run by tests/test_gateway_server.c; prints "ok NAME" or "FAIL NAME: why"
// per case and exits non-zero when any failed.
// Trusts: the server under test only as far as each check allows. Owns: nothing.
// env: MS_BASE (https://127.0.0.1:PORT/v1), MS_KEY (clinician key), MS_DICOM (a .dcm path, optional),
//      MS_NOTE (text for the analyst), MS_CASES (comma list; default all analyst cases)
import fs from 'node:fs';
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.MS_BASE, apiKey: process.env.MS_KEY, maxRetries: 0, timeout: 60000 });
const MODEL = 'medical-records-analyst';
const note = process.env.MS_NOTE || 'CT chest: 8 mm solid nodule in the right upper lobe.';
const msgs = [{ role: 'user', content: note }];

function assert(c, why) { if (!c) throw new Error(why); }

const cases = {
  async plain() {
    const r = await client.chat.completions.create({ model: MODEL, messages: msgs });
    assert(r.object === 'chat.completion', 'object');
    assert(r.choices[0].message.role === 'assistant', 'role');
    assert(typeof r.choices[0].message.content === 'string' && r.choices[0].message.content.length > 0, 'content');
    assert(r.choices[0].finish_reason === 'stop', 'finish_reason');
    assert(r.usage.total_tokens > 0, 'usage');
  },
  async stream() {
    const s = await client.chat.completions.create({ model: MODEL, messages: msgs, stream: true, stream_options: { include_usage: true } });
    let text = '', usage = null, n = 0, finish = null;
    for await (const c of s) {
      n++;
      if (c.usage) usage = c.usage;
      if (c.choices.length) { text += c.choices[0].delta.content || ''; finish = c.choices[0].finish_reason || finish; }
    }
    const plain = await client.chat.completions.create({ model: MODEL, messages: msgs });
    assert(n >= 3, 'chunks');
    assert(finish === 'stop', 'finish');
    assert(usage && usage.total_tokens > 0, 'usage chunk');
    assert(text === plain.choices[0].message.content, 'streamed text differs from the plain answer');
  },
  async helper() {
    const s = client.chat.completions.stream({ model: MODEL, messages: msgs });
    let deltas = '';
    s.on('content', (d) => { deltas += d; });
    const final = await s.finalChatCompletion();
    assert(final.choices[0].message.content.length > 0, 'final content');
    assert(deltas === final.choices[0].message.content, 'content events');
  },
  async json() {
    const r = await client.chat.completions.create({ model: MODEL, messages: msgs, response_format: { type: 'json_object' } });
    const j = JSON.parse(r.choices[0].message.content);
    assert(j && typeof j === 'object', 'json object');
  },
  async json_schema() {
    const r = await client.chat.completions.create({ model: MODEL, messages: msgs, response_format: { type: 'json_schema', json_schema: { name: 'report', schema: { type: 'object' } } } });
    assert(typeof JSON.parse(r.choices[0].message.content) === 'object', 'json');
  },
  async max_tokens() {
    const r = await client.chat.completions.create({ model: MODEL, messages: msgs, max_completion_tokens: 1 });
    assert(r.choices[0].finish_reason === 'length', 'finish_reason length');
    assert(r.choices[0].message.content.length <= 4, 'truncated');
  },
  async dicom() {
    const b64 = fs.readFileSync(process.env.MS_DICOM).toString('base64');
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: [
      { type: 'text', text: note },
      { type: 'file', file: { filename: 'slice.dcm', file_data: `data:application/dicom;base64,${b64}` } }] }] });
    assert(r.choices[0].message.content.length > 0, 'content');
  },
  async bad_key() {
    const bad = new OpenAI({ baseURL: process.env.MS_BASE, apiKey: 'msk_000000000000_' + '0'.repeat(48), maxRetries: 0 });
    try { await bad.chat.completions.create({ model: MODEL, messages: msgs }); } catch (e) {
      assert(e instanceof OpenAI.AuthenticationError, 'class ' + e.constructor.name);
      assert(e.code === 'invalid_api_key', 'code');
      return;
    }
    throw new Error('no error');
  },
  async bad_param() {
    try { await client.chat.completions.create({ model: MODEL, messages: [] }); } catch (e) {
      assert(e instanceof OpenAI.BadRequestError, 'class');
      assert(e.param === 'messages', 'param ' + e.param);
      return;
    }
    throw new Error('no error');
  },
  async models() {
    const page = await client.models.list();
    assert(page.data.some((m) => m.id === MODEL), 'analyst listed');
  },
  // upstream cases (MS_UPSTREAM_MODEL prefix), quirks normalised by the gateway
  async up_helper_choices_null() {
    const s = client.chat.completions.stream({ model: 'echo-choices-null', messages: msgs, stream_options: { include_usage: true } });
    const final = await s.finalChatCompletion();
    assert(final.choices[0].message.content.startsWith('ECHO: '), 'echo');
  },
  async up_helper_no_role() {
    const s = client.chat.completions.stream({ model: 'echo-no-role', messages: msgs });
    const final = await s.finalChatCompletion();
    assert(final.choices[0].message.content.startsWith('ECHO: '), 'echo');
  },
  async up_error_line() {
    const s = await client.chat.completions.create({ model: 'echo-error-line', messages: msgs, stream: true });
    try { for await (const c of s) void c; } catch (e) { assert(e instanceof OpenAI.APIError, 'APIError'); return; }
    throw new Error('error line was swallowed');
  },
  async up_usage_order() {
    const s = await client.chat.completions.create({ model: 'echo-usage-in-finish', messages: msgs, stream: true, stream_options: { include_usage: true } });
    const seen = [];
    for await (const c of s) seen.push(c.usage ? 'usage' : (c.choices[0] && c.choices[0].finish_reason ? 'finish' : 'delta'));
    assert(seen[seen.length - 1] === 'usage' && seen[seen.length - 2] === 'finish', 'order ' + seen.join(','));
  },
};

const want = (process.env.MS_CASES || 'plain,stream,helper,json,json_schema,max_tokens,models,bad_key,bad_param').split(',');
let failed = 0;
for (const name of want) {
  try { await cases[name](); console.log(`ok ${name}`); } catch (e) { failed++; console.log(`FAIL ${name}: ${e.constructor.name}: ${e.message}`); }
}
process.exit(failed ? 1 : 0);
