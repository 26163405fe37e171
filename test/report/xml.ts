/**
 * A small XML well-formedness check for the SVG tests: tags balance, attributes are quoted,
 * text holds no raw '<' or bare '&'. Not a full parser; enough to catch a broken chart.
 */
export interface XmlCheck {
  readonly ok: boolean;
  readonly problem?: string;
  readonly root?: string;
  /** Every element name seen, in document order. */
  readonly elements: string[];
}

export function checkXml(doc: string): XmlCheck {
  const elements: string[] = [];
  const stack: string[] = [];
  let root: string | undefined;
  const body = doc.replace(/^<\?xml[^>]*\?>\s*/, '');
  const re = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->/g;
  let last = 0;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    const text = body.slice(last, m.index);
    if (/[<>]/.test(text)) return { ok: false, problem: `stray markup in text: ${JSON.stringify(text.slice(0, 60))}`, elements };
    if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);)/i.test(text)) return { ok: false, problem: `bare & in text: ${JSON.stringify(text.slice(0, 60))}`, elements };
    last = re.lastIndex;
    if (m[0].startsWith('<!--')) continue;
    const [, close, name, , selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) return { ok: false, problem: `</${name}> closes <${open ?? 'nothing'}>`, elements };
      continue;
    }
    if (stack.length === 0) {
      if (root !== undefined) return { ok: false, problem: `second root element <${name}>`, elements };
      root = name;
    }
    elements.push(name!);
    if (!selfClose) stack.push(name!);
  }
  const rest = body.slice(last);
  if (rest.trim() !== '') return { ok: false, problem: `unparsed trailing text: ${JSON.stringify(rest.slice(0, 60))}`, elements };
  if (stack.length) return { ok: false, problem: `unclosed <${stack.join('>, <')}>`, elements };
  if (root === undefined) return { ok: false, problem: 'no root element', elements };
  return { ok: true, root, elements };
}
