import { describe, expect, it } from 'vitest';
import { EnsCallError, classifyEnsError } from '../../shared/adapters/ens';
import { parseEventPayload } from '../../shared/core/event';
import { createLogger } from '../../shared/runtime/logger';
import { redact } from '../../shared/core/redact';
import { RetriesExhaustedError, retryTransient } from '../../shared/core/retry';
import { mergeTags, tagValue } from '../../shared/core/tags';

describe('tag merging', () => {
  it('keeps user tags, sets the importer tags and removes stale ones', () => {
    expect(mergeTags({ team: 'edge', 'ens:error': 'old' }, { 'ens:image-id': 'm-1', 'ens:status': 'importing' })).toEqual({
      tags: { team: 'edge', 'ens:image-id': 'm-1', 'ens:status': 'importing' },
      left: [],
    });
  });
  it('never drops a user tag when the ten slots are full, and reports what was left out', () => {
    const user = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v']));
    expect(mergeTags(user, { 'ens:image-id': 'm-1', 'ens:status': 'importing' })).toEqual({
      tags: { ...user, 'ens:image-id': 'm-1' },
      left: ['ens:status'],
    });
    const ten = { ...user, k9: 'v' };
    expect(mergeTags(ten, { 'ens:status': 'rejected', 'ens:error': 'not-qcow2' })).toEqual({
      tags: ten,
      left: ['ens:status', 'ens:error'],
    });
  });
  it('makes values fit the tag character set', () => {
    expect(tagValue('InvalidParameter.ImageName')).toBe('InvalidParameter.ImageName');
    expect(tagValue('a,b;c')).toBe('a_b_c');
  });
});

describe('event parsing', () => {
  const event = {
    eventName: 'ObjectCreated:PutObject',
    eventSource: 'acs:oss',
    region: 'cn-beijing',
    oss: { bucket: { name: 'b' }, object: { key: 'k', size: 1, eTag: '"abc"' } },
  };
  it('accepts a Buffer, a string or an object and normalises the ETag', () => {
    for (const input of [Buffer.from(JSON.stringify({ events: [event] })), JSON.stringify({ events: [event] }), { events: [event] }]) {
      const p = parseEventPayload(input);
      expect(p.ok && p.entries[0]!.ok && p.entries[0]!.event).toMatchObject({ bucket: 'b', key: 'k', etag: 'ABC', region: 'cn-beijing' });
    }
  });
  it('reports why a payload or an entry is not an OSS event', () => {
    expect(parseEventPayload('{')).toMatchObject({ ok: false, reason: expect.stringMatching(/not valid JSON/) });
    expect(parseEventPayload({ events: [] })).toMatchObject({ ok: false });
    expect(parseEventPayload(42)).toMatchObject({ ok: false });
    const p = parseEventPayload({ events: [event, { eventName: 'x' }] });
    expect(p.ok && p.entries.map((e) => e.ok)).toEqual([true, false]);
  });
});

describe('redaction', () => {
  it('removes signed-URL parameters, credential fields and known secrets', () => {
    const text =
      'failed, URL: https://ens.aliyuncs.com/?AccessKeyId=STS.abc&Signature=xyz%3D&SecurityToken=CAIStoken&Action=ImportImage {"accessKeySecret":"s3cr3t"} mysecretvalue';
    const out = redact(text, ['mysecretvalue']);
    for (const s of ['STS.abc', 'xyz%3D', 'CAIStoken', 's3cr3t', 'mysecretvalue']) expect(out).not.toContain(s);
    expect(out).toContain('Action=ImportImage');
  });
  it('is applied to every log line', () => {
    const lines: string[] = [];
    const log = createLogger((l) => lines.push(l), { requestId: 'r' }, ['TOPSECRET']);
    log.error({ reason: 'boom TOPSECRET', nested: { token: 'TOPSECRET' } });
    expect(lines[0]).not.toContain('TOPSECRET');
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'error', requestId: 'r' });
  });
});

describe('ENS error classification', () => {
  const popError = (code: string) =>
    Object.assign(new Error(`msg, URL: https://x/?SecurityToken=T`), { code, data: { RequestId: 'R', Message: 'msg' } });
  it.each([
    ['Throttling.User', true],
    ['InternalError', true],
    ['ServiceUnavailable', true],
    ['InvalidParameter.ImageName', false],
    ['MissingParameter.OSSObject', false],
    ['NoPermission', false],
    ['Forbidden.RAM', false],
  ])('%s → transient %s', (code, transient) => {
    const e = classifyEnsError(popError(code), []);
    expect(e).toMatchObject({ code, transient, requestId: 'R' });
    expect(e.message).not.toContain('SecurityToken');
  });
  it('treats non-JSON bodies, timeouts and resets as transient', () => {
    expect(classifyEnsError({ name: 'SyntaxError', message: 'Unexpected token <' }, [])).toMatchObject({
      code: 'NonJsonResponse',
      transient: true,
    });
    expect(classifyEnsError(Object.assign(new Error('ReadTimeout'), { name: 'RequestTimeoutError' }), [])).toMatchObject({
      code: 'RequestTimeout',
      transient: true,
    });
    expect(classifyEnsError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), [])).toMatchObject({
      code: 'ECONNRESET',
      transient: true,
    });
  });
});

describe('retry with backoff and full jitter', () => {
  it('retries transient errors with growing delays, then succeeds', async () => {
    let clock = 0;
    const delays: number[] = [];
    let calls = 0;
    const r = await retryTransient(
      async () => {
        if (++calls < 4) throw new EnsCallError('Throttling', 't', true);
        return 'ok';
      },
      (e) => e instanceof EnsCallError && e.transient,
      {
        deadline: 100_000,
        baseMs: 100,
        random: () => 0.999,
        now: () => clock,
        sleep: async (ms) => {
          delays.push(ms);
          clock += ms;
        },
      },
    );
    expect(r).toEqual({ value: 'ok', attempts: 4 });
    expect(delays).toEqual([99, 199, 399]);
  });
  it('rethrows a permanent error at once and gives up at the deadline', async () => {
    const permanent = new EnsCallError('InvalidParameter.X', 'p', false);
    await expect(
      retryTransient(
        async () => {
          throw permanent;
        },
        () => false,
        { deadline: 1e12 },
      ),
    ).rejects.toBe(permanent);
    let clock = 0;
    await expect(
      retryTransient(
        async () => {
          throw new EnsCallError('InternalError', 'i', true);
        },
        () => true,
        {
          deadline: 1000,
          baseMs: 300,
          random: () => 0.99,
          now: () => clock,
          sleep: async (ms) => {
            clock += ms;
          },
        },
      ),
    ).rejects.toBeInstanceOf(RetriesExhaustedError);
  });
});

describe('disk format sniffing', () => {
  it('knows each signature, and calls anything else raw', async () => {
    const { sniffDiskFormat, formatOfKey } = await import('../../shared/core/disk-format');
    const at = (text: string, offset = 0) => {
      const b = Buffer.alloc(1024);
      b.write(text, offset, 'latin1');
      return b;
    };
    expect(sniffDiskFormat(at('QFI\xfb'))).toBe('qcow2');
    expect(sniffDiskFormat(at('KDMV'))).toBe('vmdk');
    expect(sniffDiskFormat(at('# Disk DescriptorFile'))).toBe('vmdk');
    expect(sniffDiskFormat(at('vhdxfile'))).toBe('vhdx');
    expect(sniffDiskFormat(at('conectix'))).toBe('vhd');
    expect(sniffDiskFormat(at('ustar', 257))).toBe('ova');
    expect(sniffDiskFormat(at(''))).toBe('raw');
    expect(sniffDiskFormat(Buffer.alloc(3))).toBe('raw');
    expect(formatOfKey('a/b.QCOW2')).toBe('qcow2');
    expect(formatOfKey('a/b.img')).toBe('sniff');
    expect(formatOfKey('a/b.vhdx')).toBe('vhdx');
    expect(formatOfKey('a/b.iso')).toBeUndefined();
  });
});

describe('the ImportImage pacer', () => {
  it('spaces one instance’s calls by instances/qps seconds, starts at a random phase, never waits past the deadline', async () => {
    const { Pacer, pacingIntervalMs } = await import('../../shared/core/pacer');
    expect(pacingIntervalMs(10, 20)).toBe(2_000);
    expect(pacingIntervalMs(0, 20)).toBe(0);
    expect(pacingIntervalMs(10, 0)).toBe(0);
    let now = 1_000_000;
    const slept: number[] = [];
    const sleep = async (ms: number) => {
      slept.push(ms);
      now += ms;
    };
    const clock = { now: () => now, random: () => 0.5, sleep };
    const pacer = new Pacer(2_000, clock as never);
    await pacer.slot(now + 60_000); // first: half an interval in
    await pacer.slot(now + 60_000);
    now += 5_000; // idle for a while: the next call need not wait
    await pacer.slot(now + 60_000);
    await pacer.slot(now + 500); // the deadline is nearer than the slot: wait only until it
    expect(slept).toEqual([1_000, 2_000, 500]);
  });
});
