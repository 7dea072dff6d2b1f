// Validates an AsyncAPI document with the AsyncAPI parser (the validator the
// AsyncAPI CLI and Studio use), resolving every relative $ref from disk and
// never from the network: an http(s) reference is an error here.
// Then compares the document with what it describes: its Kafka channels with
// deploy/topics.conf (names, partitions), its messages with the schema files
// (every schemas/events/*.json on the channel of the topic its description
// names, every schemas/frames/{client,server}/*.json on the WebSocket channel).
// Usage: npm ci && node check.mjs [../asyncapi.yaml]; exits 1 on any diagnostic
// of severity error or any mismatch (warnings and hints are printed, not fatal).
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';
import { readFileSync, readdirSync } from 'node:fs';
import { resolve, dirname, join } from 'node:path';

const file = resolve(process.argv[2] ?? new URL('../asyncapi.yaml', import.meta.url).pathname);
const offline = (schema) => ({
  schema,
  order: 1,
  read: (uri) => {
    throw new Error(`refusing to fetch ${uri}: every reference must be a relative file`);
  },
});
const parser = new Parser({ __unstable: { resolver: { resolvers: [offline('http'), offline('https')] } } });

const { document, diagnostics } = await fromFile(parser, file).parse();
const names = { [DiagnosticSeverity.Error]: 'error', [DiagnosticSeverity.Warning]: 'warning', [DiagnosticSeverity.Information]: 'info', [DiagnosticSeverity.Hint]: 'hint' };
for (const d of diagnostics) {
  const at = d.path?.length ? ` at ${d.path.join('/')}` : '';
  const src = d.source && d.source !== file ? ` (${d.source})` : '';
  console.log(`${names[d.severity] ?? d.severity}: ${d.code}: ${d.message}${at}${src}`);
}
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
if (errors.length > 0 || !document) {
  console.log(`${file}: ${errors.length} error(s); not a valid AsyncAPI document`);
  process.exit(1);
}
const channels = document.channels().all();
const operations = document.operations().all();
const messages = document.allMessages().all();
console.log(`${file}: valid AsyncAPI ${document.version()}: ${channels.length} channels, ${operations.length} operations, ${messages.length} messages`);

// --- The document against the repository.
const schemasDir = dirname(file);
const repo = resolve(schemasDir, '..');
const problems = [];
const same = (what, want, got) => {
  const missing = [...want].filter((x) => !got.has(x));
  const extra = [...got].filter((x) => !want.has(x));
  if (missing.length) problems.push(`${what}: missing ${missing.join(', ')}`);
  if (extra.length) problems.push(`${what}: not expected ${extra.join(', ')}`);
};
const payloadIds = (channel) => new Set(channel.messages().all().map((m) => m.payload()?.json()?.$id).filter(Boolean));
const schemaFiles = (dir) => readdirSync(join(schemasDir, dir)).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(schemasDir, dir, f), 'utf8')));

// Topics: deploy/topics.conf lines `<topic> <partitions> [config]`.
const conf = readFileSync(join(repo, 'deploy/topics.conf'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => l.split(/\s+/));
const kafka = channels.filter((c) => c.servers().all().some((s) => s.protocol() === 'kafka'));
same('Kafka channels against deploy/topics.conf', new Set(conf.map(([t]) => t)), new Set(kafka.map((c) => c.address())));
for (const [topic, partitions] of conf) {
  const c = kafka.find((c) => c.address() === topic);
  const binding = c?.bindings().get('kafka')?.value();
  if (c && binding?.partitions !== Number(partitions)) problems.push(`${topic}: ${binding?.partitions} partitions in the document, ${partitions} in deploy/topics.conf`);
}

// Events: each on the channel of its topic; beaver.sequenced.v1 also carries
// every message-topic event but MessageSent (the sequencer passes them through).
const events = schemaFiles('events');
for (const c of kafka) {
  const topic = c.address();
  if (topic === 'beaver.sequencer-state.v1') continue;
  const want = new Set(events.filter((e) => {
    const home = /Topic (beaver\.[a-z-]+\.v1)/.exec(e.description ?? '')?.[1];
    if (!home) problems.push(`${e.$id}: its description names no topic`);
    return home === topic || (topic === 'beaver.sequenced.v1' && home === 'beaver.messages.v1' && e.properties.event_type.const !== 'MessageSent');
  }).map((e) => e.$id));
  same(`messages of ${topic}`, want, payloadIds(c));
}

// Frames: every client and server frame schema on the WebSocket channel.
const socket = channels.find((c) => c.address() === '/ws');
if (!socket) problems.push('no /ws channel');
else same('messages of /ws against schemas/frames', new Set([...schemaFiles('frames/client'), ...schemaFiles('frames/server')].map((f) => f.$id)), payloadIds(socket));

for (const p of problems) console.log(`mismatch: ${p}`);
if (problems.length) {
  console.log(`${file}: ${problems.length} mismatch(es) with the repository`);
  process.exit(1);
}
console.log(`${file}: matches deploy/topics.conf (${conf.length} topics), schemas/events (${events.length}) and schemas/frames`);
