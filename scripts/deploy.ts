import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * `npm run deploy`: `s deploy` with the state HMAC key in its environment (s.yaml reads it
 * with ${env('IMPORTER_STATE_KEY')}). The key is made once, kept in `.state-key` (git-ignored,
 * readable by its owner only) and reused, so records written before a redeploy still verify.
 * An IMPORTER_STATE_KEY already in the environment (a CI secret) wins.
 */

const root = resolve(import.meta.dirname, '..');
const keyFile = resolve(root, '.state-key');

function stateKey(): string {
  if (process.env.IMPORTER_STATE_KEY) return process.env.IMPORTER_STATE_KEY;
  if (existsSync(keyFile)) return readFileSync(keyFile, 'utf8').trim();
  const key = randomBytes(32).toString('base64url');
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  console.error(`made the state key in ${keyFile}: keep it (ens-importer needs it as IMPORTER_STATE_KEY)`);
  return key;
}

const r = spawnSync('npx', ['s', 'deploy', '-y', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, IMPORTER_STATE_KEY: stateKey() },
});
process.exitCode = r.status ?? 1;
