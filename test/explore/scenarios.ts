import { fixture } from '../helpers/fixtures';
import type { Scenario } from './explorer';

/** The uploads the explorer replays under every fault schedule. */

const image = (tag: string): Buffer => Buffer.concat([fixture('v3.qcow2'), Buffer.from(tag)]);
const MIN = 60_000;

export const SCENARIOS: Record<string, Scenario> = {
  'single upload': (s) => {
    const key = 'images/ubuntu/22.04/single.qcow2';
    const up = s.upload(key, image('single'), 0);
    s.deliver({ key, upload: up }, 1);
    s.expect.set(key, true);
  },
  'redelivered event': (s) => {
    const key = 'images/ubuntu/22.04/again.qcow2';
    const up = s.upload(key, image('again'), 0);
    s.deliver({ key, upload: up }, 1);
    s.deliver({ key, upload: up }, 40_000);
    s.expect.set(key, true);
  },
  'concurrent deliveries': (s) => {
    const key = 'images/ubuntu/22.04/twice.qcow2';
    const up = s.upload(key, image('twice'), 0);
    s.deliver({ key, upload: up }, 1);
    s.deliver({ key, upload: up }, 1);
    s.deliver({ key, upload: up }, 4);
    s.expect.set(key, true);
  },
  'same bytes uploaded again after the import': (s) => {
    const key = 'images/ubuntu/22.04/same.qcow2';
    const body = image('same');
    const first = s.upload(key, body, 0);
    s.deliver({ key, upload: first }, 1);
    const second = `${s.upload(key, body, 30 * MIN)}-b`;
    s.deliver({ key, upload: second }, 30 * MIN + 1);
    s.expect.set(key, true);
  },
  'overwritten with new bytes while importing': (s) => {
    const key = 'images/ubuntu/22.04/overwrite.qcow2';
    const v1 = s.upload(key, image('v1'), 0);
    s.deliver({ key, upload: v1 }, 1);
    const v2 = s.upload(key, image('v2'), 3_000);
    s.deliver({ key, upload: v2 }, 3_001);
    s.expect.set(key, true);
  },
  'a bad upload, and a bad one replaced by a good one': (s) => {
    const bad = 'images/ubuntu/22.04/raw-disk.qcow2';
    const up = s.upload(bad, Buffer.alloc(70_000, 1), 0);
    s.deliver({ key: bad, upload: up }, 1);
    s.expect.set(bad, false);
    const fixed = 'images/ubuntu/22.04/fixed.qcow2';
    const first = s.upload(fixed, Buffer.alloc(70_000, 2), 0);
    s.deliver({ key: fixed, upload: first }, 2);
    const good = s.upload(fixed, image('fixed'), 10 * MIN);
    s.deliver({ key: fixed, upload: good }, 10 * MIN + 1);
    s.expect.set(fixed, true);
  },
  'sixty older images of the same name (the adoption lookup pages to the end)': (s) => {
    const key = 'images/ubuntu/22.04/common.qcow2';
    // names: allow-duplicates, so the name stays "common" and the lookup must page past 60 of them
    s.names = 'allow-duplicates';
    s.world.seedImages('common', 60);
    const up = s.upload(key, image('common'), 0);
    s.deliver({ key, upload: up }, 1);
    s.expect.set(key, true);
  },
  'the account listing skips an image (pages shift between calls)': (s) => {
    const key = 'images/ubuntu/22.04/shifted.qcow2';
    s.world.seedImages('other', 120);
    // every image this scenario makes is left out of listings; asked for by id it is there
    const hide = () => {
      for (const i of s.world.images) if (!i.id.startsWith('m-old')) s.world.hiddenFromListing.add(i.id);
    };
    for (let t = 1; t < 4 * 3_600_000; t += 60_000) s.world.clock.at(s.world.clock.now() + t, hide);
    const up = s.upload(key, image('shifted'), 0);
    s.deliver({ key, upload: up }, 1);
    s.expect.set(key, true);
  },
  'an import ENS fails, then the same bytes uploaded again': (s) => {
    const key = 'images/ubuntu/22.04/packfail.qcow2';
    const body = image('packfail');
    s.world.failingNames.add('packfail');
    const first = s.upload(key, body, 0);
    s.deliver({ key, upload: first }, 1);
    // the operator fixes what made ENS fail and uploads the same file again
    const second = `${s.upload(key, body, 60 * MIN)}-b`;
    s.world.clock.at(s.world.clock.now() + 60 * MIN - 1, () => s.world.failingNames.clear());
    s.deliver({ key, upload: second }, 60 * MIN + 1);
    s.expect.set(key, true);
  },
  'ENS down through every FC retry: failed by the on-failure function, then an operator retry': (s) => {
    const key = 'images/ubuntu/22.04/outage.qcow2';
    s.world.ensDownUntil = s.world.clock.now() + 20 * MIN;
    const up = s.upload(key, image('outage'), 0);
    s.deliver({ key, upload: up }, 1);
    // FC redelivers the original event after it all: it must stay failed, not import
    s.deliver({ key, upload: up }, 30 * MIN);
    // `ens-importer retry`: the trigger's event with a new upload id
    s.deliver({ key, upload: `${up}-retry` }, 60 * MIN);
    s.expect.set(key, true);
    s.mustPass.push(`${key} failed`, `${key} duplicate`, `${key} imported`);
  },
  'an image deleted in ENS, then the same bytes uploaded again': (s) => {
    const key = 'images/ubuntu/22.04/deleted.qcow2';
    const body = image('deleted');
    const first = s.upload(key, body, 0);
    s.deliver({ key, upload: first }, 1);
    // available after ~10 minutes; an operator deletes the image in the console at 40
    s.world.deleteImagesOf(key, s.world.clock.now() + 40 * MIN);
    // the tracker says deleted within a pass; the operator uploads the same file again
    const second = `${s.upload(key, body, 70 * MIN)}-b`;
    s.deliver({ key, upload: second }, 70 * MIN + 1);
    s.expect.set(key, true);
  },
  'a corrected upload supersedes the first, whose image is deleted (previous: delete-after-available)': (s) => {
    const key = 'images/ubuntu/22.04/corrected.qcow2';
    s.previous = 'delete-after-available';
    const first = s.upload(key, image('first'), 0);
    s.deliver({ key, upload: first }, 1);
    // the first is available after ~10 minutes; the corrected file comes at 30
    const second = s.upload(key, image('second'), 30 * MIN);
    s.deliver({ key, upload: second }, 30 * MIN + 1);
    s.expect.set(key, true);
    s.olderGone.add(key);
  },
  'the first upload finishes in ENS after the corrected one, and is superseded then (previous: delete-after-available)': (s) => {
    const key = 'images/ubuntu/22.04/slow-first.qcow2';
    s.previous = 'delete-after-available';
    const start = s.world.clock.now();
    // the first file is the larger: ENS makes its image in 90 minutes, the corrected one's in 10
    s.world.importMinutesOf = (i) => (i.created < start + 20 * MIN ? 90 : 10);
    const first = s.upload(key, image('first'), 0);
    s.deliver({ key, upload: first }, 1);
    const second = s.upload(key, image('second'), 30 * MIN);
    s.deliver({ key, upload: second }, 30 * MIN + 1);
    s.expect.set(key, true);
    s.olderGone.add(key);
  },
  'two keys that derive one name (names: unique)': (s) => {
    const a = 'images/team-a/ubuntu/22.04/shared.qcow2';
    const b = 'images/team-b/ubuntu/22.04/shared.qcow2';
    s.deliver({ key: a, upload: s.upload(a, image('team-a'), 0) }, 1);
    s.deliver({ key: b, upload: s.upload(b, image('team-b'), 3 * MIN) }, 3 * MIN + 1);
    s.expect.set(a, true);
    s.expect.set(b, true);
  },
  'the object deleted (onDelete: delete-image) while a new upload of the key races the delete': (s) => {
    const key = 'images/ubuntu/22.04/raced.qcow2';
    s.onDelete = 'delete-image';
    s.deliver({ key, upload: s.upload(key, image('raced-1'), 0) }, 1);
    // available at ~10 minutes; deleted at 30, and uploaded again a second later
    s.remove(key, 30 * MIN);
    s.deliver({ key, upload: s.upload(key, image('raced-2'), 30 * MIN + 1_000) }, 30 * MIN + 1_001);
    s.expect.set(key, true);
  },
  'a raw disk named .img, handed to the converter': (s) => {
    const key = 'images/ubuntu/22.04/build.img';
    const up = s.upload(key, Buffer.alloc(70_000, 3), 0);
    s.deliver({ key, upload: up }, 1);
    s.deliver({ key, upload: up }, 40_000);
    s.handedOff.add(key);
    s.mustPass.push(`${key} skipped`);
  },
};
