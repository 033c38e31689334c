import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/**
 * The house rules a newcomer relies on, measured from the code: no file in shared/,
 * functions/ or bin/ above 250 lines, no function above 60 lines. `npx tsx scripts/house.ts`
 * prints the figures; a unit test holds them.
 */

export const MAX_FILE_LINES = 250;
export const MAX_FUNCTION_LINES = 60;
export const HOUSE_DIRS = ['shared', 'functions', 'bin'];

export interface HouseReport {
  files: { path: string; lines: number }[];
  functions: { path: string; name: string; line: number; lines: number }[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|cts)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

export function measureHouse(root: string): HouseReport {
  const report: HouseReport = { files: [], functions: [] };
  for (const dir of HOUSE_DIRS) {
    for (const path of sourceFiles(join(root, dir))) {
      const text = readFileSync(path, 'utf8');
      const rel = relative(root, path);
      report.files.push({ path: rel, lines: text.split('\n').length });
      const source = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true);
      const visit = (node: ts.Node): void => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body) {
          const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
          const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
          const named = (node as ts.FunctionLikeDeclaration).name;
          const parent = node.parent;
          const name =
            named?.getText() ??
            (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) ? parent.name.getText() : '(anonymous)');
          report.functions.push({ path: rel, name, line: start + 1, lines: end - start + 1 });
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
  }
  return report;
}

/**
 * Folder-to-folder imports inside shared/, type-only ones included: a type import ties two
 * folders as firmly as a value import when one is moved or read.
 */
export function folderImports(root: string, top = 'shared'): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const path of sourceFiles(join(root, top))) {
    const from = dirname(relative(root, path));
    const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true);
    for (const statement of source.statements) {
      const spec =
        (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier
          ? (statement.moduleSpecifier as ts.StringLiteral).text
          : undefined;
      if (!spec?.startsWith('.')) continue;
      const to = dirname(relative(root, resolve(dirname(path), spec)));
      if (to === from || !to.startsWith(`${top}/`)) continue;
      edges.set(from, (edges.get(from) ?? new Set()).add(to));
    }
  }
  return edges;
}

/** Every loop of folders that import each other, as paths `a -> b -> a`; none is allowed. */
export function folderCycles(edges: Map<string, Set<string>>): string[] {
  const cycles: string[] = [];
  const visit = (node: string, path: string[]): void => {
    for (const next of edges.get(node) ?? []) {
      const at = path.indexOf(next);
      if (at >= 0) {
        if (next === path[0]) cycles.push([...path, next].join(' -> '));
        continue;
      }
      if (next > path[0]!) visit(next, [...path, next]);
    }
  };
  for (const start of [...edges.keys()].sort()) visit(start, [start]);
  return cycles;
}

if (process.argv[1]?.endsWith('house.ts')) {
  const r = measureHouse(process.cwd());
  const files = r.files.filter((f) => f.lines > MAX_FILE_LINES);
  const fns = r.functions.filter((f) => f.lines > MAX_FUNCTION_LINES);
  console.log(
    `${r.files.length} files, largest ${Math.max(...r.files.map((f) => f.lines))} lines; ${r.functions.length} functions, longest ${Math.max(...r.functions.map((f) => f.lines))} lines`,
  );
  for (const f of files) console.log(`file over ${MAX_FILE_LINES}: ${f.path} ${f.lines}`);
  for (const f of fns) console.log(`function over ${MAX_FUNCTION_LINES}: ${f.path}:${f.line} ${f.name} ${f.lines}`);
  for (const c of folderCycles(folderImports(process.cwd()))) console.log(`folders in a loop: ${c}`);
}
