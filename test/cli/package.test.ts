import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../../local/index';
import { fixture } from '../helpers/fixtures';

/**
 * The CLI as an operator installs it: `npm pack`, then `npm install -g` of the tarball with
 * production dependencies only. It runs from its bundle (no TypeScript, no dev dependencies).
 * Its start time and memory are a bench figure (npm run bench), not a threshold here.
 */

let stack: LocalStack;
let bin: string;
let work: string;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ens-importer-pkg-'));
  execFileSync('npm', ['pack', '--pack-destination', work], { cwd: PROJECT_ROOT, stdio: 'pipe' });
  const tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
  const prefix = join(work, 'global');
  execFileSync('npm', ['install', '-g', '--prefix', prefix, tarball, '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: work,
    stdio: 'pipe',
  });
  bin = join(prefix, 'bin', 'ens-importer');
  stack = await startLocalStack({ retryBaseMs: 20 });
}, 300_000);
afterAll(() => stack?.stop());

const run = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
    execFile(bin, args, { cwd: work, env: { PATH: process.env.PATH, HOME: work, ...stack.operatorEnv() } }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );

describe('the installed package', () => {
  it('carries the bundle and no sources, and answers --version and --help', async () => {
    const files = execFileSync('tar', ['-tzf', join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!)], { encoding: 'utf8' });
    expect(files).toMatch(/package\/dist\/cli\/ens-importer\.mjs/);
    expect(files).not.toMatch(/\.ts\n/);
    const version = await run(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const help = await run(['--help']);
    expect(help.stdout).toMatch(/status \[options\] <url>/);
  });

  it('works against a bucket (status, why), and says the local stack lives in a clone', async () => {
    await (await import('../helpers/clients')).ossClient(stack).put('images/ubuntu/22.04/pkg.qcow2', fixture('v3.qcow2'));
    await stack.settle();
    const status = await run(['status', `oss://${stack.bucket}/images/`, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).objects).toEqual(
      expect.arrayContaining([expect.objectContaining({ key: 'images/ubuntu/22.04/pkg.qcow2', status: 'importing' })]),
    );
    const why = await run(['why', `oss://${stack.bucket}/images/ubuntu/22.04/pkg.qcow2`]);
    expect(why.stdout).toMatch(/import record \(attempt 1\): importing/);
    const local = await run(['local', '--env']);
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(/runs from a clone/);
  });
});
