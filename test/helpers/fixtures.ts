import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURE_DIR, makeFixtures } from '../../scripts/make-fixtures';

/** qcow2 files made by qemu-img (scripts/make-fixtures.ts). */
export function fixture(name: string): Buffer {
  makeFixtures();
  return readFileSync(join(FIXTURE_DIR, name));
}
