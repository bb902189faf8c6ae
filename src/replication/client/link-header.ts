/**
 * The target of `Link: <url>; rel="next"` (RFC 8288), resolved against `base`; undefined when the
 * header has no next link. Several links may share a header, separated by commas outside `<>`.
 */
export function nextLink(header: string | readonly string[] | undefined, base: URL): URL | undefined {
  const values = typeof header === 'string' ? [header] : (header ?? []);
  for (const value of values) {
    for (const part of value.split(/,(?=\s*<)/)) {
      const match = /^\s*<([^>]*)>(.*)$/.exec(part);
      if (!match) continue;
      const params = match[2] ?? '';
      const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params);
      const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
      if (relations.includes('next')) return new URL(match[1] ?? '', base);
    }
  }
  return undefined;
}
