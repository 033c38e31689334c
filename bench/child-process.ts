import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { resolve } from 'node:path';
import { PROJECT_ROOT } from '../local/index';

/** bench/child.cjs as a fresh process; resolves with its last JSON line. */
export function child(args: string[], env: Record<string, string>): Promise<any> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [resolve(PROJECT_ROOT, 'bench/child.cjs'), ...args],
      { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH, ...env }, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        if (err) fail(new Error(`${err.message}\n${stderr}`));
        else done(JSON.parse(stdout.trim().split('\n').pop()!));
      },
    );
  });
}

/** The NODE_OPTIONS s.yaml gives the functions. */
export function sYamlNodeOptions(): string {
  const doc = parseYaml(readFileSync(resolve(PROJECT_ROOT, 's.yaml'), 'utf8')) as { vars: { nodeoptions: string } };
  return doc.vars.nodeoptions;
}
