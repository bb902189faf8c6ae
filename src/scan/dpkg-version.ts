/**
 * Debian version ordering, as dpkg's `verrevcmp` does it: `[epoch:]upstream[-revision]`, compared
 * epoch first (numerically), then upstream, then revision; within each part, alternating runs of
 * non-digits (letters before non-letters, `~` before everything, even the end of the string) and
 * digits (numerically).
 */
export function compareDpkgVersions(a: string, b: string): number {
  const left = splitDpkgVersion(a);
  const right = splitDpkgVersion(b);
  if (left.epoch !== right.epoch) return left.epoch < right.epoch ? -1 : 1;
  return compareParts(left.upstream, right.upstream) || compareParts(left.revision, right.revision);
}

interface DpkgVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

export function splitDpkgVersion(version: string): DpkgVersion {
  const trimmed = version.trim();
  const colon = trimmed.indexOf(':');
  const epoch = colon > 0 ? Number.parseInt(trimmed.slice(0, colon), 10) || 0 : 0;
  const rest = colon >= 0 ? trimmed.slice(colon + 1) : trimmed;
  const hyphen = rest.lastIndexOf('-');
  return hyphen >= 0
    ? { epoch, upstream: rest.slice(0, hyphen), revision: rest.slice(hyphen + 1) }
    : { epoch, upstream: rest, revision: '' };
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isLetter(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** dpkg's `order`: `~` sorts first, then the end of a part, then letters, then everything else. */
function order(text: string, index: number): number {
  if (index >= text.length) return 0;
  const code = text.charCodeAt(index);
  if (isDigit(code)) return 0;
  if (isLetter(code)) return code;
  if (code === 126) return -1;
  return code + 256;
}

function compareParts(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDifference = 0;
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const difference = order(a, i) - order(b, j);
      if (difference !== 0) return Math.sign(difference);
      i++;
      j++;
    }
    while (a.charCodeAt(i) === 48) i++;
    while (b.charCodeAt(j) === 48) j++;
    while (i < a.length && isDigit(a.charCodeAt(i)) && j < b.length && isDigit(b.charCodeAt(j))) {
      if (firstDifference === 0) firstDifference = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a.charCodeAt(i))) return 1;
    if (j < b.length && isDigit(b.charCodeAt(j))) return -1;
    if (firstDifference !== 0) return Math.sign(firstDifference);
  }
  return 0;
}
