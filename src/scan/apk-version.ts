/**
 * Alpine package version ordering (apk-tools): dot-separated numbers, an optional letter, then
 * `_suffix[N]` parts (alpha < beta < pre < rc < none < cvs < svn < git < hg < p), then `-rN`.
 */
export function compareApkVersions(a: string, b: string): number {
  const left = parseApkVersion(a);
  const right = parseApkVersion(b);
  const count = Math.max(left.numbers.length, right.numbers.length);
  for (let index = 0; index < count; index++) {
    const x = left.numbers[index];
    const y = right.numbers[index];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const difference = compareNumberParts(x, y, index === 0);
    if (difference !== 0) return difference;
  }
  if (left.letter !== right.letter) return left.letter < right.letter ? -1 : 1;
  const suffixes = Math.max(left.suffixes.length, right.suffixes.length);
  for (let index = 0; index < suffixes; index++) {
    const x = left.suffixes[index] ?? noSuffix;
    const y = right.suffixes[index] ?? noSuffix;
    if (x.rank !== y.rank) return x.rank < y.rank ? -1 : 1;
    if (x.number !== y.number) return x.number < y.number ? -1 : 1;
  }
  if (left.revision !== right.revision) return left.revision < right.revision ? -1 : 1;
  return 0;
}

interface Suffix {
  rank: number;
  number: bigint;
}

interface ApkVersion {
  numbers: string[];
  letter: string;
  suffixes: Suffix[];
  revision: bigint;
}

const suffixRanks: Record<string, number> = { alpha: 0, beta: 1, pre: 2, rc: 3, cvs: 5, svn: 6, git: 7, hg: 8, p: 9 };
const noSuffix: Suffix = { rank: 4, number: 0n };

const shape = /^(\d+(?:\.\d+)*)([a-z]?)((?:_[a-z]+\d*)*)(?:-r(\d+))?$/;

export function parseApkVersion(version: string): ApkVersion {
  const match = shape.exec(version.trim());
  if (!match) return { numbers: [version], letter: '', suffixes: [], revision: 0n };
  const suffixes = (match[3] ?? '')
    .split('_')
    .filter((part) => part !== '')
    .map((part) => {
      const [, name = '', digits = ''] = /^([a-z]+)(\d*)$/.exec(part) ?? [];
      return { rank: suffixRanks[name] ?? noSuffix.rank, number: digits === '' ? 0n : BigInt(digits) };
    });
  return {
    numbers: (match[1] ?? '').split('.'),
    letter: match[2] ?? '',
    suffixes,
    revision: match[4] === undefined ? 0n : BigInt(match[4]),
  };
}

/**
 * The first number compares as an integer; later ones with a leading zero compare as decimal
 * fractions (apk's rule: 1.01 < 1.1), the rest as integers.
 */
function compareNumberParts(x: string, y: string, first: boolean): number {
  if (!first && (x.startsWith('0') || y.startsWith('0'))) {
    const a = x.replace(/0+$/, '');
    const b = y.replace(/0+$/, '');
    return a === b ? 0 : a < b ? -1 : 1;
  }
  const a = BigInt(x);
  const b = BigInt(y);
  return a === b ? 0 : a < b ? -1 : 1;
}
