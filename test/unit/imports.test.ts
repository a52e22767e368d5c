// Import rules of the product (cli proto runtime ingress scheduler adapters sim audit), read from the
// sources with the TypeScript parser:
//   - no import cycle among value imports;
//   - no product file imports bench/ or test/ (they depend on the product, never the reverse);
//   - proto/ (the wire contracts) imports nothing of ours outside proto/;
//   - ingress/ and scheduler/ do not import each other (they meet only on the bus, through proto/);
//   - adapters/ (worker-side code) does not import ingress/;
//   - audit/ is used by the processes and uses none of them (ingress/, scheduler/, adapters/).
//
// What counts. For cycles, only imports that exist at run time: `import type …` and
// `export type … from` are erased and do not count. `import { type A } from` does count: with
// verbatimModuleSyntax it is emitted as `import {} from`, which still loads (and orders) the
// module. `import()` counts too. For the folder rules every import counts, type-only ones
// included: a type import is still a compile-time dependency, and the build compiles what the
// product imports.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';
import { packageRoot } from '../../runtime/package-root.ts';

const ROOT = packageRoot(import.meta.url);
const PRODUCT = ['cli', 'proto', 'runtime', 'ingress', 'scheduler', 'adapters', 'sim', 'audit'] as const;

/**
 * Cycles known when this test was written, each keyed by the exact set of files in it, with the
 * work that removes it. While one exists its own test below is reported as todo; once it is gone
 * that test passes and the entry is to be deleted. Any other cycle fails the suite.
 */
const KNOWN_CYCLES: readonly { readonly files: readonly string[]; readonly todo: string }[] = [];

interface Import {
  /** The importing file, relative to the root, with `/`. */
  readonly from: string;
  /** The imported file (relative to the root), or the package name. */
  readonly to: string;
  readonly ours: boolean;
  /** Erased at run time (`import type`, `export type`). */
  readonly typeOnly: boolean;
}

const posix = (p: string): string => p.split(sep).join('/');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function importsOf(file: string): Import[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const from = posix(relative(ROOT, file));
  const out: Import[] = [];
  const add = (spec: string, typeOnly: boolean): void => {
    if (!spec.startsWith('.')) {
      out.push({ from, to: spec, ours: false, typeOnly });
      return;
    }
    const target = resolve(dirname(file), spec);
    out.push({ from, to: posix(relative(ROOT, target)), ours: !relative(ROOT, target).startsWith('..'), typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) add(node.moduleSpecifier.text, node.importClause?.isTypeOnly ?? false);
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) add(node.moduleSpecifier.text, node.isTypeOnly);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) add(node.arguments[0].text, false);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

const folderOf = (path: string): string => path.split('/')[0]!;

const files = PRODUCT.filter((d) => existsSync(join(ROOT, d))).flatMap((d) => sourceFiles(join(ROOT, d)));
const imports = files.flatMap(importsOf);

/** Imports that break a folder rule, as `from → to (rule)`. */
function folderViolations(): string[] {
  const out: string[] = [];
  for (const i of imports.filter((x) => x.ours)) {
    const a = folderOf(i.from);
    const b = folderOf(i.to);
    const say = (why: string): void => void out.push(`${i.from} → ${i.to} (${why})`);
    if (b === 'bench' || b === 'test') say('the product does not import bench/ or test/');
    if (a === 'proto' && b !== 'proto') say('proto/ imports nothing of ours outside proto/');
    if ((a === 'ingress' && b === 'scheduler') || (a === 'scheduler' && b === 'ingress')) say('ingress/ and scheduler/ meet only on the bus');
    if (a === 'adapters' && b === 'ingress') say('adapters/ does not import ingress/');
    if (a === 'audit' && (b === 'ingress' || b === 'scheduler' || b === 'adapters')) say('audit/ is used by the processes, never the reverse');
  }
  return out;
}

/** Strongly connected components of the value-import graph with more than one file (or a self-import), each sorted. */
function valueCycles(): string[][] {
  const edges = new Map<string, string[]>();
  for (const i of imports) if (i.ours && !i.typeOnly) edges.set(i.from, [...(edges.get(i.from) ?? []), i.to]);
  // Tarjan's algorithm.
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (edges.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) strong(v);
  return out;
}

const sameFiles = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

describe('imports - the rules of the product folders', () => {
  test('imports - the reader finds the product files and their imports', () => {
    assert.ok(files.length > 50, `only ${files.length} files read`);
    assert.ok(
      imports.some((i) => i.from === 'cli/main.ts' && i.to === 'cli/dev.ts'),
      'a dynamic import is read',
    );
    assert.ok(
      imports.some((i) => i.typeOnly),
      'type-only imports are told apart',
    );
    for (const i of imports.filter((x) => x.ours)) assert.ok(existsSync(join(ROOT, i.to)), `${i.from} imports ${i.to}, which does not exist`);
  });

  test('imports - no product file imports bench/ or test/, proto/ stands alone, ingress/ and scheduler/ and adapters/ keep apart', () => {
    assert.deepEqual(folderViolations(), []);
  });

  test('imports - no value import cycle (apart from the known ones listed in this file)', () => {
    const unknown = valueCycles().filter((c) => !KNOWN_CYCLES.some((k) => sameFiles(k.files, c)));
    assert.deepEqual(
      unknown.map((c) => (c.length === 1 ? `${c[0]} imports itself` : c.join(' ↔ '))),
      [],
    );
  });

  for (const k of KNOWN_CYCLES) {
    test(`imports - the known cycle ${k.files.join(' ↔ ')} is broken`, { todo: k.todo }, () => {
      assert.equal(
        valueCycles()
          .find((c) => sameFiles(k.files, c))
          ?.join(' ↔ '),
        undefined,
      );
    });
  }
});
