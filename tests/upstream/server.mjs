// A small OpenAI-compatible upstream for the gateway tests and benchmarks (tests only).
// What it does: answers POST .../chat/completions by echoing the user messages' text back
// ("ECHO: ..."), plainly or as SSE split into 3-character pieces (so surrogates are split across
// chunks), with switchable quirks chosen by the model name; appends every request body it
// receives as one JSON line to the record file, so tests can prove no planted PHI reached it.
// What it trusts: nothing; it only binds 127.0.0.1. What it owns: the record file.
// usage: node server.mjs RECORD_FILE|- [PORT]   (prints "PORT <n>" when listening)
import http from 'node:http';
import fs from 'node:fs';

const record = process.argv[2] && process.argv[2] !== '-' ? process.argv[2] : null;
const port = Number(process.argv[3] || 0);
// benchmark mode: a fixed tiny answer, no recording, no parsing cost beyond JSON.parse
const trivial = process.env.UPSTREAM_TRIVIAL === '1';

function userText(req) {
  const parts = [];
  for (const m of req.messages || []) {
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') parts.push(m.content);
    else if (Array.isArray(m.content))
      for (const p of m.content) if (p.type === 'text') parts.push(p.text);
  }
  return parts.join('\n');
}

function completion(model, content, finish = 'stop') {
  return {
    id: 'chatcmpl-up', object: 'chat.completion', created: 1767225600, model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finish, logprobs: null }],
    usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
  };
}

function chunk(model, delta, finish = null, extra = {}) {
  return { id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1767225600, model,
           choices: [{ index: 0, delta, finish_reason: finish }], ...extra };
}

function streamTool(res, model, args) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const send = (o) => res.write(`data: ${JSON.stringify(o)}\n\n`);
  send(chunk(model, { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'save_note', arguments: '' } }] }));
  for (const p of args.match(/[\s\S]{1,3}/gu) || []) send(chunk(model, { tool_calls: [{ index: 0, function: { arguments: p } }] }));
  send(chunk(model, {}, 'tool_calls'));
  res.write('data: [DONE]\n\n');
  res.end();
}

function stream(res, model, content) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const send = (o) => res.write(`data: ${JSON.stringify(o)}\n\n`);
  const usage = { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 };
  const q = model.includes('no-role') ? { content: '' } : { role: 'assistant', content: '' };
  send(chunk(model, q));
  res.write(': keep-alive\r\n\r\n');
  const pieces = content.match(/[\s\S]{1,3}/gu) || [];
  pieces.forEach((p, i) => {
    if (model.includes('error-line') && i === 2) {
      res.write('error: {"error":{"message":"upstream exploded","type":"server_error"}}\n\n');
    }
    send(chunk(model, { content: p }));
  });
  if (model.includes('truncated')) return res.end();
  if (model.includes('usage-in-finish')) send(chunk(model, {}, 'stop', { usage }));
  else send(chunk(model, {}, 'stop'));
  if (model.includes('choices-null')) send({ id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1767225600, model, choices: null, usage });
  else if (!model.includes('usage-in-finish')) send({ id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1767225600, model, choices: [], usage });
  if (!model.includes('no-done')) res.write('data: [DONE]\n\n');
  res.end();
}

const server = http.createServer((req, res) => {
  const body = [];
  req.on('data', (d) => body.push(d));
  req.on('end', () => {
    const raw = Buffer.concat(body).toString('utf8');
    if (trivial) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}');
    }
    if (record) fs.appendFileSync(record, raw.replace(/\n/g, ' ') + '\n');
    let j;
    try { j = JSON.parse(raw); } catch { res.writeHead(400); return res.end('{"error":{"message":"bad json"}}'); }
    const model = String(j.model || '');
    if (!req.url.endsWith('/chat/completions')) { res.writeHead(404); return res.end(); }
    if (model === 'fail-500') { res.writeHead(500, { 'content-type': 'application/json' }); return res.end('{"error":{"message":"internal"}}'); }
    if (model === 'fail-429') { res.writeHead(429, { 'retry-after': '7', 'content-type': 'application/json' }); return res.end('{"error":{"message":"slow down"}}'); }
    // 'big': a 4 MiB answer (over a small memory ceiling: the gateway's 502 too-large path)
    const content = model === 'big' ? 'x'.repeat(4 << 20) : 'ECHO: ' + userText(j);
    if (model.includes('tool')) { // the answer is a tool call whose arguments carry the text
      const args = JSON.stringify({ note: content });
      if (j.stream) return streamTool(res, model, args);
      const c = completion(model, null, 'tool_calls');
      c.choices[0].message.tool_calls = [{ id: 'call_1', type: 'function', function: { name: 'save_note', arguments: args } }];
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(c));
    }
    const go = () => (j.stream ? stream(res, model, content) : (res.writeHead(200, { 'content-type': 'application/json' }), res.end(JSON.stringify(completion(model, content)))));
    if (model === 'slow') setTimeout(go, 3000); else go();
  });
});
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => console.log(`PORT ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
