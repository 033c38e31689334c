import { describe, expect, it } from 'vitest';
import type { ImporterImage } from '../../bin/commands/images';
import { prunePlan } from '../../bin/commands/prune';

/** What `ens-importer prune` would delete: earlier versions only, never a current one. */

const DAY = 86_400_000;
const now = Date.parse('2026-12-04T12:00:00Z');
const image = (key: string, n: number, daysAgo: number, extra: Partial<ImporterImage> = {}): ImporterImage => ({
  imageId: `m-${key.replace(/\W/g, '')}${n}`,
  key,
  etag: `E${n}`,
  state: 'superseded',
  current: false,
  importedAt: new Date(now - daysAgo * DAY).toISOString(),
  ...extra,
});

describe('the prune plan', () => {
  const images = [
    image('a.qcow2', 1, 40),
    image('a.qcow2', 2, 20),
    image('a.qcow2', 3, 10),
    image('a.qcow2', 4, 1, { state: 'available', current: true }),
    image('b.qcow2', 1, 50, { state: 'importing' }),
    image('b.qcow2', 2, 2, { state: 'available', current: true }),
  ];

  it('keeps the newest n earlier versions per key', () => {
    expect(prunePlan(images, { keep: 1 }, now).map((i) => i.imageId)).toEqual(['m-aqcow22', 'm-aqcow21']);
    expect(prunePlan(images, { keep: 0 }, now).map((i) => i.imageId)).toEqual(['m-aqcow23', 'm-aqcow22', 'm-aqcow21']);
  });

  it('deletes what is older than a duration', () => {
    expect(prunePlan(images, { olderThanMs: 15 * DAY }, now).map((i) => i.imageId)).toEqual(['m-aqcow22', 'm-aqcow21']);
  });

  it('never plans a current version, nor one still importing', () => {
    const plan = prunePlan(images, { keep: 0, olderThanMs: 0 }, now);
    expect(plan.some((i) => i.current || i.state === 'importing')).toBe(false);
  });
});
