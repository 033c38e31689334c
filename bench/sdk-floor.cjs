// The OSS SDK's own floor under the tracker: a fresh process that sends, through ali-oss alone
// (the options the product gives it, the tracker's concurrency), the same six requests per
// finished import the tracker sends, and none of the tracker's work. What the tracker spends
// above this is its own; what this spends is the price of the requests on this machine.
const OSS = require('ali-oss');

const [count, concurrency, prefix] = process.argv.slice(2);
const n = Number(count);
// the product's own options for the client (ossClientOptions), handed over by the bench
const client = new OSS(JSON.parse(process.env.BENCH_OSS_OPTIONS));

async function oneImport(i) {
  const record = `${prefix}records/${i}.json`;
  const object = `${prefix}objects/${i}.qcow2`;
  const body = (await client.get(record)).content;
  await client.put(record, body);
  await client.head(object);
  const { tag } = await client.getObjectTagging(object);
  await client.putObjectTagging(object, { ...tag, 'ens:status': 'available' });
  await client.put(`${prefix}images/${i}`, Buffer.alloc(0));
}

async function main() {
  const started = performance.now();
  const loaded = process.cpuUsage();
  let next = 0;
  const worker = async () => {
    while (next < n) await oneImport(next++);
  };
  await Promise.all(Array.from({ length: Number(concurrency) }, worker));
  const cpu = process.cpuUsage(loaded);
  process.stdout.write(
    `${JSON.stringify({ imports: n, requests: n * 6, ms: performance.now() - started, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`,
  );
}
main().catch((err) => {
  process.stderr.write(`${String(err?.stack || err)}\n`);
  process.exit(1);
});
