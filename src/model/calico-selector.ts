/**
 * Calico's label selector language (libcalico-go lib/selector, as in Calico v3.29): a parser to a
 * small tree, and its evaluation against a label map.
 *
 *   expr    := or
 *   or      := and ('||' and)*
 *   and     := unary ('&&' unary)*
 *   unary   := '!' unary | '(' expr ')' | 'all()' | 'global()' | 'has(' key ')' | key op
 *   op      := ('==' | '!=') value | 'in' set | 'not' 'in' set
 *            | 'contains' value | 'starts' 'with' value | 'ends' 'with' value
 *   set     := '{' (value (',' value)*)? '}'
 *   value   := '...' | "..."
 *
 * As Calico evaluates them: `k != v` and `k not in {..}` hold when the label is absent, `global()`
 * matches only endpoints outside every namespace (kdp models none), and the empty selector is
 * `all()` where a selector is required (a policy's `selector`).
 *
 * Evaluation walks the tree; it runs when policies are compiled (selectors become address sets),
 * never per packet.
 */

export type Labels = Readonly<Record<string, string>>;

export type Selector =
  | { readonly op: 'all' }
  | { readonly op: 'global' }
  | { readonly op: 'has'; readonly key: string }
  | { readonly op: 'eq' | 'ne' | 'contains' | 'starts' | 'ends'; readonly key: string; readonly value: string }
  | { readonly op: 'in' | 'notin'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'not'; readonly arg: Selector }
  | { readonly op: 'and' | 'or'; readonly args: readonly Selector[] };

export const kAll: Selector = { op: 'all' };

/** The reason a selector did not parse, with the character offset. */
export class SelectorSyntaxError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

// Label keys as Kubernetes allows them (an optional DNS prefix and '/', then a name).
const kKey = /[A-Za-z0-9_][A-Za-z0-9_./-]*/y;

class Parser {
  pos = 0;
  constructor(readonly text: string) {}

  fail(message: string): never {
    throw new SelectorSyntaxError(this.pos, `${message} at offset ${this.pos} of ${JSON.stringify(this.text.slice(0, 120))}`);
  }
  skip(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }
  peek(token: string): boolean {
    this.skip();
    return this.text.startsWith(token, this.pos);
  }
  /** A word token (`in`, `not`, `has(`) followed by something that cannot continue a key. */
  peekWord(word: string): boolean {
    this.skip();
    if (!this.text.startsWith(word, this.pos)) return false;
    const after = this.text[this.pos + word.length];
    return after === undefined || !/[A-Za-z0-9_./-]/.test(after);
  }
  eat(token: string): boolean {
    if (!this.peek(token)) return false;
    this.pos += token.length;
    return true;
  }
  expect(token: string): void {
    if (!this.eat(token)) this.fail(`expected '${token}'`);
  }
  key(): string {
    this.skip();
    kKey.lastIndex = this.pos;
    const m = kKey.exec(this.text);
    if (!m) this.fail('expected a label key');
    this.pos += m[0].length;
    return m[0];
  }
  value(): string {
    this.skip();
    const q = this.text[this.pos];
    if (q !== '"' && q !== "'") this.fail('expected a quoted value');
    const end = this.text.indexOf(q, this.pos + 1);
    if (end < 0) this.fail('unterminated string');
    const v = this.text.slice(this.pos + 1, end);
    this.pos = end + 1;
    return v;
  }
  set(): string[] {
    this.expect('{');
    const values: string[] = [];
    if (this.eat('}')) return values;
    do values.push(this.value());
    while (this.eat(','));
    this.expect('}');
    return values;
  }
  or(): Selector {
    const args = [this.and()];
    while (this.eat('||')) args.push(this.and());
    return args.length === 1 ? args[0] : { op: 'or', args };
  }
  and(): Selector {
    const args = [this.unary()];
    while (this.eat('&&')) args.push(this.unary());
    return args.length === 1 ? args[0] : { op: 'and', args };
  }
  unary(): Selector {
    if (this.peek('!') && !this.peek('!=')) {
      this.pos++;
      return { op: 'not', arg: this.unary() };
    }
    if (this.eat('(')) {
      const e = this.or();
      this.expect(')');
      return e;
    }
    if (this.eat('all()')) return kAll;
    if (this.eat('global()')) return { op: 'global' };
    if (this.peek('has(')) {
      this.pos += 4;
      const key = this.key();
      this.expect(')');
      return { op: 'has', key };
    }
    const key = this.key();
    if (this.eat('==')) return { op: 'eq', key, value: this.value() };
    if (this.eat('!=')) return { op: 'ne', key, value: this.value() };
    if (this.peekWord('in')) {
      this.pos += 2;
      return { op: 'in', key, values: this.set() };
    }
    if (this.peekWord('not')) {
      this.pos += 3;
      if (!this.peekWord('in')) this.fail("expected 'in' after 'not'");
      this.pos += 2;
      return { op: 'notin', key, values: this.set() };
    }
    if (this.peekWord('contains')) {
      this.pos += 8;
      return { op: 'contains', key, value: this.value() };
    }
    for (const [word, op] of [['starts', 'starts'], ['ends', 'ends']] as const) {
      if (this.peekWord(word)) {
        this.pos += word.length;
        if (!this.peekWord('with')) this.fail(`expected 'with' after '${word}'`);
        this.pos += 4;
        return { op, key, value: this.value() };
      }
    }
    return this.fail(`expected an operator after label key '${key}' (==, !=, in, not in, contains, starts with, ends with)`);
  }
}

/** Parses a selector; the empty (or blank) text is `all()`. Throws SelectorSyntaxError. */
export function parseSelector(text: string): Selector {
  if (text.trim() === '') return kAll;
  const p = new Parser(text);
  const e = p.or();
  p.skip();
  if (p.pos !== text.length) p.fail('unexpected text');
  return e;
}

/** Whether `labels` satisfy `s`; `namespaced` is false only for endpoints outside any namespace. */
export function selectorMatches(s: Selector, labels: Labels, namespaced = true): boolean {
  switch (s.op) {
    case 'all':
      return true;
    case 'global':
      return !namespaced;
    case 'has':
      return Object.hasOwn(labels, s.key);
    case 'eq':
      return Object.hasOwn(labels, s.key) && labels[s.key] === s.value;
    case 'ne':
      return !Object.hasOwn(labels, s.key) || labels[s.key] !== s.value;
    case 'contains':
      return Object.hasOwn(labels, s.key) && labels[s.key].includes(s.value);
    case 'starts':
      return Object.hasOwn(labels, s.key) && labels[s.key].startsWith(s.value);
    case 'ends':
      return Object.hasOwn(labels, s.key) && labels[s.key].endsWith(s.value);
    case 'in':
      return Object.hasOwn(labels, s.key) && s.values.includes(labels[s.key]);
    case 'notin':
      return !Object.hasOwn(labels, s.key) || !s.values.includes(labels[s.key]);
    case 'not':
      return !selectorMatches(s.arg, labels, namespaced);
    case 'and':
      return s.args.every((a) => selectorMatches(a, labels, namespaced));
    case 'or':
      return s.args.some((a) => selectorMatches(a, labels, namespaced));
  }
}

const quote = (v: string): string => (v.includes("'") ? `"${v}"` : `'${v}'`);

/** The selector as Calico prints it (for traces and iptables comments). */
export function formatSelector(s: Selector): string {
  switch (s.op) {
    case 'all':
      return 'all()';
    case 'global':
      return 'global()';
    case 'has':
      return `has(${s.key})`;
    case 'eq':
      return `${s.key} == ${quote(s.value)}`;
    case 'ne':
      return `${s.key} != ${quote(s.value)}`;
    case 'contains':
      return `${s.key} contains ${quote(s.value)}`;
    case 'starts':
      return `${s.key} starts with ${quote(s.value)}`;
    case 'ends':
      return `${s.key} ends with ${quote(s.value)}`;
    case 'in':
      return `${s.key} in {${s.values.map(quote).join(', ')}}`;
    case 'notin':
      return `${s.key} not in {${s.values.map(quote).join(', ')}}`;
    case 'not':
      return `!${s.arg.op === 'and' || s.arg.op === 'or' ? `(${formatSelector(s.arg)})` : formatSelector(s.arg)}`;
    case 'and':
      return s.args.map((a) => (a.op === 'or' ? `(${formatSelector(a)})` : formatSelector(a))).join(' && ');
    case 'or':
      return s.args.map(formatSelector).join(' || ');
  }
}
