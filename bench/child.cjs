// A fresh Node process for the benchmark: either load the unbundled SDKs (baseline), or load
// the function bundle and handle events against the local stack. Prints one JSON line per
// mark as it happens (`loaded`, `first`), then a summary line: the parent times whole
// processes from spawn to each mark.
const started = performance.now();
const [mode, bundle, eventsFile, count] = process.argv.slice(2);
/**
 * Peak RSS of this process: VmHWM (the mm's high-water mark, new at exec). getrusage's maxrss
 * is not used: Linux carries it across fork and exec, so a child of a large parent reports
 * the parent's size.
 */
function peakRssBytes(sampled) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {}
  return Math.max(sampled, process.memoryUsage.rss());
}
const mark = (name) => process.stdout.write(`${JSON.stringify({ mark: name, ms: performance.now() - started })}\n`);

async function main() {
  if (mode === 'noop') {
    mark('loaded');
    return;
  }
  if (mode === 'baseline') {
    require('ali-oss');
    require('@alicloud/pop-core');
    const loadedMs = performance.now() - started;
    mark('loaded');
    process.stdout.write(`${JSON.stringify({ loadedMs, sinceProcessStartMs: performance.now() })}\n`);
    return;
  }
  if (mode === 'tracker') {
    // BENCH_CPU_PROF=file: a V8 CPU profile of the run (NODE_OPTIONS may not carry --cpu-prof)
    const profiler = process.env.BENCH_CPU_PROF ? new (require('node:inspector').Session)() : undefined;
    const post = (m, p) => new Promise((r, j) => profiler.post(m, p ?? {}, (e, v) => (e ? j(e) : r(v))));
    if (profiler) {
      profiler.connect();
      await post('Profiler.enable');
      await post('Profiler.start');
    }
    const { handler } = require(bundle);
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 100);
    const summary = await handler(Buffer.from('{}'), {
      requestId: 'bench-tracker',
      credentials: { accessKeyId: process.env.BENCH_AK, accessKeySecret: process.env.BENCH_SK },
      function: { name: 'ens-track-imports', timeout: 120, memory: 128 },
      region: 'cn-beijing',
      logger: { info() {}, warn() {}, error() {} },
    });
    clearInterval(sampler);
    if (profiler) require('node:fs').writeFileSync(process.env.BENCH_CPU_PROF, JSON.stringify((await post('Profiler.stop')).profile));
    const cpu = process.cpuUsage();
    process.stdout.write(
      `${JSON.stringify({ summary, peakRssBytes: peakRssBytes(peak), cpuMs: Math.round((cpu.user + cpu.system) / 1000) })}\n`,
    );
    return;
  }
  const { handler } = require(bundle);
  const loadedMs = performance.now() - started;
  mark('loaded');
  const events = require('node:fs').readFileSync(eventsFile, 'utf8').split('\n').filter(Boolean);
  const n = Number(count || events.length);
  const context = () => ({
    requestId: `bench-${Math.random().toString(36).slice(2)}`,
    credentials: { accessKeyId: process.env.BENCH_AK, accessKeySecret: process.env.BENCH_SK },
    function: { name: process.env.BENCH_FUNCTION || 'ens-import-image', timeout: Number(process.env.BENCH_TIMEOUT || 120), memory: 128 },
    region: 'cn-beijing',
    logger: { info() {}, warn() {}, error() {} },
  });
  let firstMs;
  let peakRss = 0;
  const outcomes = {};
  for (let i = 0; i < n; i++) {
    const out = await handler(Buffer.from(events[i % events.length]), context());
    for (const r of out.results) outcomes[r.outcome] = (outcomes[r.outcome] || 0) + 1;
    if (i === 0) {
      firstMs = performance.now() - started;
      mark('first');
    }
    if (i % 50 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  peakRss = peakRssBytes(peakRss);
  process.stdout.write(
    `${JSON.stringify({ loadedMs, firstEventMs: firstMs, sinceProcessStartMs: performance.now(), peakRssBytes: peakRss, outcomes })}\n`,
  );
}
main().catch((err) => {
  process.stderr.write(`${String(err?.stack || err)}\n`);
  process.exit(1);
});
