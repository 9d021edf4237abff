/**
 * The shape of src/, checked from the code itself with the TypeScript compiler's parser, so that
 * the layering and the size rules cannot quietly erode:
 * - imports only run down the layers (config at the bottom imports nothing of the runtime);
 * - no function is longer than 80 lines, but for the scanner's hot loop (one state machine on
 *   purpose, as Envoy's and twemproxy's parsers are);
 * - no class keeps more than 12 mutable fields.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/** Layers, bottom first: a file may import from its own layer or any below it. */
const LAYERS: readonly (readonly string[])[] = [
  ['config'],
  ['log'],
  ['resp', 'metrics', 'observe'],
  ['secrets'],
  ['upstream'],
  ['proxy', 'admin'],
  ['listenerFactory.ts'],
  ['cluster'],
  ['ambassador.ts', 'runtime.ts', 'workers'],
  ['cli.ts'],
];
const MAX_FUNCTION_LINES = 80;
const MAX_MUTABLE_FIELDS = 12;
/** Functions allowed to be longer, each with why. */
const LONG_FUNCTIONS: Readonly<Record<string, string>> = {
  'resp/scanner.ts:RespScanner.feed': 'the hot loop: one state machine over the bytes of a chunk, kept whole for speed',
};
/** Classes allowed more mutable fields, each with why. */
const BUSY_CLASSES: Readonly<Record<string, string>> = {
  'resp/scanner.ts:RespScanner': "the state machine's registers (line, number, bulk, nesting, token, inline state) read in the hot loop without an indirection",
};

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const files = sourceFiles(SRC).map((file) => {
  const rel = path.relative(SRC, file).split(path.sep).join('/');
  const text = fs.readFileSync(file, 'utf8');
  return { rel, text, ast: ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true) };
});

function layerOf(rel: string): number {
  const top = rel.split('/')[0]!;
  const i = LAYERS.findIndex((names) => names.includes(top));
  if (i < 0) throw new Error(`${rel} is in no layer: add its folder to LAYERS`);
  return i;
}

function importsOf(ast: ts.SourceFile): string[] {
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) out.push(n.moduleSpecifier.text);
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && ts.isStringLiteral(n.arguments[0]!)) out.push(n.arguments[0].text);
    ts.forEachChild(n, visit);
  };
  visit(ast);
  return out;
}

function lines(ast: ts.SourceFile, n: ts.Node): number {
  return ast.getLineAndCharacterOfPosition(n.getEnd()).line - ast.getLineAndCharacterOfPosition(n.getStart(ast)).line + 1;
}

function functionName(n: ts.FunctionLikeDeclaration): string {
  const own = n.name && ts.isIdentifier(n.name) ? n.name.text : n.kind === ts.SyntaxKind.Constructor ? 'constructor' : '(anonymous)';
  const cls = ts.findAncestor(n.parent, ts.isClassDeclaration);
  return cls?.name ? `${cls.name.text}.${own}` : own;
}

function isReadonly(m: ts.Node): boolean {
  return (ts.getCombinedModifierFlags(m as ts.Declaration) & ts.ModifierFlags.Readonly) !== 0;
}

describe('src/ structure', () => {
  it('imports run only down the layers; config imports no runtime code', () => {
    const wrong: string[] = [];
    for (const f of files) {
      const mine = layerOf(f.rel);
      for (const spec of importsOf(f.ast)) {
        if (!spec.startsWith('.')) continue;
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(f.rel), spec)).replace(/\.js$/, '.ts');
        if (layerOf(target) > mine) wrong.push(`${f.rel} imports ${target}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(files.length).toBeGreaterThan(40);
  });

  it(`no function is longer than ${MAX_FUNCTION_LINES} lines (the scanner's hot loop excepted)`, () => {
    const long: string[] = [];
    let checked = 0;
    for (const f of files) {
      const visit = (n: ts.Node): void => {
        if (ts.isFunctionLike(n) && 'body' in n && n.body) {
          checked++;
          const name = `${f.rel}:${functionName(n as ts.FunctionLikeDeclaration)}`;
          const count = lines(f.ast, n);
          if (count > MAX_FUNCTION_LINES && LONG_FUNCTIONS[name] === undefined) long.push(`${name} has ${count} lines`);
        }
        ts.forEachChild(n, visit);
      };
      visit(f.ast);
    }
    expect(long).toEqual([]);
    expect(checked).toBeGreaterThan(300);
  });

  it(`no class keeps more than ${MAX_MUTABLE_FIELDS} mutable fields`, () => {
    const heavy: string[] = [];
    for (const f of files) {
      const visit = (n: ts.Node): void => {
        if (ts.isClassDeclaration(n)) {
          let mutable = 0;
          for (const m of n.members) {
            if (ts.isPropertyDeclaration(m) && !isReadonly(m) && !(ts.getCombinedModifierFlags(m) & ts.ModifierFlags.Static)) mutable++;
            if (ts.isConstructorDeclaration(m)) {
              for (const p of m.parameters) if (ts.isParameterPropertyDeclaration(p, m) && !isReadonly(p)) mutable++;
            }
          }
          const name = `${f.rel}:${n.name?.text}`;
          if (mutable > MAX_MUTABLE_FIELDS && BUSY_CLASSES[name] === undefined) heavy.push(`${name} has ${mutable}`);
        }
        ts.forEachChild(n, visit);
      };
      visit(f.ast);
    }
    expect(heavy).toEqual([]);
  });

  it('the exceptions still exist (the lists do not rot)', () => {
    for (const name of [...Object.keys(LONG_FUNCTIONS), ...Object.keys(BUSY_CLASSES)]) {
      const [rel, fn] = name.split(':') as [string, string];
      const f = files.find((x) => x.rel === rel);
      expect(f, rel).toBeDefined();
      expect(f!.text).toContain(fn.split('.').pop()!);
    }
  });
});
