// xapi's where-expressions (get_all_records_where / get_all_where), parsed into an AST and
// compiled into a predicate over a row's database columns:
//   expr  := term (("and" | "or") term)*        -- same precedence, left-associative
//   term  := "not" term | "true" | "false" | "(" expr ")" | value "=" value
//   value := "field" "<column>" | "<literal>"    -- double-quoted, no escape mechanism
// Keywords are lowercase. Columns are database names (`name__label`); comparison is string
// equality on the database form of the column (see whereString). Parse errors are
// INVALID_VALUE [expr, reason].
import { XenApiError } from '../../shared/errors.js';
import { formatG } from '../../shared/wire/format-float.js';

export type WhereValue = { kind: 'field'; column: string } | { kind: 'literal'; text: string };
export type WhereExpr =
  | { kind: 'const'; value: boolean }
  | { kind: 'not'; expr: WhereExpr }
  | { kind: 'and' | 'or'; left: WhereExpr; right: WhereExpr }
  | { kind: 'eq'; left: WhereValue; right: WhereValue };

type Token =
  | { t: 'word'; v: string; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'sym'; v: '(' | ')' | '='; at: number };

/** Bounds that keep a hostile expression from costing more than a moment. */
const MAX_LENGTH = 64 * 1024;
const MAX_DEPTH = 200;
const KEYWORDS = new Set(['field', 'and', 'or', 'not', 'true', 'false']);

class ParseError extends Error {}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr.charCodeAt(i);
    if (isSpace(c)) {
      i++;
    } else if (c === 40 || c === 41 || c === 61) {
      out.push({ t: 'sym', v: expr[i] as '(' | ')' | '=', at: i });
      i++;
    } else if (c === 34) {
      const end = expr.indexOf('"', i + 1);
      if (end < 0) throw new ParseError(`unterminated string at character ${i}`);
      out.push({ t: 'str', v: expr.slice(i + 1, end), at: i });
      i = end + 1;
    } else if (isWordChar(c)) {
      let j = i + 1;
      while (j < expr.length && isWordChar(expr.charCodeAt(j))) j++;
      const word = expr.slice(i, j);
      if (!KEYWORDS.has(word)) throw new ParseError(`unknown keyword '${word}' at character ${i}`);
      out.push({ t: 'word', v: word, at: i });
      i = j;
    } else {
      throw new ParseError(`unexpected character '${expr[i]}' at character ${i}`);
    }
  }
  return out;
}

const describe = (t: Token | undefined) =>
  t === undefined
    ? 'end of expression'
    : t.t === 'str'
      ? `"${t.v}" at character ${t.at}`
      : `'${t.v}' at character ${t.at}`;

export function parseWhere(expr: string): WhereExpr {
  try {
    if (typeof expr !== 'string') throw new ParseError('expression must be a string');
    if (expr.length > MAX_LENGTH) throw new ParseError('expression too long');
    const tokens = tokenize(expr);
    let pos = 0;
    const peek = () => tokens[pos];
    const fail = (wanted: string): never => {
      throw new ParseError(`expected ${wanted}, got ${describe(tokens[pos])}`);
    };
    const value = (): WhereValue => {
      const t = peek();
      if (t?.t === 'str') {
        pos++;
        return { kind: 'literal', text: t.v };
      }
      if (t?.t === 'word' && t.v === 'field') {
        pos++;
        const c = peek();
        if (c?.t !== 'str') return fail('a quoted column name after field');
        pos++;
        return { kind: 'field', column: c.v };
      }
      return fail('field "<column>" or a quoted literal');
    };
    const term = (depth: number): WhereExpr => {
      if (depth > MAX_DEPTH) throw new ParseError('expression nested too deeply');
      const t = peek();
      if (t?.t === 'word' && t.v === 'not') {
        pos++;
        return { kind: 'not', expr: term(depth + 1) };
      }
      if (t?.t === 'word' && (t.v === 'true' || t.v === 'false')) {
        pos++;
        return { kind: 'const', value: t.v === 'true' };
      }
      if (t?.t === 'sym' && t.v === '(') {
        pos++;
        const e = expression(depth + 1);
        const close = peek();
        if (close?.t !== 'sym' || close.v !== ')') return fail("')'");
        pos++;
        return e;
      }
      const left = value();
      const eq = peek();
      if (eq?.t !== 'sym' || eq.v !== '=') return fail("'='");
      pos++;
      return { kind: 'eq', left, right: value() };
    };
    const expression = (depth: number): WhereExpr => {
      let left = term(depth);
      for (;;) {
        const t = peek();
        if (t?.t !== 'word' || (t.v !== 'and' && t.v !== 'or')) return left;
        pos++;
        left = { kind: t.v, left, right: term(depth) };
      }
    };
    const ast = expression(0);
    if (pos !== tokens.length) fail("'and', 'or' or the end of the expression");
    return ast;
  } catch (e) {
    if (e instanceof ParseError || e instanceof RangeError)
      throw new XenApiError('INVALID_VALUE', [String(expr), e.message]);
    throw e;
  }
}

/** The database columns an expression reads (to check or translate them before evaluating). */
export function whereColumns(ast: WhereExpr): string[] {
  const out = new Set<string>();
  const walk = (e: WhereExpr): void => {
    if (e.kind === 'not') walk(e.expr);
    else if (e.kind === 'and' || e.kind === 'or') {
      walk(e.left);
      walk(e.right);
    } else if (e.kind === 'eq') {
      for (const v of [e.left, e.right]) if (v.kind === 'field') out.add(v.column);
    }
  };
  walk(ast);
  return [...out];
}

export type ColumnGetter = (dbColumn: string) => string | undefined;
export type Predicate = (getColumn: ColumnGetter) => boolean;

/**
 * Compiles an AST into a predicate. A column the getter does not know reads as undefined, which
 * equals nothing (not even another unknown column), so such comparisons are false.
 */
export function compileWhere(ast: WhereExpr): Predicate {
  switch (ast.kind) {
    case 'const': {
      const value = ast.value;
      return () => value;
    }
    case 'not': {
      const inner = compileWhere(ast.expr);
      return (g) => !inner(g);
    }
    case 'and': {
      const l = compileWhere(ast.left);
      const r = compileWhere(ast.right);
      return (g) => l(g) && r(g);
    }
    case 'or': {
      const l = compileWhere(ast.left);
      const r = compileWhere(ast.right);
      return (g) => l(g) || r(g);
    }
    case 'eq': {
      const { left, right } = ast;
      if (left.kind === 'literal' && right.kind === 'literal') {
        const same = left.text === right.text;
        return () => same;
      }
      if (left.kind === 'field' && right.kind === 'field') {
        const a = left.column;
        const b = right.column;
        return (g) => {
          const x = g(a);
          return x !== undefined && x === g(b);
        };
      }
      const column = left.kind === 'field' ? left.column : (right as { column: string }).column;
      const text = left.kind === 'literal' ? left.text : (right as { text: string }).text;
      return (g) => g(column) === text;
    }
  }
}

const sexprAtom = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;

/**
 * The database string form of an internal value, which where-expressions compare against:
 * strings/refs/enums as is, bools true/false, ints in decimal, floats %.16g, sets and maps as
 * xapi's S-expressions (`('a' 'b')`, `(('k' 'v'))`).
 */
export function whereString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : formatG(v, 16);
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return `(${v.map((x) => sexprAtom(whereString(x))).join(' ')})`;
  if (typeof v === 'object')
    return `(${Object.entries(v)
      .map(([k, x]) => `(${sexprAtom(k)} ${sexprAtom(whereString(x))})`)
      .join(' ')})`;
  return String(v);
}
