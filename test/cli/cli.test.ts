import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../../local/index';
import { fixture } from '../helpers/fixtures';
import { FIXTURE_DIR } from '../../scripts/make-fixtures';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({ retryBaseMs: 20 });
});
afterAll(() => stack.stop());

/** Run the CLI as an operator would: a separate process, credentials and endpoints from the environment. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), ...args],
      {
        cwd: PROJECT_ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          ...stack.operatorEnv(),
        },
        maxBuffer: 64 * 1024 * 1024,
        timeout: 120_000,
      },
      (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const imports = (key: string) => stack.ens.callsOf('ImportImage').filter((c) => c.params.OSSObject === key && c.status === 200);

describe('terminal safety', () => {
  it('prints control sequences in keys and metadata as visible escapes, never raw', async () => {
    const key = 'images/ubuntu/22.04/evil\u001b]0;pwned\u0007\u001b[2J\u202e.qcow2';
    const r = await cli(['plan', key, '--meta', 'ens-image-name=x\u001b[31mred']);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for them
    expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(r.stdout).toContain('evil\\x1b]0;pwned\\x07\\x1b[2J\\u202e.qcow2');
  });
});

describe('ens-importer plan', () => {
  it('shows the parameters with their sources for a good key (exit 0)', async () => {
    const r = await cli(['plan', 'images/ubuntu/22.04/web.qcow2', '--json']);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan).toMatchObject({ verdict: 'import', rule: 'images', params: { ImageName: 'web', Platform: 'ubuntu', OSVersion: '22.04' } });
    expect(plan.provenance.ComputeType).toEqual({ value: 'ens_vm', source: 'default' });
  });

  it('shows the name fix for a key that needs one, and metadata winning over the key', async () => {
    const r = await cli(['plan', 'images/ubuntu/22.04/ubuntu-22.04.qcow2', '--meta', 'ens-os-version=22.04.3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ImageName\s+ubuntu-22-04\s+convention \(was "ubuntu-22.04"\)/);
    expect(r.stdout).toMatch(/OSVersion\s+22\.04\.3\s+metadata/);
  });

  it('lists every reason a key would be refused (exit 3)', async () => {
    const r = await cli(['plan', 'images/x.qcow2', '--meta', 'ens-os-type=windows', '--region', 'cn-hangzhou', '--json']);
    expect(r.code).toBe(3);
    const codes = JSON.parse(r.stdout)
      .problems.map((p: any) => p.code)
      .sort();
    expect(codes).toEqual([
      'InvalidParameter.OSSRegion',
      'InvalidParameter.OSType',
      'MissingParameter.OSVersion',
      'MissingParameter.Platform',
    ]);
  });

  it('answers --help and refuses bad usage with exit 2', async () => {
    const help = await cli(['plan', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--meta');
    expect((await cli(['plan'])).code).toBe(2);
    expect((await cli(['plan', 'k', '--meta', 'novalue'])).code).toBe(2);
  });
});

describe('ens-importer inspect', () => {
  const cases: [string, number, string][] = [
    ['v3.qcow2', 0, 'safe'],
    ['v2.qcow2', 0, 'safe'],
    ['backing-file.qcow2', 3, 'qcow2-backing-file'],
    ['data-file.qcow2', 3, 'qcow2-data-file'],
    ['luks.qcow2', 3, 'qcow2-encrypted'],
    ['raw-disk.qcow2', 3, 'not-qcow2'],
    ['truncated.qcow2', 3, 'qcow2-truncated'],
    ['empty.qcow2', 3, 'empty-object'],
    ['huge.qcow2', 3, 'qcow2-too-large'],
  ];
  it.each(cases)('%s → exit %i (%s)', async (file, code, expected) => {
    fixture(file);
    const r = await cli(['inspect', resolve(FIXTURE_DIR, file), '--json']);
    expect(r.code).toBe(code);
    const report = JSON.parse(r.stdout);
    if (code === 0) expect(report).toMatchObject({ safe: true, format: 'qcow2' });
    else expect(report.refusals[0].code).toBe(expected);
  });

  it('reads only the header of a remote object', async () => {
    stack.oss.seedObject(stack.bucket, 'remote/big.qcow2', fixture('v3.qcow2').subarray(0, 65536), 1024 ** 4);
    const before = stack.oss.requestLog.length;
    const r = await cli(['inspect', `oss://${stack.bucket}/remote/big.qcow2`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/version\s+3/);
    expect(r.stdout).toContain('verdict: safe to import');
    const reads = stack.oss.requestLog.slice(before).filter((e) => e.key === 'remote/big.qcow2');
    expect(reads.map((e) => [e.operation, e.bytesSent])).toEqual([['GetObject', 65536]]);
  });
});

describe('--wait', () => {
  it('import --wait follows the version to available as ENS tells it, a JSON object a line', async () => {
    const key = 'images/ubuntu/22.04/wait-me.qcow2';
    stack.oss.seedObject(stack.bucket, key, fixture('v3.qcow2'));
    const running = cli(['import', `oss://${stack.bucket}/${key}`, '--wait', '--wait-interval', '0.2', '--json']);
    // ENS makes the image once its clock moves: move it after the import is sent
    while (stack.oss.peekObject(stack.bucket, key)!.tags['ens:status'] !== 'importing') await new Promise((r) => setTimeout(r, 100));
    stack.ens.clock.advance(3_600_000);
    const r = await running;
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ outcome: 'imported', imageId: expect.stringMatching(/^m-/) });
    expect(lines.slice(1).map((l) => `${l.stage} ${l.status}`)).toEqual(
      expect.arrayContaining(['object importing', 'ens Available', 'end available']),
    );
    expect(lines.at(-1)).toMatchObject({ stage: 'end', status: 'available', imageId: lines[0].imageId });
    expect(r.code).toBe(0);
  });

  it('Ctrl-C stops watching only, and says how to watch again (exit 130)', async () => {
    const key = 'images/ubuntu/22.04/wait-ctrl-c.qcow2';
    stack.oss.seedObject(stack.bucket, key, fixture('v2.qcow2'));
    const child = spawn(
      process.execPath,
      [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), 'import', `oss://${stack.bucket}/${key}`, '--wait', '--wait-interval', '0.2'],
      {
        cwd: PROJECT_ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...stack.operatorEnv() },
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err += b));
    while (!out.includes('object importing')) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(130);
    expect(err).toContain(`watch it again with: ens-importer import oss://${stack.bucket}/${key} --wait`);
    // the import itself goes on
    expect(stack.oss.peekObject(stack.bucket, key)!.tags['ens:status']).toBe('importing');
    // and retry --wait picks the watching up (an importing version is not imported again)
    const resumed = cli(['retry', `oss://${stack.bucket}/${key}`, '--via', 'local', '--wait', '--wait-interval', '0.2']);
    await new Promise((r) => setTimeout(r, 1_500));
    stack.ens.clock.advance(3_600_000);
    const r = await resumed;
    expect(r.stdout).toMatch(/^skipped .*wait-ctrl-c/m);
    expect(r.stdout).toMatch(/ended available m-/);
    expect(r.code).toBe(0);
  });
});

describe('ens-importer import', () => {
  it('runs the pipeline for one object now', async () => {
    stack.oss.seedObject(stack.bucket, 'images/centos/7.9/now.qcow2', fixture('v3.qcow2'));
    const r = await cli(['import', `oss://${stack.bucket}/images/centos/7.9/now.qcow2`, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'imported', imageName: 'now' });
    expect(stack.oss.peekObject(stack.bucket, 'images/centos/7.9/now.qcow2')!.tags['ens:status']).toBe('importing');
    const again = await cli(['import', `oss://${stack.bucket}/images/centos/7.9/now.qcow2`]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('duplicate');
    expect(imports('images/centos/7.9/now.qcow2')).toHaveLength(1);
  });
});

/** 200 objects uploaded before the function existed: 20 already imported, 20 bad, 160 to import. */
function seedBackfill(prefix: string): { eligible: string[]; bad: string[]; done: string[] } {
  const good = fixture('v3.qcow2');
  const raw = fixture('raw-disk.qcow2').subarray(0, 65536);
  const out = { eligible: [] as string[], bad: [] as string[], done: [] as string[] };
  for (let i = 0; i < 200; i++) {
    const key = `${prefix}ubuntu/22.04/img-${String(i).padStart(3, '0')}.qcow2`;
    if (i % 10 === 0) {
      stack.oss.seedObject(
        stack.bucket,
        key,
        good,
        undefined,
        {},
        { tags: { 'ens:image-id': `m-already${i}`, 'ens:status': 'available' } },
      );
      out.done.push(key);
    } else if (i % 10 === 1) {
      stack.oss.seedObject(stack.bucket, key, raw, 1 << 20);
      out.bad.push(key);
    } else {
      stack.oss.seedObject(stack.bucket, key, good);
      out.eligible.push(key);
    }
  }
  stack.oss.seedObject(stack.bucket, `${prefix}notes.txt`, Buffer.from('not an image'));
  return out;
}

describe('ens-importer backfill and status', () => {
  it('backfills every watched suffix: a raw source goes to the converter, a qcow2 .img to the import', async () => {
    const prefix = 'images/backfill-formats/';
    stack.oss.seedObject(stack.bucket, `${prefix}ubuntu/22.04/disk.raw`, Buffer.alloc(2 << 20, 7));
    stack.oss.seedObject(stack.bucket, `${prefix}ubuntu/22.04/cloud.img`, fixture('v3.qcow2'));
    const r = await cli(['backfill', `oss://${stack.bucket}/${prefix}`, '--json']);
    const body = JSON.parse(r.stdout);
    expect(body.results).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: `${prefix}ubuntu/22.04/disk.raw`, outcome: 'converted' }),
        expect.objectContaining({ key: `${prefix}ubuntu/22.04/cloud.img`, outcome: 'imported' }),
      ]),
    );
    expect(stack.oss.hasObject(stack.bucket, `${prefix}ubuntu/22.04/disk.qcow2`)).toBe(true);
  });

  it('backfills 200 objects in-process: one import per eligible object, the bad ones tagged, a second run does nothing', async () => {
    const prefix = 'images/backfill-local/';
    const seeded = seedBackfill(prefix);
    const dry = await cli(['backfill', `oss://${stack.bucket}/${prefix}`, '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout).eligible).toHaveLength(180);
    expect(stack.ens.callsOf('ImportImage').filter((c) => c.params.OSSObject?.startsWith(prefix))).toHaveLength(0);

    const r = await cli(['backfill', `oss://${stack.bucket}/${prefix}`, '--concurrency', '8', '--json']);
    const body = JSON.parse(r.stdout);
    expect(body).toMatchObject({ listed: 200, eligible: 180, handled: 180, counts: { imported: 160, rejected: 20 } });
    expect(r.code).toBe(3); // some were rejected
    for (const k of seeded.eligible) expect(imports(k), k).toHaveLength(1);
    for (const k of [...seeded.bad, ...seeded.done]) expect(imports(k)).toHaveLength(0);
    for (const k of seeded.bad) expect(stack.oss.peekObject(stack.bucket, k)!.tags['ens:error']).toBe('not-qcow2');

    const second = await cli(['backfill', `oss://${stack.bucket}/${prefix}`, '--json']);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ eligible: 0, handled: 0 });

    const status = await cli(['status', `oss://${stack.bucket}/${prefix}`, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ total: 200, counts: { importing: 160, rejected: 20, available: 20 } });
    const table = await cli(['status', `oss://${stack.bucket}/${prefix}`]);
    expect(table.stdout).toMatch(/200 objects: .*importing 160/);
  });

  it("backfills through asynchronous FC invocations with events shaped like the trigger's", async () => {
    const prefix = 'images/backfill-fc/';
    const seeded = seedBackfill(prefix);
    const r = await cli(['backfill', `oss://${stack.bucket}/${prefix}`, '--via', 'fc', '--concurrency', '16', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ via: 'fc', eligible: 180, counts: { queued: 180 } });
    await stack.settle();
    for (const k of seeded.eligible) expect(imports(k), k).toHaveLength(1);
    const outcomes = stack.importResults().filter((x: any) => x.key.startsWith(prefix));
    expect(outcomes.filter((x: any) => x.outcome === 'imported')).toHaveLength(160);
    expect(outcomes.filter((x: any) => x.outcome === 'rejected')).toHaveLength(20);
    const second = await cli(['backfill', `oss://${stack.bucket}/${prefix}`, '--via', 'fc', '--json']);
    expect(JSON.parse(second.stdout)).toMatchObject({ eligible: 0 });
  });

  it('invokes an FC 2.0 service through the 2016-08-15 API with --fc-api 2016-08-15', async () => {
    const prefix = 'images/backfill-fc2/';
    const seeded = seedBackfill(prefix);
    const r = await cli([
      'backfill',
      `oss://${stack.bucket}/${prefix}`,
      '--via',
      'fc',
      '--fc-api',
      '2016-08-15',
      '--service',
      'default',
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ via: 'fc', counts: { queued: 180 } });
    await stack.settle();
    for (const k of seeded.eligible) expect(imports(k), k).toHaveLength(1);
  });

  it('leaves out keys no rule would import', async () => {
    stack.oss.seedObject(stack.bucket, 'legacy/ubuntu/22.04/old.qcow2', fixture('v3.qcow2'));
    const r = await cli(['backfill', `oss://${stack.bucket}/legacy/`, '--dry-run', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ listed: 1, notCoveredByRules: 1, eligible: [] });
  });

  it('retries failed imports with --retry-failed and honours --limit', async () => {
    const key = 'images/backfill-retry/ubuntu/22.04/again.qcow2';
    stack.oss.seedObject(stack.bucket, key, fixture('v3.qcow2'));
    stack.ens.faults.inject('ImportImage', { status: 400, code: 'InvalidParameter.ImageName', times: 1 });
    const first = await cli(['backfill', `oss://${stack.bucket}/images/backfill-retry/`, '--json']);
    expect(JSON.parse(first.stdout).counts).toEqual({ rejected: 1 });
    expect((await cli(['backfill', `oss://${stack.bucket}/images/backfill-retry/`, '--json'])).stdout).toContain('"eligible": 0');
    const retry = await cli(['backfill', `oss://${stack.bucket}/images/backfill-retry/`, '--retry-failed', '--limit', '5', '--json']);
    expect(JSON.parse(retry.stdout).counts).toEqual({ imported: 1 });
    expect(imports(key)).toHaveLength(1);
  });
});

describe('ens-importer and manifests', () => {
  it('plans a manifest: DiskDeviceMapping in order, parameters from the manifest', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(resolve(tmpdir(), 'manifest-'));
    writeFileSync(resolve(dir, 'web.ens-image.json'), JSON.stringify({ disks: ['./sys.qcow2', './data.qcow2'], imageName: 'web-multi' }));
    const r = await cli(['plan', 'images/ubuntu/22.04/web.ens-image.json', '--manifest', resolve(dir, 'web.ens-image.json'), '--json']);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan).toMatchObject({
      verdict: 'import',
      disks: ['images/ubuntu/22.04/sys.qcow2', 'images/ubuntu/22.04/data.qcow2'],
      params: { ImageName: 'web-multi', Platform: 'ubuntu' },
    });
    expect(JSON.parse(plan.params.DiskDeviceMapping).map((d: any) => d.OSSObject)).toEqual(plan.disks);
    writeFileSync(resolve(dir, 'bad.ens-image.json'), JSON.stringify({ disks: ['./a.qcow2'], colour: 'red' }));
    const bad = await cli(['plan', 'images/ubuntu/22.04/bad.ens-image.json', '--manifest', resolve(dir, 'bad.ens-image.json'), '--json']);
    expect(bad.code).toBe(3);
    expect(JSON.parse(bad.stdout)).toMatchObject({ verdict: 'invalid' });
  });

  it('inspects every disk of a local and of a remote manifest', async () => {
    const { writeFileSync, mkdtempSync, copyFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(resolve(tmpdir(), 'manifest-'));
    copyFileSync(resolve(FIXTURE_DIR, 'v3.qcow2'), resolve(dir, 'sys.qcow2'));
    copyFileSync(resolve(FIXTURE_DIR, 'luks.qcow2'), resolve(dir, 'data.qcow2'));
    writeFileSync(resolve(dir, 'web.ens-image.json'), JSON.stringify({ disks: ['images/x/sys.qcow2', 'images/x/data.qcow2'] }));
    const local = await cli(['inspect', resolve(dir, 'web.ens-image.json'), '--json']);
    expect(local.code).toBe(3);
    expect(JSON.parse(local.stdout).disks.map((d: any) => [d.safe, d.refusals[0]?.code])).toEqual([
      [true, undefined],
      [false, 'qcow2-encrypted'],
    ]);
    stack.oss.seedObject(stack.bucket, 'images/m/sys.qcow2', fixture('v3.qcow2'));
    stack.oss.seedObject(stack.bucket, 'images/m/data.qcow2', fixture('v2.qcow2'));
    stack.oss.seedObject(
      stack.bucket,
      'images/m/web.ens-image.json',
      Buffer.from(JSON.stringify({ disks: ['./sys.qcow2', './data.qcow2'] })),
    );
    const remote = await cli(['inspect', `oss://${stack.bucket}/images/m/web.ens-image.json`]);
    expect(remote.code).toBe(0);
    expect(remote.stdout).toContain('2 disk(s)');
    expect(remote.stdout).toContain('verdict: safe to import');
  });
});
