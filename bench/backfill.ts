// Backfill: N new objects under a prefix, imported by `ens-importer backfill` in process
// (--via local) and through the deployed function (--via fc): OSS and ENS requests per
// object (the listing included; FC invocations counted apart) and objects per second.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../local/index';

function cli(stack: LocalStack, args: string[]): Promise<string> {
  return new Promise((done, fail) =>
    execFile(
      process.execPath,
      [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), ...args],
      {
        cwd: PROJECT_ROOT,
        maxBuffer: 1 << 26,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          ...stack.operatorEnv(),
        },
      },
      // the exit code says what happened to the objects; the JSON on stdout has it all
      (err, stdout, stderr) => (stdout ? done(stdout) : fail(new Error(`${err?.message}\n${stderr}`))),
    ),
  );
}

async function oneWay(via: 'local' | 'fc', objects: number, body: Buffer) {
  const stack = await startLocalStack({ functionCode: 'bundle', asyncConcurrency: 16 });
  try {
    const prefix = `images/ubuntu/22.04/backfill-${via}-`;
    for (let i = 0; i < objects; i++) stack.oss.seedObject(stack.bucket, `${prefix}${i}.qcow2`, body);
    const oss0 = stack.oss.requestLog.length;
    const ens0 = stack.ens.calls.length;
    const t0 = performance.now();
    const out = JSON.parse(await cli(stack, ['backfill', `oss://${stack.bucket}/${prefix}`, '--via', via, '--concurrency', '8', '--json']));
    await stack.settle();
    const seconds = (performance.now() - t0) / 1000;
    const imported = stack.importResults().filter((r) => r.key.startsWith(prefix) && r.outcome === 'imported').length;
    // in process, the pending index says what was imported (no function ran)
    const inProcess = via === 'local' ? stack.stateKeys('pending').length : imported;
    const requests = stack.oss.requestLog.length - oss0 + (stack.ens.calls.length - ens0);
    return {
      objects,
      imported: via === 'local' ? inProcess : imported,
      seconds: Math.round(seconds * 10) / 10,
      objectsPerSecond: Math.round((objects / seconds) * 10) / 10,
      requestsPerObject: Math.round((requests / objects) * 100) / 100,
      fcInvocations: stack.fc.invocations.filter((i) => i.function === 'ens-import-image').length,
      counts: out.counts,
    };
  } finally {
    await stack.stop();
  }
}

export async function backfillFigures(objects: number, body: Buffer) {
  return {
    method: 'ens-importer backfill as a separate process against the local stack; OSS + ENS requests from the stand-ins’ logs',
    local: await oneWay('local', objects, body),
    fc: await oneWay('fc', objects, body),
  };
}
