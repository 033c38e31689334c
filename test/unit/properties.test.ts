import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseEventPayload } from '../../shared/core/event';
import { imageNameProblem, makeValidImageName } from '../../shared/core/image-name';
import { decodeMetaValue, decodeUserMeta } from '../../shared/core/metadata';
import { planImport } from '../../shared/core/plan';
import { builtInRules, parseRules } from '../../shared/core/rules';
import { mergeTags } from '../../shared/core/tags';

const rules = parseRules('rules:\n  - name: images\n    match: { prefix: images/, suffix: .qcow2 }\n');

/** Keys as operators make them: spaces, '+', '%', unicode, up to 1,023 bytes. */
const keySegment = fc.string({
  unit: fc.constantFrom(...'abcXYZ019 +%._-~()[]镜像边缘テスト😀é'.split(''), ...[...'abcXYZ019 +%._-'].map((c) => c)),
  minLength: 1,
  maxLength: 40,
});
const objectKey = fc
  .tuple(fc.array(keySegment, { minLength: 0, maxLength: 6 }), keySegment)
  .map(([dirs, base]) => `images/${[...dirs, base].join('/')}.qcow2`)
  .filter((k) => Buffer.byteLength(k) <= 1023);
const longKey = fc.integer({ min: 900, max: 1010 }).map((n) => `images/ubuntu/22.04/${'x'.repeat(n - 30)}.qcow2`);

describe('property: names derived from keys', () => {
  it('are always valid for ENS, whatever the key', () => {
    fc.assert(
      fc.property(fc.oneof(objectKey, longKey, fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 200 })), (raw) => {
        const name = makeValidImageName(raw);
        expect(imageNameProblem(name)).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  it('planning never throws and always ends in a verdict; an import always carries a valid ImageName', () => {
    const meta = fc.dictionary(
      fc.constantFrom(
        'ens-image-name',
        'ens-platform',
        'ens-os-version',
        'ens-os-type',
        'ens-architecture',
        'ens-target-region',
        'ens-import',
        'ens-typo',
        'owner',
      ),
      fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        fc.constantFrom('ubuntu', 'centos', 'linux', 'skip', '22.04', '%E9%95%9C%E5%83%8F'),
      ),
    );
    fc.assert(
      fc.property(fc.oneof(objectKey, longKey), meta, fc.constantFrom('cn-beijing', 'cn-hangzhou'), (key, m, region) => {
        for (const r of [rules, builtInRules()]) {
          const plan = planImport({ bucket: 'b', region, key, meta: decodeUserMeta(m), rules: r, rulesSource: 'test' });
          expect(['import', 'reject', 'skip']).toContain(plan.verdict);
          if (plan.verdict === 'import') {
            expect(imageNameProblem(plan.params.ImageName!)).toBeUndefined();
            expect(plan.params.OSSObject).toBe(key);
            expect(Object.values(plan.params).every((v) => typeof v === 'string' && v !== 'undefined')).toBe(true);
          }
          if (plan.verdict === 'reject') expect(plan.problems.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 1500 },
    );
  });
});

describe('property: metadata values', () => {
  it('decode without throwing, raw UTF-8 or percent-encoded alike', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
        const raw = Buffer.from(text, 'utf8').toString('latin1');
        expect(() => decodeMetaValue(raw)).not.toThrow();
        expect(() => decodeMetaValue(text)).not.toThrow();
        if (!/%[0-9a-f]{2}/i.test(text) && text === text.trim()) {
          expect(decodeMetaValue(raw)).toBe(text);
          expect(decodeMetaValue(encodeURIComponent(text))).toBe(text);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('property: OSS events of any shape', () => {
  it('never throw: a payload is either an OSS event list or a reason', () => {
    const eventLike = fc.record(
      {
        eventName: fc.oneof(
          fc.constantFrom('ObjectCreated:PutObject', 'ObjectCreated:UploadPart', 'oss:ObjectCreated:PutObject'),
          fc.string(),
        ),
        eventSource: fc.oneof(fc.constant('acs:oss'), fc.string()),
        region: fc.oneof(fc.constant('cn-beijing'), fc.string(), fc.integer()),
        oss: fc.oneof(
          fc.anything(),
          fc.record({
            bucket: fc.record({ name: fc.string() }),
            object: fc.record({ key: fc.string(), size: fc.oneof(fc.nat(), fc.double()), eTag: fc.string() }),
          }),
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({ events: fc.array(fc.oneof(eventLike, fc.anything()), { maxLength: 5 }) }),
          fc.string(),
          fc.uint8Array({ maxLength: 200 }),
        ),
        (input) => {
          const toParse = input instanceof Uint8Array ? Buffer.from(input) : input;
          const parsed = parseEventPayload(toParse);
          if (parsed.ok) {
            for (const e of parsed.entries)
              if (e.ok) expect(typeof e.event.key).toBe('string');
              else expect(typeof e.reason).toBe('string');
          } else expect(parsed.reason.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('property: tag merging', () => {
  it('never drops a user tag and never exceeds ten', () => {
    const userTags = fc.dictionary(
      fc.string({ minLength: 1, maxLength: 10 }).filter((k) => !k.startsWith('ens:')),
      fc.string({ maxLength: 10 }),
      { maxKeys: 10 },
    );
    fc.assert(
      fc.property(
        userTags,
        fc.option(fc.string({ minLength: 1, maxLength: 30 })),
        fc.constantFrom('importing', 'available', 'failed', 'rejected'),
        (user, id, status) => {
          const merged = mergeTags(user, { 'ens:image-id': id ?? undefined, 'ens:status': status });
          expect(Object.keys(merged.tags).length).toBeLessThanOrEqual(10);
          for (const [k, v] of Object.entries(user)) expect(merged.tags[k]).toBe(v);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
