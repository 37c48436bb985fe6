// xapi's where-expressions (get_all_records_where / get_all_where):
//   expr  := term (("and" | "or") term)*          -- same precedence, left-associative
//   term  := "not" term | "true" | "false" | "(" expr ")" | value "=" value
//   value := "field" "<column>" | "<literal>"      -- double-quoted, no escapes
// Comparison is string equality on the database form of the column.
import { XenApiError } from '../../shared/errors.js';

export type WhereValue = { kind: 'field'; column: string } | { kind: 'literal'; text: string };
export type WhereExpr =
  | { kind: 'const'; value: boolean }
  | { kind: 'not'; expr: WhereExpr }
  | { kind: 'and' | 'or'; left: WhereExpr; right: WhereExpr }
  | { kind: 'eq'; left: WhereValue; right: WhereValue };

type Token = { t: 'word'; v: string } | { t: 'str'; v: string } | { t: 'sym'; v: '(' | ')' | '=' };

const MAX_LENGTH = 64 * 1024;
const MAX_DEPTH = 100;

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i];
    if (/\s/.test(c)) i++;
    else if (c === '(' || c === ')' || c === '=') {
      out.push({ t: 'sym', v: c });
      i++;
    } else if (c === '"') {
      const end = expr.indexOf('"', i + 1);
      if (end < 0) throw new Error('unterminated string');
      out.push({ t: 'str', v: expr.slice(i + 1, end) });
      i = end + 1;
    } else {
      const m = /^[A-Za-z_]+/.exec(expr.slice(i));
      if (!m) throw new Error(`unexpected character '${c}' at ${i}`);
      out.push({ t: 'word', v: m[0] });
      i += m[0].length;
    }
  }
  return out;
}

export function parseWhere(expr: string): WhereExpr {
  try {
    if (expr.length > MAX_LENGTH) throw new Error('expression too long');
    const tokens = tokenize(expr);
    let pos = 0;
    const peek = () => tokens[pos];
    const take = () => {
      const t = tokens[pos++];
      if (!t) throw new Error('unexpected end of expression');
      return t;
    };
    const value = (): WhereValue => {
      const t = take();
      if (t.t === 'str') return { kind: 'literal', text: t.v };
      if (t.t === 'word' && t.v === 'field') {
        const c = take();
        if (c.t !== 'str') throw new Error('expected a quoted column name after field');
        return { kind: 'field', column: c.v };
      }
      throw new Error(`unexpected ${t.v}`);
    };
    const term = (depth: number): WhereExpr => {
      if (depth > MAX_DEPTH) throw new Error('expression nested too deeply');
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
        const close = take();
        if (close.t !== 'sym' || close.v !== ')') throw new Error('expected )');
        return e;
      }
      const left = value();
      const eq = take();
      if (eq.t !== 'sym' || eq.v !== '=') throw new Error('expected =');
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
    if (pos !== tokens.length) throw new Error(`unexpected ${tokens[pos].v}`);
    return ast;
  } catch (e) {
    throw new XenApiError('INVALID_VALUE', [expr, (e as Error).message]);
  }
}

export type Predicate = (getColumn: (column: string) => string | undefined) => boolean;

export function compileWhere(ast: WhereExpr): Predicate {
  switch (ast.kind) {
    case 'const':
      return () => ast.value;
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
      const val = (v: WhereValue) =>
        v.kind === 'literal' ? () => v.text : (g: (c: string) => string | undefined) => g(v.column);
      const l = val(ast.left);
      const r = val(ast.right);
      return (g) => l(g) === r(g);
    }
  }
}
