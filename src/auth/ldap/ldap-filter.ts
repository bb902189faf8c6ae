/**
 * Escapes a value for use inside an LDAP search filter (RFC 4515 section 3): `*`, `(`, `)`, `\`
 * and NUL become `\2a`, `\28`, `\29`, `\5c` and `\00`, so a user name such as `*)(uid=*` matches
 * only an entry literally called that.
 */
export function escapeFilterValue(value: string): string {
  return value.replace(/[*()\\\0]/g, (character) => `\\${character.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * Puts escaped values into a configured filter template: `{dn}` and `{username}` are replaced;
 * every other character of the template is the operator's and stays as written.
 */
export function fillFilterTemplate(template: string, values: { dn: string; username: string }): string {
  return template
    .replaceAll('{dn}', escapeFilterValue(values.dn))
    .replaceAll('{username}', escapeFilterValue(values.username));
}

/** A configured filter may be written with or without its outer parentheses (`objectClass=person`). */
export function parenthesized(filter: string): string {
  const trimmed = filter.trim();
  return trimmed.startsWith('(') ? trimmed : `(${trimmed})`;
}
