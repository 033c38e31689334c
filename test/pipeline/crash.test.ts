import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { createEnsApi } from '../../shared/adapters/ens';
import { createObjectStore } from '../../shared/adapters/oss';
import { readImportConfig } from '../../shared/runtime/config';
import { createLogger } from '../../shared/runtime/logger';
import { processObjectEvent, type PipelineDeps } from '../../shared/import/pipeline';
import { fixture } from '../helpers/fixtures';
import { recordFor, stateKeys } from '../helpers/state';

let stack: LocalStack;
const lines: string[] = [];

beforeAll(async () => {
  stack = await startLocalStack({ sYaml: false, buckets: [{ name: 'ens-images' }] });
});
afterAll(() => stack.stop());

/** The pipeline with the real adapters against the local stack, as one invocation. */
function deps(overrides: Partial<PipelineDeps> = {}): PipelineDeps {
  const credentials = stack.credentials;
  return {
    config: readImportConfig({ OSS_ENDPOINT: stack.endpoints.oss, ENS_ENDPOINT: stack.endpoints.ens }, process.cwd()),
    store: createObjectStore({ region: 'cn-beijing', bucket: 'ens-images', endpoint: stack.endpoints.oss, credentials }),
    ens: createEnsApi(stack.endpoints.ens, credentials),
    log: createLogger((l) => lines.push(l), { requestId: overrides.requestId ?? 'r' }, [credentials.accessKeySecret]),
    requestId: `inv-${Math.random().toString(36).slice(2)}`,
    deadline: Date.now() + 20_000,
    ...overrides,
  };
}

/**
 * Run one invocation that dies at `step` as a killed instance would: nothing after it
 * runs, no cleanup. Its claim expires at its deadline (800 ms here), as a killed
 * holder's does at FC's timeout. Resolves once the step is reached.
 */
function crashAt(step: string, key: string): Promise<void> {
  return new Promise<void>((reached) => {
    void processObjectEvent(
      eventFor(key),
      deps({
        deadline: Date.now() + 800,
        onStep: (s) => {
          if (s !== step) return undefined;
          reached();
          return new Promise<void>(() => undefined);
        },
      }),
    );
  });
}

const eventFor = (key: string) => {
  const o = stack.oss.peekObject('ens-images', key)!;
  return { eventName: 'ObjectCreated:PutObject', region: 'cn-beijing', bucket: 'ens-images', key, etag: o.etag, size: o.size };
};
const imagesOf = (key: string) => stack.ens.listImages().filter((i) => i.params.OSSObject === key);
const pendingFor = (imageId: string) => stateKeys(stack, 'pending').filter((k) => k.includes(imageId));
const afterClaimExpiry = () => new Promise((r) => setTimeout(r, 900));

describe('crash points: the next delivery converges', () => {
  it('after the claim: the claim is taken over once it expires, and the object is imported once', async () => {
    const key = 'images/ubuntu/22.04/crash-claim.qcow2';
    stack.oss.seedObject('ens-images', key, fixture('v3.qcow2'));
    await crashAt('after-claim', key);
    expect(recordFor(stack, key)).toMatchObject({ state: 'claimed' });
    expect(imagesOf(key)).toHaveLength(0);
    // a delivery while the holder's deadline has not passed waits for it (the holder may have
    // failed without releasing), then takes the dead holder's claim over once it expires
    const r = await processObjectEvent(eventFor(key), deps());
    expect(r).toMatchObject({ outcome: 'imported' });
    expect(imagesOf(key)).toHaveLength(1);
    expect(recordFor(stack, key)).toMatchObject({ state: 'importing', generation: 1, imageId: r.imageId });
    expect(pendingFor(r.imageId!)).toHaveLength(1);
  });

  it('after ImportImage: the image the dead attempt made is adopted, not imported again', async () => {
    const key = 'images/ubuntu/22.04/crash-import.qcow2';
    stack.oss.seedObject('ens-images', key, fixture('v3.qcow2'));
    await crashAt('after-import', key);
    expect(imagesOf(key)).toHaveLength(1);
    expect(Object.keys(stack.oss.peekObject('ens-images', key)!.tags).length).toBe(0);
    await afterClaimExpiry();
    const r = await processObjectEvent(eventFor(key), deps());
    expect(r).toMatchObject({ outcome: 'imported', imageId: imagesOf(key)[0]!.imageId });
    expect(imagesOf(key)).toHaveLength(1);
    expect(stack.oss.peekObject('ens-images', key)!.tags).toEqual({
      'ens:image-id': r.imageId,
      'ens:status': 'importing',
    });
    expect(recordFor(stack, key)).toMatchObject({ state: 'importing', adopted: true });
    expect(lines.some((l) => l.includes('"event":"image-adopted"') && l.includes(key.split('/').pop()!))).toBe(true);
  });

  it('after the tags: the record and the pending entry are written by the next delivery, with no second import', async () => {
    const key = 'images/ubuntu/22.04/crash-tags.qcow2';
    stack.oss.seedObject('ens-images', key, fixture('v3.qcow2'));
    await crashAt('after-tags', key);
    if (process.env.DEBUG_LINES)
      console.log(
        'STATE',
        stack.oss.objectKeys('ens-images').filter((k) => k.startsWith('.ens')),
      );
    const imageId = imagesOf(key)[0]!.imageId;
    expect(stack.oss.peekObject('ens-images', key)!.tags['ens:image-id']).toBe(imageId);
    // the pending entry came first: it names the ImageId durably
    expect(pendingFor(imageId)).toHaveLength(1);
    await afterClaimExpiry();
    const r = await processObjectEvent(eventFor(key), deps());
    expect(r).toMatchObject({ outcome: 'imported', imageId });
    expect(imagesOf(key)).toHaveLength(1);
    expect(pendingFor(imageId)).toHaveLength(1);
    // and a delivery after that is a plain duplicate
    expect(await processObjectEvent(eventFor(key), deps())).toMatchObject({ outcome: 'duplicate', imageId });
  });

  it('a timed-out ImportImage whose image appears later is adopted instead of imported twice', async () => {
    const key = 'images/ubuntu/22.04/lost-answer.qcow2';
    stack.oss.seedObject('ens-images', key, fixture('v3.qcow2'));
    stack.ens.faults.inject('ImportImage', { latencyMs: 700, times: 1 });
    const config = { ...deps().config, ensTimeoutMs: 400 };
    const r = await processObjectEvent(eventFor(key), deps({ config }));
    expect(r).toMatchObject({ outcome: 'imported' });
    expect(imagesOf(key)).toHaveLength(1);
    expect(r.imageId).toBe(imagesOf(key)[0]!.imageId);
  });
});
afterAll(() => {
  if (process.env.DEBUG_LINES) console.log(lines.join('\n'));
});
