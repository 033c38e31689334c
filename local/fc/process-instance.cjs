// One FC instance as a process of its own (the FC stand-in's processInstances option): loads a
// function bundle once, then handles each invocation the parent sends over IPC, one at a time,
// as FC's nodejs20 runtime does. Replies with the result (or the error) and the process's peak
// RSS so far (VmHWM).
const [bundle, exportName] = process.argv.slice(2);
const fs = require('node:fs');
const peak = () => {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage.rss();
};
const handler = require(bundle)[exportName];
process.on('message', async ({ id, payload, context }) => {
  const log =
    (level) =>
    (...args) =>
      console.log(`${level}: ${args.map(String).join(' ')}`);
  context.logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  try {
    const result = await handler(Buffer.from(payload, 'base64'), context);
    process.send({ id, ok: true, result, peakRssBytes: peak() });
  } catch (err) {
    process.send({ id, ok: false, error: err?.message ? err.message : String(err), peakRssBytes: peak() });
  }
});
