// A fresh Node process for the benchmark: either load the unbundled SDKs (baseline), or load
// the function bundle and handle events against the local stack. Prints one JSON line.
const started = performance.now();
const [mode, bundle, eventsFile, count] = process.argv.slice(2);

async function main() {
  if (mode === 'baseline') {
    require('ali-oss');
    require('@alicloud/pop-core');
    const loadedMs = performance.now() - started;
    process.stdout.write(`${JSON.stringify({ loadedMs, sinceProcessStartMs: performance.now() })}\n`);
    return;
  }
  const { handler } = require(bundle);
  const loadedMs = performance.now() - started;
  const events = require('node:fs').readFileSync(eventsFile, 'utf8').split('\n').filter(Boolean);
  const n = Number(count || events.length);
  const context = () => ({
    requestId: `bench-${Math.random().toString(36).slice(2)}`,
    credentials: { accessKeyId: process.env.BENCH_AK, accessKeySecret: process.env.BENCH_SK },
    function: { name: 'ens-import-image', timeout: 120, memory: 128 },
    region: 'cn-beijing',
    logger: { info() {}, warn() {}, error() {} },
  });
  let firstMs;
  let peakRss = 0;
  const outcomes = {};
  for (let i = 0; i < n; i++) {
    const out = await handler(Buffer.from(events[i % events.length]), context());
    for (const r of out.results) outcomes[r.outcome] = (outcomes[r.outcome] || 0) + 1;
    if (i === 0) firstMs = performance.now() - started;
    if (i % 50 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  peakRss = Math.max(peakRss, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024);
  process.stdout.write(
    `${JSON.stringify({ loadedMs, firstEventMs: firstMs, sinceProcessStartMs: performance.now(), peakRssBytes: peakRss, outcomes })}\n`,
  );
}
main().catch((err) => {
  process.stderr.write(`${String(err?.stack || err)}\n`);
  process.exit(1);
});
