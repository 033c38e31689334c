import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../../local/index';
import { buildFunctions } from '../../scripts/build';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';

/**
 * The README's SLS queries, run in spirit against lines the FC stand-in captured (it
 * prefixes console and context.logger lines as FC does): each query's filter words find
 * lines whose `message` parses as JSON and holds every field the query extracts.
 */

const operations = readFileSync(resolve(PROJECT_ROOT, 'docs/operations.md'), 'utf8');
const block = /<!-- sls-queries -->\s*```\n([\s\S]*?)```/.exec(operations)?.[1] ?? '';
const docQueries = block.split('\n').filter((l) => l.startsWith('*'));
const json = (p: string) => JSON.parse(readFileSync(resolve(PROJECT_ROOT, p), 'utf8'));
const dashboardQueries = (json('deploy/sls/dashboard.json').charts as { search: { query: string } }[]).map((c) => c.search.query);
const alertFiles = readdirSync(resolve(PROJECT_ROOT, 'deploy/sls/alerts'));
const alertQueries = alertFiles.flatMap((f) =>
  (json(`deploy/sls/alerts/${f}`).configuration.queryList as { query: string }[]).map((q) => q.query),
);
const queries = [...docQueries, ...dashboardQueries, ...alertQueries];

let stack: LocalStack;
beforeAll(async () => {
  // the deployed bundles: their loader writes the cold-start line
  await buildFunctions();
  stack = await startLocalStack({ functionCode: 'bundle' });
  const oss = ossClient(stack);
  for (const name of ['sls-good', 'sls-failing']) await oss.put(`images/ubuntu/22.04/${name}.qcow2`, fixture('v3.qcow2'));
  await oss.put('images/ubuntu/22.04/sls-bad.qcow2', fixture('raw-disk.qcow2'));
  await stack.settle();
  // a RAM refusal: a final failure (retryable false), as the import-failed alert counts them
  stack.ens.faults.inject('ImportImage', { status: 403, code: 'Forbidden.RAM', times: 1 });
  await oss.put('images/ubuntu/22.04/sls-denied.qcow2', fixture('v2.qcow2'));
  await stack.settle();
  const failing = stack.importResults().find((r) => r.key === 'images/ubuntu/22.04/sls-failing.qcow2') as unknown as { imageId: string };
  stack.ens.failImage(failing.imageId, 'Pack_failed');
  stack.ens.clock.advance(3_600_000);
  await stack.fc.invoke([...stack.fc.functions.keys()].find((n) => n.includes('track'))!, '{}');
});
afterAll(() => stack.stop());

describe("the README's SLS queries", () => {
  it('are there, and never use a select alias in WHERE (SLS refuses that)', () => {
    expect(docQueries.length).toBeGreaterThanOrEqual(4);
    expect(dashboardQueries.length).toBe(4);
    expect(alertQueries.length).toBe(alertFiles.length);
    expect(alertFiles.length).toBeGreaterThanOrEqual(4);
    for (const q of queries) {
      // `cast(x as bigint)` names a type, not an alias
      const aliases = [...q.matchAll(/\bas (\w+)(?!\s*\))/g)].map((m) => m[1]!);
      const where = /\bwhere\b(.*?)(\border by\b|\bgroup by\b|$)/.exec(q)?.[1] ?? '';
      for (const alias of aliases) expect(new RegExp(`\\b${alias}\\b`).test(where), `${q}: alias ${alias} in WHERE`).toBe(false);
    }
  });

  it('name the object and its error code in the failure alerts (one row each: fire_results)', () => {
    for (const f of ['import-failed.json', 'image-failed.json']) {
      const q = (json(`deploy/sls/alerts/${f}`).configuration.queryList as { query: string }[])[0]!.query;
      for (const field of ['bucket', 'key', 'errorCode']) expect(q, f).toContain(`json_extract_scalar(message, '$.${field}')`);
      expect(q, f).toMatch(/group by bucket, key, code/);
    }
  });

  it('find lines whose message is JSON with every field they extract', () => {
    const messages = stack.fc.logs.map((l) => l.message);
    for (const q of queries) {
      const words = [...q.matchAll(/message: "([^"]+)"/g)].map((m) => m[1]!);
      const fields = [...q.matchAll(/json_extract_scalar\(message, '\$\.([\w.]+)'\)/g)].map((m) => m[1]!);
      const candidates = messages
        .filter((m) => words.every((w) => m.includes(w)))
        .flatMap((m) => {
          try {
            return [JSON.parse(m) as Record<string, unknown>];
          } catch {
            return [];
          }
        });
      // a WHERE's equalities (`json_extract_scalar(message, '$.x') = 'v'`) must hold on that line too
      const equalities = [...q.matchAll(/json_extract_scalar\(message, '\$\.([\w.]+)'\) = '([^']*)'/g)].map((m) => [m[1]!, m[2]!]);
      expect(
        candidates.some((doc) => fields.every((f) => doc[f] !== undefined) && equalities.every(([f, v]) => String(doc[f!]) === v)),
        `no captured line answers: ${q}`,
      ).toBe(true);
    }
  });
});
