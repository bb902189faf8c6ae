/**
 * The value of a DN's first RDN when its attribute is `attribute` (`cn=dev\, ops,ou=groups,...`
 * → `dev, ops` for `cn`), else undefined. Handles RFC 4514 escapes (`\,` and `\2c`).
 */
export function firstRdnValue(dn: string, attribute: string): string | undefined {
  const rdn = firstRdn(dn);
  const equals = rdn.indexOf('=');
  if (equals < 0) return undefined;
  if (rdn.slice(0, equals).trim().toLowerCase() !== attribute.toLowerCase()) return undefined;
  // A multi-valued RDN (`cn=a+sn=b`) names no single group.
  if (/(^|[^\\])\+/.test(rdn)) return undefined;
  return unescapeDnValue(rdn.slice(equals + 1).trim());
}

function firstRdn(dn: string): string {
  for (let index = 0; index < dn.length; index++) {
    if (dn[index] === '\\') index++;
    else if (dn[index] === ',') return dn.slice(0, index);
  }
  return dn;
}

function unescapeDnValue(value: string): string {
  // Hex escapes are UTF-8 bytes (`\c3\a9` is é), so the value is rebuilt as bytes.
  const parts: Buffer[] = [];
  let position = 0;
  for (const match of value.matchAll(/\\([0-9a-fA-F]{2}|.)/gsu)) {
    const escaped = match[1] ?? '';
    parts.push(Buffer.from(value.slice(position, match.index), 'utf8'));
    parts.push(escaped.length === 2 ? Buffer.from([Number.parseInt(escaped, 16)]) : Buffer.from(escaped, 'utf8'));
    position = match.index + match[0].length;
  }
  parts.push(Buffer.from(value.slice(position), 'utf8'));
  return Buffer.concat(parts).toString('utf8');
}
