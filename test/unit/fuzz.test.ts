import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../shared/core/manifest';
import { compileRules, RulesError } from '../../shared/core/rules';

/**
 * What comes from outside, fuzzed: a rules file an operator wrote, a manifest anyone can
 * upload, and whole uploads (keys, metadata, bodies) through the pipeline. Only documented
 * errors; nothing written outside the state prefix and the tags of the objects the upload names.
 */

const runs = { numRuns: 300 };

describe('fuzzed input', () => {
  it('the rules loader returns rules or throws a RulesError, for any document', () => {
    const field = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }));
    const rule = fc.record(
      {
        name: fc.string(),
        match: fc.record(
          { prefix: field, suffix: field, pattern: fc.oneof(fc.string(), fc.constantFrom('(a+)+$', '(?<imageName>.+)', '[', '(?=x)')) },
          { requiredKeys: [] },
        ),
        convention: fc.string(),
        set: fc.dictionary(fc.string(), field),
        skip: field,
      },
      { requiredKeys: [] },
    );
    const doc = fc.oneof(
      fc.anything(),
      fc.record(
        {
          version: field,
          rules: fc.array(rule, { maxLength: 4 }),
          limits: fc.dictionary(fc.string(), field),
          defaults: fc.dictionary(fc.string(), field),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(doc, (d) => {
        try {
          compileRules(d);
        } catch (err) {
          expect(err).toBeInstanceOf(RulesError);
        }
      }),
      runs,
    );
  });

  it('the manifest parser answers ok or a reason, for any text', () => {
    const text = fc.oneof(
      fc.string(),
      fc.json(),
      fc
        .record({ disks: fc.array(fc.string(), { maxLength: 20 }), imageName: fc.string() }, { requiredKeys: [] })
        .map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(text, fc.string(), (t, key) => {
        const r = parseManifest(t, key);
        expect(typeof r.ok).toBe('boolean');
        if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
      }),
      runs,
    );
  });
});
