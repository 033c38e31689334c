import { PARAM_FIELDS } from './param-fields';

/**
 * Messages for a rules file an operator wrote by hand: where (the rule by name, the field),
 * what was found, what is expected, and the nearest known name for a typo. zod/mini keeps
 * its messages out of the bundle, so they are made here from the issue's facts.
 */

export interface RulesIssue {
  code: string;
  path: PropertyKey[];
  expected?: string;
  keys?: string[];
  input?: unknown;
  minimum?: number | bigint;
  inclusive?: boolean;
  origin?: string;
  values?: unknown[];
}

const KNOWN_FIELDS: Record<string, string[]> = {
  '': ['version', 'limits', 'defaults', 'rules'],
  limits: ['allowedOssRegions', 'platforms', 'maxVirtualSizeGiB', 'allowQcow2Features'],
  defaults: [...PARAM_FIELDS],
  rule: ['name', 'match', 'convention', 'set', 'skip'],
  'rule.match': ['prefix', 'suffix', 'pattern'],
  'rule.set': [...PARAM_FIELDS],
};

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const kept = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      previous = kept;
    }
  }
  return row[b.length]!;
}

const nearest = (name: string, known: string[]): string | undefined =>
  known
    .map((k) => ({ k, d: distance(name, k) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(name.length / 3)))
    .sort((a, b) => a.d - b.d)[0]?.k;

/** Where in the file, as an operator reads it: `rule "edge-web", field set.platform`. */
export function describePath(doc: unknown, path: PropertyKey[]): string {
  if (path[0] === 'rules' && typeof path[1] === 'number') {
    const rule = (doc as { rules?: { name?: unknown }[] })?.rules?.[path[1]];
    const name = typeof rule?.name === 'string' ? `rule "${rule.name}"` : `rule #${path[1] + 1}`;
    const field = path.slice(2).join('.');
    return field ? `${name}, field ${field}` : name;
  }
  return path.length ? `field ${path.join('.')}` : 'the file';
}

const found = (input: unknown): string => {
  if (typeof input === 'string') return `the string ${JSON.stringify(input)}`;
  if (typeof input === 'number') return `the number ${input}`;
  if (input === null || input === undefined) return 'nothing';
  return Array.isArray(input) ? 'a list' : typeof input === 'object' ? 'a mapping' : String(input);
};

const EXPECTED: Record<string, string> = {
  string: 'a string',
  boolean: 'true or false',
  number: 'a number',
  array: 'a list',
  object: 'a mapping',
};

function explain(issue: RulesIssue, path: PropertyKey[]): string {
  switch (issue.code) {
    case 'unrecognized_keys': {
      const where = path[0] === 'rules' ? ['rule', ...path.slice(2).map(String)].join('.') : path.map(String).join('.');
      const known = KNOWN_FIELDS[where] ?? [];
      return (issue.keys ?? [])
        .map((k) => {
          const hint = nearest(k, known);
          return `unknown field "${k}" (${hint ? `did you mean "${hint}"? ` : ''}known: ${known.join(', ')})`;
        })
        .join('; ');
    }
    case 'invalid_type': {
      const expected = EXPECTED[issue.expected ?? ''] ?? issue.expected ?? 'another value';
      const quote = issue.expected === 'string' && typeof issue.input === 'number' ? ` (quote it: '${issue.input}')` : '';
      return `found ${found(issue.input)}, expected ${expected}${quote}`;
    }
    case 'too_small':
      return issue.origin === 'number'
        ? `found ${issue.input}, expected a number ${issue.inclusive ? 'of at least' : 'greater than'} ${issue.minimum}`
        : `found ${found(issue.input)}, expected at least ${issue.minimum} item(s)`;
    case 'invalid_value':
      return `found ${found(issue.input)}, expected one of ${(issue.values ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `found ${found(issue.input)}, which is not allowed here`;
  }
}

export function describeIssue(doc: unknown, issue: RulesIssue): string {
  return `${describePath(doc, issue.path)}: ${explain(issue, issue.path)}`;
}
