import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { buildFunctions } from '../../scripts/build';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';

let stack: LocalStack;
let dir: string;

beforeAll(async () => {
  await buildFunctions();
  // The deployed package: the bundle and importer.yaml in a folder with no node_modules anywhere above it.
  dir = mkdtempSync(join(tmpdir(), 'fc-code-'));
  cpSync('dist/import-image', join(dir, 'code'), { recursive: true });
  stack = await startLocalStack({ functionCode: 'bundle', functionEnv: { IMPORTER_RULES: '' } });
  const fn = stack.fc.functions.get('ens-import-image')!;
  stack.fc.register({ ...fn, entry: join(dir, 'code') });
});
afterAll(async () => {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the built bundle', () => {
  it('runs from a folder without node_modules and imports through the real SDKs', async () => {
    await ossClient(stack).put('images/ubuntu/22.04/bundled.qcow2', fixture('v3.qcow2'));
    await stack.settle();
    const results = stack.importResults();
    expect(stack.fc.invocations[0]!.ok).toBe(true);
    expect(results[0]).toMatchObject({ outcome: 'imported', imageName: 'bundled' });
    // the rules came from the importer.yaml shipped beside the handler
    expect(stack.fc.logs.some((l) => l.message.includes('"rule":"images"'))).toBe(true);
  });

  it('hands a .img that is not qcow2 to the bundled converter, the FC SDKs loaded from their own file only then', async () => {
    const body = Buffer.alloc(2 << 20);
    body.fill(3, 0, 1 << 20);
    await ossClient(stack).put('images/ubuntu/22.04/bundled-build.img', body);
    await stack.settle();
    expect(stack.importResults().filter((r) => r.key === 'images/ubuntu/22.04/bundled-build.img')).toMatchObject([
      { outcome: 'skipped', errorCode: 'handed-to-converter' },
    ]);
    expect(stack.convertResults()).toMatchObject([{ outcome: 'converted', format: 'raw' }]);
    expect(stack.importResults().filter((r) => r.key === 'images/ubuntu/22.04/bundled-build.qcow2')).toMatchObject([
      { outcome: 'imported' },
    ]);
  });

  it('says at cold start whether V8 took the code cache (built on this Node 20, it does)', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(process.execPath, ['-e', `require(${JSON.stringify(join(dir, 'code'))})`], {
      env: { ...process.env, FC_FUNCTION_NAME: 'ens-import-image' },
    }).toString();
    const line = JSON.parse(out.split('\n').find((l) => l.includes('cold-start'))!);
    expect(line).toMatchObject({
      event: 'cold-start',
      function: 'ens-import-image',
      codeCache: process.versions.node.startsWith('20.') ? 'accepted' : 'absent',
    });
  });

  it('fans a big source out from the bundled converter to itself, the FC SDKs loaded from their own file', async () => {
    const fn = stack.fc.functions.get('ens-convert-image')!;
    stack.fc.register({
      ...fn,
      env: { ...fn.env, IMPORTER_FANOUT_MIB: '1', IMPORTER_FANOUT_RANGE_MIB: '1', IMPORTER_FANOUT_POLL_MS: '50' },
    });
    const body = Buffer.alloc(3 << 20);
    body.fill(9, 0, 1 << 20);
    body.fill(7, 2 << 20, 3 << 20);
    await ossClient(stack).put('images/ubuntu/22.04/bundled-big.raw', body);
    await stack.settle();
    expect(stack.convertResults().filter((r) => r.key === 'images/ubuntu/22.04/bundled-big.raw')).toMatchObject([{ outcome: 'converted' }]);
    const workers = stack.fc.invocations.filter((i) => i.function === 'ens-convert-image' && (i.result as { range?: unknown })?.range);
    expect(workers.map((w) => w.ok)).toEqual([true, true, true]);
  });
});
