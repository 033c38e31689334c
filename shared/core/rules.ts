import { notifySchema, type NotifyConfig } from './notification';
import { RE2JS } from 're2js';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod/mini';
import { PARAM_FIELDS, type ParamField } from './param-fields';
import { describeIssue, type RulesIssue } from './rules-errors';

/**
 * The rules file (`importer.yaml`): which keys are imported, how a key is read
 * (naming convention), fixed values per rule, global defaults and limits.
 */

/** The built-in convention: the last three path segments `<platform>/<os-version>/<image-name>.qcow2` (or `.img`). */
export const BUILT_IN_CONVENTION = '(?:^|/)(?<platform>[^/]+)/(?<osVersion>[^/]+)/(?<imageName>[^/]+?)(?:\\.(?:qcow2|img))?$';

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
  /** what becomes of an earlier version's image once a newer version's is available */
  previous: z._default(z.enum(['keep', 'delete-after-available']), 'keep'),
  /** what becomes of a key's images when its object is deleted (the trigger's ObjectRemoved events) */
  onDelete: z._default(z.enum(['keep', 'delete-image']), 'keep'),
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
  notify: z.optional(notifySchema),
  /** `unique`: a name another key's image holds gets a short stable suffix from the key (an explicit one is refused) */
  names: z._default(z.enum(['unique', 'allow-duplicates']), 'unique'),
  rules: z._default(z.array(ruleSchema).check(z.minLength(1)), [
    { name: 'default', match: {}, set: {}, skip: false, previous: 'keep' as const, onDelete: 'keep' as const },
  ]),
});

export type RulesFile = z.infer<typeof rulesFileSchema>;

export interface CompiledRule {
  name: string;
  prefix?: string;
  suffix?: string;
  pattern?: KeyPattern;
  convention: KeyPattern;
  set: Partial<Record<ParamField, string>>;
  skip: boolean;
  previous: PreviousPolicy;
  onDelete: 'keep' | 'delete-image';
}

/** `keep` an earlier version's image (recorded superseded), or delete it once a newer one is available. */
export type PreviousPolicy = 'keep' | 'delete-after-available';

export interface Rules {
  limits: RulesFile['limits'];
  names?: 'unique' | 'allow-duplicates';
  notify?: NotifyConfig;
  defaults: Partial<Record<ParamField, string>>;
  rules: CompiledRule[];
}

export class RulesError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid rules file:\n  - ${problems.join('\n  - ')}`);
  }
}

const NAMED_GROUP = /\(\?<([A-Za-z_]\w*)>/g;

/**
 * A key pattern from the rules file, run on RE2 (re2js): matching time is linear in the key,
 * so no pattern an operator writes (`(a+)+`) can make an upload hang the function. RE2 has no
 * backreferences or lookaround; a pattern that needs them is refused with RE2's message.
 */
export interface KeyPattern {
  source: string;
  test(key: string): boolean;
  /** the named captures of the first match, or undefined when there is none */
  groups(key: string): Record<string, string> | undefined;
}

function compileRegex(source: string, where: string, problems: string[], groups: boolean): KeyPattern | undefined {
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (err) {
    problems.push(`${where}: not a valid regular expression for RE2 (${(err as Error).message})`);
    return undefined;
  }
  if (groups) {
    for (const [, name] of source.matchAll(NAMED_GROUP)) {
      if (!(PARAM_FIELDS as readonly string[]).includes(name!))
        problems.push(`${where}: unknown capture group "${name}" (allowed: ${PARAM_FIELDS.join(', ')})`);
    }
  }
  const names = Object.keys(re.namedGroups());
  return {
    source,
    test: (key) => re.matcher(key).find(),
    groups(key) {
      const m = re.matcher(key);
      if (!m.find()) return undefined;
      const out: Record<string, string> = {};
      for (const name of names) {
        const v = m.group(name);
        if (v !== null && v !== undefined) out[name] = v;
      }
      return out;
    },
  };
}

/** Validate a parsed rules document; every problem names its rule and field. */
export function compileRules(doc: unknown, source = 'importer.yaml'): Rules {
  const parsed = rulesFileSchema.safeParse(doc ?? {}, { reportInput: true });
  if (!parsed.success) throw new RulesError(parsed.error.issues.map((i) => `${source}: ${describeIssue(doc, i as RulesIssue)}`));
  const problems: string[] = [];
  const names = new Set<string>();
  const rules = parsed.data.rules.map((r, i) => {
    const where = `rule "${r.name}"`;
    if (names.has(r.name)) problems.push(`${where}: the name is used by another rule (rules #${i + 1})`);
    names.add(r.name);
    const pattern = r.match.pattern ? compileRegex(r.match.pattern, `${where}, field match.pattern`, problems, false) : undefined;
    const convention = compileRegex(r.convention ?? BUILT_IN_CONVENTION, `${where}, field convention`, problems, true);
    return {
      name: r.name,
      prefix: r.match.prefix,
      suffix: r.match.suffix,
      pattern,
      convention: convention!,
      set: r.set,
      skip: r.skip,
      previous: r.previous,
      onDelete: r.onDelete,
    };
  });
  if (problems.length) throw new RulesError(problems.map((p) => `${source}: ${p}`));
  return {
    limits: parsed.data.limits,
    names: parsed.data.names,
    defaults: parsed.data.defaults,
    rules,
    ...(parsed.data.notify ? { notify: parsed.data.notify } : {}),
  };
}

export function parseRules(text: string, source = 'importer.yaml'): Rules {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new RulesError([`${source}: not valid YAML (${(err as Error).message})`]);
  }
  return compileRules(doc, source);
}

let defaultRules: Rules | undefined;
/** The built-in rules, compiled on first use: a deployment with importer.yaml never pays for them at cold start. */
export const builtInRules = (): Rules => (defaultRules ??= compileRules({}));

/** The first rule whose prefix, suffix and pattern all match the key. */
export function matchRule(rules: Rules, key: string): CompiledRule | undefined {
  return rules.rules.find(
    (r) => (!r.prefix || key.startsWith(r.prefix)) && (!r.suffix || key.endsWith(r.suffix)) && (!r.pattern || r.pattern.test(key)),
  );
}
