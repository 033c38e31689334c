import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../../local/index';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';

/**
 * Every `ens-importer` line in a code block of the README and docs/ runs as written against the
 * local stack, set up as those pages say (the README's upload, the bucket policy with real
 * UIDs): placeholders filled, comments dropped, exit 0. A page that shows a command the CLI
 * refuses fails here.
 */

const pages = ['README.md', ...readdirSync(resolve(PROJECT_ROOT, 'docs')).map((f) => `docs/${f}`)];

function documentedCommands(): { page: string; line: string; args: string[] }[] {
  const out: { page: string; line: string; args: string[] }[] = [];
  for (const page of pages) {
    let inBlock = false;
    const text = readFileSync(resolve(PROJECT_ROOT, page), 'utf8');
    // in running text, the spans that name a real object (the others are templates: <key>, oss://…)
    for (const m of text.matchAll(/`(?:npx )?ens-importer ((?:--version)|[^`]*oss:\/\/ens-images\/[^`]*)`/g))
      out.push({ page, line: m[0], args: m[1]!.split(/\s+/) });
    for (const raw of text.split('\n')) {
      if (raw.trim().startsWith('```')) inBlock = !inBlock;
      else if (inBlock) {
        const m = /^\s*(?:\$\s+)?(?:npx\s+)?ens-importer\s+(.*?)(?:\s+#.*)?$/.exec(raw);
        if (m) out.push({ page, line: raw.trim(), args: m[1]!.split(/\s+/) });
      }
    }
  }
  return out;
}

let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack({ retryBaseMs: 20 });
  const oss = ossClient(stack);
  // README "From upload to image": ossutil cp web.qcow2 oss://ens-images/images/ubuntu/22.04/web-server.qcow2
  await oss.put('images/ubuntu/22.04/web-server.qcow2', fixture('v3.qcow2'));
  await stack.settle();
  // docs/deployment.md: the bucket policy, with the uploaders' UIDs put in
  const policy = readFileSync(resolve(PROJECT_ROOT, 'deploy/bucket-policy.json'), 'utf8').replace(/UPLOADER_UID_\d/g, '1234567890123456');
  await oss.putBucketPolicy(stack.bucket, JSON.parse(policy));
});
afterAll(() => stack.stop());

const run = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
    execFile(
      process.execPath,
      [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), ...args],
      { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...stack.operatorEnv() }, timeout: 120_000 },
      (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );

describe('every ens-importer line in the README and docs', () => {
  const commands = documentedCommands();
  it('is found (the pages show the CLI)', () => {
    expect(commands.length).toBeGreaterThanOrEqual(7);
  });
  for (const c of commands)
    it(`${c.page}: ${c.line}`, async () => {
      const args = c.args.map((a) => a.replace('<uid>', stack.accountId));
      const r = await run(args);
      expect(r.stderr.match(/error: .*/)?.[0] ?? '', c.line).toBe('');
      expect(r.code, `${c.line}\n${r.stdout}`).toBe(0);
    });
  it('README: eval "$(npx ens-importer local --env)" prints the exports', async () => {
    expect(readFileSync(resolve(PROJECT_ROOT, 'README.md'), 'utf8')).toContain('eval "$(npx ens-importer local --env)"');
    const r = await run(['local', '--env']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^export OSS_ENDPOINT=http:\/\/127\.0\.0\.1:9100$/m);
  });
});
