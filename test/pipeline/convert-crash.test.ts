import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { createObjectStore } from '../../shared/adapters/oss';
import { createObjectTransfer } from '../../shared/adapters/oss-transfer';
import { convertObjectEvent } from '../../shared/conversion/convert-event';
import type { ConvertDeps } from '../../shared/conversion/deps';
import { readConverterConfig } from '../../shared/runtime/config';
import { createLogger } from '../../shared/runtime/logger';

/**
 * The converter's crash points, with the real adapters against the local stack: a killed
 * invocation (nothing after the step runs) and then the next delivery, which must end with
 * exactly one qcow2, no open multipart upload, and the record and tags saying so.
 */

const MiB = 2 ** 20;
const dir = mkdtempSync(join(tmpdir(), 'convert-crash-'));
let stack: LocalStack;
let vhd: Buffer;
const lines: string[] = [];

beforeAll(async () => {
  stack = await startLocalStack({ sYaml: false, buckets: [{ name: 'ens-images' }] });
  const raw = join(dir, 'guest.raw');
  const b = Buffer.alloc(40 * MiB);
  b.fill(7, 0, 20 * MiB); // more than two 8 MiB parts of data
  writeFileSync(raw, b);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', raw, `${raw}.vhd`]);
  vhd = readFileSync(`${raw}.vhd`);
});
afterAll(async () => {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
});

function deps(overrides: Partial<ConvertDeps> = {}): ConvertDeps {
  const target = { region: 'cn-beijing', bucket: 'ens-images', endpoint: stack.endpoints.oss, credentials: stack.credentials };
  const deadline = overrides.deadline ?? Date.now() + 20_000;
  return {
    config: readConverterConfig({ OSS_ENDPOINT: stack.endpoints.oss, IMPORTER_CONVERT_MARGIN_SECONDS: '0.2' }, process.cwd()),
    store: createObjectStore(target, { deadline }),
    transfer: createObjectTransfer(target, { deadline }),
    log: createLogger((l) => lines.push(l), {}, [stack.credentials.accessKeySecret]),
    requestId: `inv-${Math.random().toString(36).slice(2)}`,
    deadline,
    ...overrides,
  };
}

const eventFor = (key: string) => {
  const o = stack.oss.peekObject('ens-images', key)!;
  return {
    eventName: 'ObjectCreated:PutObject',
    region: 'cn-beijing',
    bucket: 'ens-images',
    key,
    etag: o.etag,
    size: o.size,
    requestId: 'upload-1',
  };
};

/** An invocation killed at `step` (its claim expires at its 1.5 s deadline, as at FC's timeout). */
function crashAt(step: string, key: string): Promise<void> {
  return new Promise<void>((reached) => {
    void convertObjectEvent(
      eventFor(key),
      deps({
        deadline: Date.now() + 1_500,
        onStep: (s) => {
          if (s !== step) return undefined;
          reached();
          return new Promise<void>(() => undefined);
        },
      }),
    );
  });
}
const afterExpiry = () => new Promise((r) => setTimeout(r, 1_600));
const openUploads = () => stack.oss.openUploads('ens-images');
const conversionRecord = (key: string) =>
  stack
    .stateKeys('conversions', 'ens-images')
    .map((k) => JSON.parse(stack.objectText(k, 'ens-images')!))
    .find((r) => r.key === key);
const output = (key: string) => stack.oss.peekObject('ens-images', key.replace(/\.vhd$/, '.qcow2'));

describe('converter crash points: the next delivery converges on one qcow2', () => {
  for (const step of ['after-claim', 'after-initiate', 'before-complete']) {
    it(`killed ${step}: the leftover upload is aborted, the source converted once`, async () => {
      const key = `images/ubuntu/22.04/crash-${step}.vhd`;
      stack.oss.seedObject('ens-images', key, vhd);
      await crashAt(step, key);
      if (step !== 'after-claim') expect(openUploads().filter((u) => u.key === key.replace('.vhd', '.qcow2'))).toHaveLength(1);
      await afterExpiry();
      lines.length = 0;
      const r = await convertObjectEvent(eventFor(key), deps());
      expect(r).toMatchObject({ outcome: 'converted', outputKey: key.replace('.vhd', '.qcow2') });
      expect(openUploads()).toEqual([]);
      if (step !== 'after-claim') expect(lines.some((l) => l.includes('"multipart-aborted"'))).toBe(true);
      expect(conversionRecord(key)).toMatchObject({ state: 'converted', generation: 1, outputEtag: r.outputEtag });
      expect(output(key)?.etag).toBe(r.outputEtag);
    });
  }

  it('killed after the output was complete but before it was recorded: adopted, never written again', async () => {
    const key = 'images/ubuntu/22.04/crash-after-output.vhd';
    stack.oss.seedObject('ens-images', key, vhd);
    await crashAt('after-output', key);
    const written = output(key)!;
    await afterExpiry();
    const r = await convertObjectEvent(eventFor(key), deps());
    expect(r).toMatchObject({ outcome: 'converted', outputEtag: written.etag, sourceRequests: 0 });
    expect(output(key)!.lastModified).toEqual(written.lastModified);
    expect(conversionRecord(key).history.at(-1)).toMatchObject({ state: 'converted', note: 'output found complete' });
  });

  it('a redelivery of a converted version is a duplicate: nothing read, nothing written', async () => {
    const key = 'images/ubuntu/22.04/redelivered.vhd';
    stack.oss.seedObject('ens-images', key, vhd);
    const first = await convertObjectEvent(eventFor(key), deps());
    const again = await convertObjectEvent(eventFor(key), deps());
    expect(first.outcome).toBe('converted');
    expect(again).toMatchObject({ outcome: 'duplicate', outputKey: first.outputKey, outputEtag: first.outputEtag });
    expect(output(key)!.etag).toBe(first.outputEtag);
  });

  it('two deliveries at once: one converts, the other waits and finds it done', async () => {
    const key = 'images/ubuntu/22.04/concurrent.vhd';
    stack.oss.seedObject('ens-images', key, vhd);
    const both = await Promise.all([convertObjectEvent(eventFor(key), deps()), convertObjectEvent(eventFor(key), deps())]);
    expect(both.map((r) => r.outcome).sort()).toEqual(['converted', 'duplicate']);
    expect(openUploads()).toEqual([]);
  });

  it('an output key someone else wrote is never overwritten: rejected convert-output-exists', async () => {
    const key = 'images/ubuntu/22.04/taken.vhd';
    stack.oss.seedObject('ens-images', key, vhd);
    const theirs = stack.oss.seedObject('ens-images', 'images/ubuntu/22.04/taken.qcow2', Buffer.from('operator file'));
    const r = await convertObjectEvent(eventFor(key), deps());
    expect(r).toMatchObject({ outcome: 'rejected', errorCode: 'convert-output-exists' });
    expect(output(key)!.etag).toBe(theirs.etag);
    expect(openUploads()).toEqual([]);
  });

  it('a source too big for the time left is refused at once (convert-would-time-out): nothing uploaded, the reason on the object', async () => {
    const key = 'images/ubuntu/22.04/too-slow.vhd';
    stack.oss.seedObject('ens-images', key, vhd);
    const before = stack.oss.requestLog.length;
    // 1 MB/s: the VHD's bytes need longer than the 20 s this invocation has
    const config = readConverterConfig(
      { OSS_ENDPOINT: stack.endpoints.oss, IMPORTER_CONVERT_MARGIN_SECONDS: '0.2', IMPORTER_CONVERT_RATE_MBPS: '1' },
      process.cwd(),
    );
    const r = await convertObjectEvent(eventFor(key), deps({ config }));
    expect(r).toMatchObject({ outcome: 'failed', errorCode: 'convert-would-time-out', retryable: false });
    expect(r.reason).toMatch(/bytes at 1 MB\/s .* need about \d+ s; the function has \d+ s left: raise vars.converttimeout/);
    const requests = stack.oss.requestLog.slice(before);
    expect(requests.map((q) => q.operation)).not.toContain('InitiateMultipartUpload');
    // one read: the head (metadata and first bytes) every event starts with; the disk itself is never read
    expect(requests.filter((q) => q.operation === 'GetObject' && q.key === key)).toHaveLength(1);
    expect(output(key)).toBeUndefined();
    expect(stack.oss.peekObject('ens-images', key)!.tags).toMatchObject({ 'ens:status': 'failed', 'ens:error': 'convert-would-time-out' });
    expect(conversionRecord(key)).toMatchObject({ state: 'failed', errorCode: 'convert-would-time-out' });
  });

  it('a corrected upload of the same key replaces the qcow2 its earlier version made (and only that)', async () => {
    const key = 'images/ubuntu/22.04/corrected.vhd';
    stack.oss.seedObject('ens-images', key, vhd);
    const first = await convertObjectEvent(eventFor(key), deps());
    const corrected = Buffer.from(vhd);
    corrected.fill(9, 1 << 20, 2 << 20); // other data in the guest, same geometry
    stack.oss.seedObject('ens-images', key, corrected);
    const second = await convertObjectEvent({ ...eventFor(key), requestId: 'upload-2' }, deps());
    expect(second).toMatchObject({ outcome: 'converted' });
    expect(second.outputEtag).not.toBe(first.outputEtag);
    expect(output(key)!.etag).toBe(second.outputEtag);
    expect(output(key)!.meta['importer-source-etag']).toBe(stack.oss.peekObject('ens-images', key)!.etag);
  });

  it('the source overwritten mid-way: the old version ends superseded, its upload aborted', async () => {
    const key = 'images/ubuntu/22.04/overwritten.vhd';
    stack.oss.seedObject('ens-images', key, vhd);
    const event = eventFor(key);
    const r = await convertObjectEvent(
      event,
      deps({
        onStep: (s) => void (s === 'after-initiate' && stack.oss.seedObject('ens-images', key, Buffer.concat([vhd, Buffer.alloc(512)]))),
      }),
    );
    expect(r).toMatchObject({ outcome: 'skipped', errorCode: 'superseded' });
    expect(output(key)).toBeUndefined();
    expect(openUploads()).toEqual([]);
  });
});
