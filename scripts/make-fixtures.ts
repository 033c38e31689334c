// Makes the qcow2 fixtures the tests use, with the real qemu-img (Debian: qemu-utils).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURE_DIR = join(root, 'test/fixtures/generated');
const STAMP = join(FIXTURE_DIR, '.complete-v2');

/**
 * qemu-img, tried up to three times: making a LUKS image times its key derivation against the
 * CPU clock, and on a busy machine it can fail with "Unable to get accurate CPU usage".
 */
function qemuImg(args: string[], cwd: string): void {
  for (let attempt = 1; ; attempt++) {
    try {
      execFileSync('qemu-img', args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
      return;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

const hasQemuImg = (): boolean => {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** On a fresh Debian machine as root, install qemu-utils; elsewhere say how. */
function ensureQemuImg(): void {
  if (hasQemuImg()) return;
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    console.log('qemu-img is missing: installing Debian package qemu-utils…');
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', 'qemu-utils'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (hasQemuImg()) return;
  }
  throw new Error('qemu-img is missing: install it (Debian/Ubuntu: apt-get install -y qemu-utils; macOS: brew install qemu)');
}

export function makeFixtures(): string {
  if (existsSync(STAMP)) return FIXTURE_DIR;
  ensureQemuImg();
  const tmp = `${FIXTURE_DIR}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  qemuImg(['create', '-q', '-f', 'qcow2', 'v3.qcow2', '1G'], tmp);
  qemuImg(['create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', 'v2.qcow2', '1G'], tmp);
  qemuImg(['create', '-q', '-f', 'qcow2', '-b', 'v3.qcow2', '-F', 'qcow2', 'backing-file.qcow2'], tmp);
  qemuImg(['create', '-q', '-f', 'qcow2', '-o', 'data_file=external.raw', 'data-file.qcow2', '64M'], tmp);
  rmSync(join(tmp, 'external.raw'));
  qemuImg(
    [
      'create',
      '-q',
      '-f',
      'qcow2',
      '--object',
      'secret,id=sec0,data=fixture-secret',
      '-o',
      'encrypt.format=luks,encrypt.key-secret=sec0',
      'luks.qcow2',
      '64M',
    ],
    tmp,
  );
  qemuImg(['create', '-q', '-f', 'qcow2', 'huge.qcow2', '4T'], tmp);
  // incompatible features newer than qcow2 v3 itself (qemu 5.1 and 5.2), and an internal snapshot
  qemuImg(['create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', 'zstd.qcow2', '64M'], tmp);
  qemuImg(['create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on', 'extended-l2.qcow2', '64M'], tmp);
  qemuImg(['create', '-q', '-f', 'qcow2', 'snapshot.qcow2', '64M'], tmp);
  qemuImg(['snapshot', '-c', 'before-upgrade', 'snapshot.qcow2'], tmp);
  qemuImg(['create', '-q', '-f', 'raw', 'raw-disk.qcow2', '1M'], tmp);
  // A raw disk that is not all zeros: an MBR boot signature, as a real raw disk has.
  const raw = readFileSync(join(tmp, 'raw-disk.qcow2'));
  raw[510] = 0x55;
  raw[511] = 0xaa;
  writeFileSync(join(tmp, 'raw-disk.qcow2'), raw);
  writeFileSync(join(tmp, 'truncated.qcow2'), readFileSync(join(tmp, 'v3.qcow2')).subarray(0, 48));
  writeFileSync(join(tmp, 'empty.qcow2'), Buffer.alloc(0));
  writeFileSync(join(tmp, '.complete-v2'), new Date().toISOString());
  rmSync(FIXTURE_DIR, { recursive: true, force: true });
  renameSync(tmp, FIXTURE_DIR);
  return FIXTURE_DIR;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(`qcow2 fixtures in ${makeFixtures()}`);
}
