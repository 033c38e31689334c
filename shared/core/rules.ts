import { parse as parseYaml } from 'yaml';
import * as z from 'zod/mini';
import { PARAM_FIELDS, type ParamField } from './param-fields';

/**
 * The rules file (`importer.yaml`): which keys are imported, how a key is read
 * (naming convention), fixed values per rule, global defaults and limits.
 */

/** The built-in convention: the last three path segments `<platform>/<os-version>/<image-name>.qcow2`. */
export const BUILT_IN_CONVENTION = '(?:^|/)(?<platform>[^/]+)/(?<osVersion>[^/]+)/(?<imageName>[^/]+?)(?:\\.qcow2)?$';

const nonEmpty = () => z.string().check(z.minLength(1));
const fieldValues = z.strictObject(
  Object.fromEntries(PARAM_FIELDS.map((f) => [f, z.optional(nonEmpty())])) as Record<ParamField, z.ZodMiniOptional<z.ZodMiniString>>,
);

const ruleSchema = z.strictObject({
  name: nonEmpty(),
  match: z._default(
    z.strictObject({ prefix: z.optional(z.string()), suffix: z.optional(z.string()), pattern: z.optional(z.string()) }),
    {},
  ),
  convention: z.optional(z.string()),
  set: z._default(fieldValues, {}),
  skip: z._default(z.boolean(), false),
});

const DEFAULT_LIMITS = {
  allowedOssRegions: ['cn-beijing'],
  platforms: ['centos', 'ubuntu'],
  maxVirtualSizeGiB: 2048,
  allowQcow2Features: [] as ('compression-type' | 'extended-l2')[],
};

const rulesFileSchema = z.strictObject({
  version: z._default(z.literal(1), 1),
  limits: z._default(
    z.strictObject({
      allowedOssRegions: z._default(z.array(nonEmpty()).check(z.minLength(1)), DEFAULT_LIMITS.allowedOssRegions),
      platforms: z._default(z.array(nonEmpty()).check(z.minLength(1)), DEFAULT_LIMITS.platforms),
      maxVirtualSizeGiB: z._default(z.number().check(z.gt(0)), DEFAULT_LIMITS.maxVirtualSizeGiB),
      // qcow2 features newer than v3 itself that ENS's qemu is trusted to read
      allowQcow2Features: z._default(z.array(z.enum(['compression-type', 'extended-l2'])), DEFAULT_LIMITS.allowQcow2Features),
    }),
    DEFAULT_LIMITS,
  ),
  defaults: z._default(fieldValues, {}),
  rules: z._default(z.array(ruleSchema).check(z.minLength(1)), [{ name: 'default', match: {}, set: {}, skip: false }]),
});

export type RulesFile = z.infer<typeof rulesFileSchema>;

export interface CompiledRule {
  name: string;
  prefix?: string;
  suffix?: string;
  pattern?: RegExp;
  convention: RegExp;
  set: Partial<Record<ParamField, string>>;
  skip: boolean;
}

export interface Rules {
  limits: RulesFile['limits'];
  defaults: Partial<Record<ParamField, string>>;
  rules: CompiledRule[];
}

export class RulesError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid rules file:\n  - ${problems.join('\n  - ')}`);
  }
}

function describePath(doc: unknown, path: PropertyKey[]): string {
  if (path[0] === 'rules' && typeof path[1] === 'number') {
    const rule = (doc as { rules?: { name?: unknown }[] })?.rules?.[path[1]];
    const name = typeof rule?.name === 'string' ? `rule "${rule.name}"` : `rule #${path[1] + 1}`;
    const field = path.slice(2).join('.');
    return field ? `${name}, field ${field}` : name;
  }
  return path.length ? `field ${path.join('.')}` : 'the file';
}

const NAMED_GROUP = /\(\?<([A-Za-z_]\w*)>/g;

function compileRegex(source: string, where: string, problems: string[], groups: boolean): RegExp | undefined {
  try {
    const re = new RegExp(source, 'u');
    if (groups) {
      for (const [, name] of source.matchAll(NAMED_GROUP)) {
        if (!(PARAM_FIELDS as readonly string[]).includes(name!)) {
          problems.push(`${where}: unknown capture group "${name}" (allowed: ${PARAM_FIELDS.join(', ')})`);
        }
      }
    }
    return re;
  } catch (err) {
    problems.push(`${where}: not a valid regular expression (${(err as Error).message})`);
    return undefined;
  }
}

/** Validate a parsed rules document; every problem names its rule and field. */
export function compileRules(doc: unknown): Rules {
  const parsed = rulesFileSchema.safeParse(doc ?? {});
  if (!parsed.success) {
    throw new RulesError(parsed.error.issues.map((i) => `${describePath(doc, i.path)}: ${i.message}`));
  }
  const problems: string[] = [];
  const names = new Set<string>();
  const rules = parsed.data.rules.map((r, i) => {
    const where = `rule "${r.name}"`;
    if (names.has(r.name)) problems.push(`${where}: the name is used by another rule (rules #${i + 1})`);
    names.add(r.name);
    const pattern = r.match.pattern ? compileRegex(r.match.pattern, `${where}, field match.pattern`, problems, false) : undefined;
    const convention = compileRegex(r.convention ?? BUILT_IN_CONVENTION, `${where}, field convention`, problems, true);
    return { name: r.name, prefix: r.match.prefix, suffix: r.match.suffix, pattern, convention: convention!, set: r.set, skip: r.skip };
  });
  if (problems.length) throw new RulesError(problems);
  return { limits: parsed.data.limits, defaults: parsed.data.defaults, rules };
}

export function parseRules(text: string, source = 'importer.yaml'): Rules {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new RulesError([`${source}: not valid YAML (${(err as Error).message})`]);
  }
  return compileRules(doc);
}

export const DEFAULT_RULES: Rules = compileRules({});

/** The first rule whose prefix, suffix and pattern all match the key. */
export function matchRule(rules: Rules, key: string): CompiledRule | undefined {
  return rules.rules.find(
    (r) => (!r.prefix || key.startsWith(r.prefix)) && (!r.suffix || key.endsWith(r.suffix)) && (!r.pattern || r.pattern.test(key)),
  );
}
