import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../shared/core/manifest';
import { compileRules, RulesError } from '../../shared/core/rules';
import { createLogger } from '../../shared/runtime/logger';
import { readImportConfig } from '../../shared/runtime/config';
import { processObjectEvent } from '../../shared/import/pipeline';
import { VirtualClock } from '../helpers/virtual-clock';
import { World } from '../helpers/world';
import { fixture } from '../helpers/fixtures';

/**
 * What comes from outside, fuzzed: a rules file an operator wrote, a manifest anyone can
 * upload, and whole uploads (keys, metadata, bodies) through the pipeline. Only documented
 * errors; nothing written outside the state prefix and the tags of the objects the upload names.
 */

const runs = { numRuns: 300 };

describe('fuzzed input', () => {
  it('the rules loader returns rules or throws a RulesError, for any document', () => {
    const field = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }));
    const rule = fc.record(
      {
        name: fc.string(),
        match: fc.record(
          { prefix: field, suffix: field, pattern: fc.oneof(fc.string(), fc.constantFrom('(a+)+$', '(?<imageName>.+)', '[', '(?=x)')) },
          { requiredKeys: [] },
        ),
        convention: fc.string(),
        set: fc.dictionary(fc.string(), field),
        skip: field,
      },
      { requiredKeys: [] },
    );
    const doc = fc.oneof(
      fc.anything(),
      fc.record(
        {
          version: field,
          rules: fc.array(rule, { maxLength: 4 }),
          limits: fc.dictionary(fc.string(), field),
          defaults: fc.dictionary(fc.string(), field),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(doc, (d) => {
        try {
          compileRules(d);
        } catch (err) {
          expect(err).toBeInstanceOf(RulesError);
        }
      }),
      runs,
    );
  });

  it('the manifest parser answers ok or a reason, for any text', () => {
    const text = fc.oneof(
      fc.string(),
      fc.json(),
      fc
        .record({ disks: fc.array(fc.string(), { maxLength: 20 }), imageName: fc.string() }, { requiredKeys: [] })
        .map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(text, fc.string(), (t, key) => {
        const r = parseManifest(t, key);
        expect(typeof r.ok).toBe('boolean');
        if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
      }),
      runs,
    );
  });

  it('an upload of any key, metadata and body writes only state objects and the tags of what it names', async () => {
    const config = readImportConfig({}, process.cwd());
    const qcow2 = fixture('v3.qcow2');
    const key = fc.oneof(
      fc.constantFrom(
        'images/ubuntu/22.04/a.qcow2',
        'images/x.ens-image.json',
        'images/drafts/d.qcow2',
        'private/p.qcow2',
        '.ens-importer/claims/x.json',
      ),
      fc.string({ minLength: 1, maxLength: 60 }).map((s) => `images/${s}`),
    );
    const meta = fc.dictionary(
      fc.constantFrom('ens-image-name', 'ens-platform', 'ens-os-version', 'ens-import', 'ens-target-region', 'ens-bogus', 'owner'),
      fc.string({ maxLength: 20 }),
      { maxKeys: 4 },
    );
    const manifest = fc
      .record({
        disks: fc.array(fc.constantFrom('./a.qcow2', 'private/p.qcow2', '.ens-importer/x', 'images/ubuntu/22.04/a.qcow2', '../x'), {
          minLength: 1,
          maxLength: 3,
        }),
      })
      .map((m) => Buffer.from(JSON.stringify(m)));
    const body = fc.oneof(
      fc.constant(qcow2),
      fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
      manifest,
    );
    await fc.assert(
      fc.asyncProperty(key, meta, body, async (k, m, b) => {
        const clock = new VirtualClock();
        const world = new World(clock, 'ens-images');
        for (const other of ['private/p.qcow2', 'images/ubuntu/22.04/a.qcow2']) world.put(other, qcow2);
        const obj = world.put(k, b, m);
        const caller = { id: 'fuzz', deadline: clock.now() + 100_000, crashed: false };
        const run = processObjectEvent(
          {
            eventName: 'ObjectCreated:PutObject',
            region: 'cn-beijing',
            bucket: 'ens-images',
            key: k,
            etag: obj.etag,
            size: b.length,
            requestId: 'up-1',
          },
          {
            config,
            store: world.store(caller, caller.deadline),
            ens: world.ens(caller),
            log: createLogger(() => undefined, {}, []),
            requestId: 'fuzz',
            deadline: caller.deadline,
            clock,
          },
        );
        await clock.run();
        const result = await run;
        expect(['imported', 'duplicate', 'skipped', 'rejected']).toContain(result.outcome);
        for (const w of world.writes) {
          const allowed =
            w.key.startsWith(config.statePrefix) || (w.op === 'tags' && (w.key === k || w.key.startsWith(config.watchedPrefix)));
          expect(allowed, `${w.op} ${w.key} for an upload of ${k}`).toBe(true);
        }
        expect(world.writes.some((w) => w.key === 'private/p.qcow2')).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
