import { spawn, type ChildProcess } from 'node:child_process';
import OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PORTS, PROJECT_ROOT } from '../../local/index';
import { buildFunctions } from '../../scripts/build';

let child: ChildProcess;
let output = '';

beforeAll(async () => {
  await buildFunctions();
  // free ports: the suite must pass while an operator's `npm start` holds the fixed ones
  child = spawn(process.execPath, ['bin/ens-importer.mjs', 'local', '--port', '0'], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const started = Date.now();
  while (!output.includes('Ctrl-C stops the stack')) {
    if (Date.now() - started > 60_000 || child.exitCode !== null) throw new Error(`npm start did not come up:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 90_000);
afterAll(() => {
  child?.kill('SIGTERM');
});

describe('the main command (npm start → ens-importer local)', () => {
  it('prints the endpoints and credentials, and shows an import and a rejection', () => {
    expect(output).toMatch(/OSS +http:\/\/127\.0\.0\.1:\d+ /);
    expect(output).toMatch(/ENS +http:\/\/127\.0\.0\.1:\d+ /);
    // without --port, `npm start` serves on the fixed ports the README lists
    expect(DEFAULT_PORTS).toEqual({ oss: 9100, ens: 9101, fc: 9102, webhook: 9103 });
    expect(output).toMatch(/AccessKeyId LTAI\w+ +AccessKeySecret \S+/);
    expect(output).toMatch(/outcome +imported/);
    expect(output).toMatch(/outcome +rejected +\(qcow2-backing-file\)/);
    // the story runs to its end: available, a VMDK converted and imported, a re-upload superseding
    expect(output).toMatch(/ens:status=available/);
    expect(output).toMatch(/appliance\.qcow2\n {3}outcome +imported/);
    expect(output).toMatch(/superseded images\/ubuntu\/22\.04\/web-server-1\.0\.qcow2 +\(superseded by m-/);
    // a copy-paste block points the CLI at the stack
    expect(output).toMatch(/export OSS_ENDPOINT=http:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/export ALIBABA_CLOUD_ACCESS_KEY_ID=LTAI\w+/);
  });

  it('ens-importer local --env prints the exports for the fixed-port stack', async () => {
    const { execFileSync } = await import('node:child_process');
    const printed = execFileSync(process.execPath, ['bin/ens-importer.mjs', 'local', '--env'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    const env = Object.fromEntries([...printed.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(env).toMatchObject({
      OSS_ENDPOINT: 'http://127.0.0.1:9100',
      ENS_ENDPOINT: 'http://127.0.0.1:9101',
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAIlocaldemokey',
    });
  });

  it('serves ali-oss: put and get an object, and the upload is imported', async () => {
    const id = /AccessKeyId (\S+)/.exec(output)![1]!;
    const secret = /AccessKeySecret (\S+)/.exec(output)![1]!;
    const client = new OSS({
      // as the README's example: a new account's bucket accepts only V4 signatures
      authorizationV4: true,
      region: 'oss-cn-beijing',
      bucket: 'ens-images',
      endpoint: /OSS +(http:\/\/127\.0\.0\.1:\d+)/.exec(output)![1]!,
      accessKeyId: id,
      accessKeySecret: secret,
    });
    await client.put('notes/hello.txt', Buffer.from('hello'));
    expect((await client.get('notes/hello.txt')).content.toString()).toBe('hello');
    const { gunzipSync } = await import('node:zlib');
    const { readFileSync } = await import('node:fs');
    await client.put('images/centos/7.9/mine.qcow2', gunzipSync(readFileSync(`${PROJECT_ROOT}/local/samples/ubuntu-server.qcow2.gz`)));
    const started = Date.now();
    while (!output.includes('"key":"images/centos/7.9/mine.qcow2"')) {
      if (Date.now() - started > 20_000) throw new Error(`no log line for the upload:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(output).toMatch(/"outcome":"imported"[^\n]*"key":"images\/centos\/7.9\/mine.qcow2"/);
  });
});
