import { describe, expect, it } from 'vitest';
import { planImport } from '../../shared/core/plan';
import { builtInRules } from '../../shared/core/rules';

const plan = (meta: Record<string, string>) =>
  planImport({
    bucket: 'b',
    region: 'cn-beijing',
    key: 'images/ubuntu/22.04/web.qcow2',
    meta,
    rules: builtInRules(),
    rulesSource: 'built-in',
  });

describe('ens-import metadata', () => {
  it('reads skip and manifest in any case, with spaces around', () => {
    for (const v of ['skip', 'Skip', 'SKIP', ' skip '])
      expect(plan({ 'ens-import': v })).toMatchObject({ verdict: 'skip', errorCode: 'ens-import-skip' });
    for (const v of ['manifest', 'Manifest', 'MANIFEST'])
      expect(plan({ 'ens-import': v })).toMatchObject({ verdict: 'skip', errorCode: 'manifest-disk' });
  });

  it('refuses any other value, naming the allowed ones, instead of importing', () => {
    for (const v of ['no', 'false', 'skipp', '']) {
      const p = plan({ 'ens-import': v });
      expect(p.verdict, v).toBe('reject');
      if (p.verdict === 'reject') {
        expect(p.problems[0]).toMatchObject({ code: 'InvalidParameter.Metadata' });
        expect(p.problems[0]!.message).toMatch(/skip, manifest/);
      }
    }
  });
});

describe('rules that cannot hang the function', () => {
  it('matches a catastrophic-backtracking convention in linear time', async () => {
    const { parseRules, matchRule } = await import('../../shared/core/rules');
    const rules = parseRules(
      ['version: 1', 'rules:', '  - name: evil', "    match: { pattern: '^(a+)+$' }", "    convention: '^(?<imageName>(a|aa)+)+x$'"].join(
        '\n',
      ),
      'importer.yaml',
    );
    // With a backtracking engine either call would not return in the lifetime of the machine
    // (2^5000 paths); finishing at all, within the test timeout, is the proof.
    expect(matchRule(rules, `${'a'.repeat(5000)}b`)).toBeUndefined();
    const p = planImport({ bucket: 'b', region: 'cn-beijing', key: 'a'.repeat(5000), meta: {}, rules, rulesSource: 'importer.yaml' });
    expect(p).toMatchObject({ verdict: 'reject', rule: 'evil' });
  });
});

describe('rules-file errors an operator can act on', () => {
  const error = async (yaml: string): Promise<string> => {
    const { parseRules } = await import('../../shared/core/rules');
    try {
      parseRules(yaml, 'deploy/importer.yaml');
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it('names the file, the place, what was found and what is expected, with a did-you-mean', async () => {
    expect(await error('version: 1\nrulez: []\n')).toMatch(
      /deploy\/importer\.yaml: the file: unknown field "rulez" \(did you mean "rules"\?/,
    );
    expect(await error('version: 1\nrules:\n  - name: a\n    set: { platfrom: ubuntu }\n')).toMatch(
      /deploy\/importer\.yaml: rule "a", field set: unknown field "platfrom" \(did you mean "platform"\?/,
    );
    expect(await error('version: 1\nrules:\n  - name: a\n    set: { osVersion: 22.04 }\n')).toMatch(
      /rule "a", field set\.osVersion: found the number 22\.04, expected a string \(quote it/,
    );
    expect(await error('version: 1\nlimits: { maxVirtualSizeGiB: -1 }\n')).toMatch(
      /field limits\.maxVirtualSizeGiB: found -1, expected a number greater than 0/,
    );
    expect(await error('version: 1\nrules:\n  - name: a\n    skip: "yes"\n')).toMatch(
      /rule "a", field skip: found the string "yes", expected true or false/,
    );
  });
});

describe('redaction keeps prose', () => {
  it('"FC gave up" is not an Authorization header, "FC LTAIabc:sig=" is', async () => {
    const { redact } = await import('../../shared/core/redact');
    expect(redact('FC gave up after its retries', [])).toBe('FC gave up after its retries');
    expect(redact('Authorization: FC LTAIabc123:c2lnbmF0dXJl=', [])).not.toContain('c2lnbmF0dXJl');
    expect(redact('Authorization: OSS LTAIabc123:c2lnbmF0dXJl=', [])).not.toContain('c2lnbmF0dXJl');
  });
});
