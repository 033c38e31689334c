import { describe, expect, it } from 'vitest';
import { imageNameProblem, makeValidImageName } from '../../shared/core/image-name';
import { decodeMetaValue } from '../../shared/core/metadata';
import { deriveParams, toApiParams } from '../../shared/core/derive-params';
import { builtInRules, matchRule, parseRules, RulesError } from '../../shared/core/rules';

const rules = parseRules(`
rules:
  - name: drafts
    match: { prefix: images/drafts/ }
    skip: true
  - name: web
    match: { prefix: images/web/, suffix: .qcow2 }
    convention: '^images/web/(?<imageName>[^/]+)-(?<osVersion>[\\d.]+)\\.qcow2$'
    set: { platform: ubuntu, targetRegion: ap-southeast-1 }
  - name: images
    match: { prefix: images/, suffix: .qcow2 }
`);
const derive = (key: string, meta: Record<string, string> = {}, region = 'cn-beijing') =>
  deriveParams({ bucket: 'b', bucketRegion: region, key, meta, rule: matchRule(rules, key)!, rules });

describe('parameter derivation', () => {
  it('reads platform, version and name from the built-in convention', () => {
    const d = derive('images/ubuntu/22.04/web.qcow2');
    expect(d.problems).toEqual([]);
    expect(toApiParams(d)).toEqual({
      ImageFormat: 'qcow2',
      ImageName: 'web',
      Platform: 'ubuntu',
      OSVersion: '22.04',
      OSType: 'linux',
      Architecture: 'x86_64',
      ComputeType: 'ens_vm',
      OSSRegion: 'cn-beijing',
      OSSBucket: 'b',
      OSSObject: 'images/ubuntu/22.04/web.qcow2',
    });
    expect(d.values.imageName).toEqual({ value: 'web', source: 'convention' });
    expect(d.values.computeType).toEqual({ value: 'ens_vm', source: 'default' });
  });

  it('puts metadata above the convention, the convention above the rule, the rule above defaults', () => {
    const d = derive('images/web/frontend-2.1.qcow2', { 'ens-os-version': '9' });
    expect(d.values.osVersion).toEqual({ value: '9', source: 'metadata' });
    expect(d.values.imageName).toEqual({ value: 'frontend', source: 'convention' });
    expect(d.values.platform).toEqual({ value: 'ubuntu', source: 'rule' });
    expect(d.values.targetRegion).toEqual({ value: 'ap-southeast-1', source: 'rule' });
    expect(d.problems).toEqual([]);
  });

  it('makes a derived name valid and records the original; refuses an explicit invalid one', () => {
    const d = derive('images/ubuntu/22.04/ubuntu-22.04.qcow2');
    expect(d.values.imageName).toEqual({ value: 'ubuntu-22-04', source: 'convention', original: 'ubuntu-22.04' });
    expect(d.nameFixes).toEqual([{ original: 'ubuntu-22.04', fixed: 'ubuntu-22-04' }]);
    const e = derive('images/ubuntu/22.04/x.qcow2', { 'ens-image-name': 'ubuntu-22.04' });
    expect(e.problems.map((p) => p.code)).toEqual(['InvalidParameter.ImageName']);
    expect(e.values.imageName!.value).toBe('ubuntu-22.04');
  });

  it.each([
    ['ens-platform', 'gentoo', 'InvalidParameter.Platform'],
    ['ens-os-type', 'windows', 'InvalidParameter.OSType'],
    ['ens-architecture', 'arm64', 'InvalidParameter.Architecture'],
    ['ens-compute-type', 'ens', 'InvalidParameter.ComputeType'],
    ['ens-target-region', 'us-east-1', 'InvalidParameter.TargetOSSRegionId'],
    ['ens-imagename', 'typo', 'InvalidParameter.Metadata'],
  ])('refuses metadata %s=%s with %s', (name, value, code) => {
    expect(derive('images/ubuntu/22.04/x.qcow2', { [name]: value }).problems.map((p) => p.code)).toContain(code);
  });

  it('refuses a bucket outside the allowed regions', () => {
    expect(derive('images/ubuntu/22.04/x.qcow2', {}, 'cn-hangzhou').problems.map((p) => p.code)).toEqual(['InvalidParameter.OSSRegion']);
  });

  it('asks for Platform and OSVersion when the key has too few segments', () => {
    const d = deriveParams({
      bucket: 'b',
      bucketRegion: 'cn-beijing',
      key: 'web.qcow2',
      meta: {},
      rule: builtInRules().rules[0]!,
      rules: builtInRules(),
    });
    expect(d.values.imageName!.value).toBe('web');
    expect(d.problems.map((p) => p.code).sort()).toEqual(['MissingParameter.OSVersion', 'MissingParameter.Platform']);
  });

  it('lower-cases a platform read from the key, never one given explicitly', () => {
    expect(derive('images/Ubuntu/22.04/x.qcow2').values.platform!.value).toBe('ubuntu');
    expect(derive('images/ubuntu/22.04/x.qcow2', { 'ens-platform': 'Ubuntu' }).problems.map((p) => p.code)).toEqual([
      'InvalidParameter.Platform',
    ]);
  });

  it('leaves absent optional parameters out of the request', () => {
    const params = toApiParams(derive('images/ubuntu/22.04/x.qcow2'));
    expect(params).not.toHaveProperty('TargetOSSRegionId');
    expect(params).not.toHaveProperty('LicenseType');
    expect(Object.values(params)).not.toContain('undefined');
  });
});

describe('rules file', () => {
  it('matches the first rule and honours skip', () => {
    expect(matchRule(rules, 'images/drafts/a.qcow2')!.name).toBe('drafts');
    expect(matchRule(rules, 'images/web/a-1.qcow2')!.name).toBe('web');
    expect(matchRule(rules, 'images/x/y/z.qcow2')!.name).toBe('images');
    expect(matchRule(rules, 'other/z.qcow2')).toBeUndefined();
  });

  it('names the rule and field of each problem', () => {
    const bad = (text: string) => {
      try {
        parseRules(text);
      } catch (err) {
        expect(err).toBeInstanceOf(RulesError);
        return (err as RulesError).problems.join('\n');
      }
      throw new Error('expected a RulesError');
    };
    expect(bad('rules:\n  - name: web\n    set: { platfrom: ubuntu }')).toMatch(/rule "web", field set/);
    expect(bad('rules:\n  - name: web\n    convention: "(?<colour>x)"')).toMatch(
      /rule "web", field convention: unknown capture group "colour"/,
    );
    expect(bad('rules:\n  - name: web\n    match: { pattern: "(" }')).toMatch(
      /rule "web", field match.pattern: not a valid regular expression/,
    );
    expect(bad('rules:\n  - name: a\n  - name: a')).toMatch(/rule "a": the name is used by another rule/);
    expect(bad('rules: [\n')).toMatch(/not valid YAML/);
    expect(bad('limits: { platforms: [] }')).toMatch(/field limits.platforms/);
  });

  it('uses the built-in default rule without a file', () => {
    expect(builtInRules().rules).toHaveLength(1);
    expect(matchRule(builtInRules(), 'anything/at/all.qcow2')!.name).toBe('default');
  });
});

describe('image names', () => {
  it.each([
    ['ubuntu-22.04', 'ubuntu-22-04'],
    ['22.04-server', 'img-22-04-server'],
    ['a', 'a-image'],
    ['web server (v2)', 'web-server-v2'],
    ['边缘 web+api', '边缘-web-api'],
    ['...', 'img'],
    ['x'.repeat(300), 'x'.repeat(128)],
    ['http://evil', 'http:-evil'],
  ])('%s → %s', (raw, fixed) => {
    expect(makeValidImageName(raw)).toBe(fixed);
    expect(imageNameProblem(makeValidImageName(raw))).toBeUndefined();
  });

  it('states what is wrong with an explicit name', () => {
    expect(imageNameProblem('my.image')).toMatch(/found "\."/);
    expect(imageNameProblem('1abc')).toMatch(/start with an ASCII letter/);
    expect(imageNameProblem('https://x')).toMatch(/http/);
    expect(imageNameProblem('中文镜像')).toBeUndefined();
    // a letter is an ASCII letter: ENS refuses café and сервер
    expect(imageNameProblem('café')).toMatch(/found "é"/);
    expect(imageNameProblem('сервер')).toMatch(/ASCII letter/);
    expect(makeValidImageName('сервер-web')).toBe('web');
  });
});

describe('metadata values', () => {
  it('decodes raw UTF-8 (latin1 in Node) and percent-encoding, and keeps plain text', () => {
    expect(decodeMetaValue(Buffer.from('边缘镜像', 'utf8').toString('latin1'))).toBe('边缘镜像');
    expect(decodeMetaValue(encodeURIComponent('边缘镜像'))).toBe('边缘镜像');
    expect(decodeMetaValue('ubuntu')).toBe('ubuntu');
    expect(decodeMetaValue('50%off')).toBe('50%off');
    expect(decodeMetaValue(' spaced ')).toBe('spaced');
  });
});
