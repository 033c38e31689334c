import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/runtime/logger';
import { readImportConfig } from '../../shared/runtime/config';
import { processObjectEvent } from '../../shared/import/pipeline';
import { VirtualClock } from '../helpers/virtual-clock';
import { World } from '../helpers/world';
import { fixture } from '../helpers/fixtures';

/** Any upload, with a real qcow2 made by qemu-img among the bodies, through the pipeline in the in-memory world. */

describe('fuzzed uploads', () => {
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
