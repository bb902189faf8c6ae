import { cvss3BaseScore, parseSeverityWord, type Severity, severityOfScore } from './severity.ts';

/** One affected version interval of one package, as stored in the vulnerability database. */
export interface AdvisoryRange {
  advisoryId: string;
  ecosystem: string;
  packageName: string;
  /** `0` for "every version from the first". */
  introduced: string;
  /** The first fixed version; undefined while no fix exists. */
  fixed: string | undefined;
  /** The last affected version, for ranges closed that way instead of by a fix. */
  lastAffected: string | undefined;
  severity: Severity;
  summary: string;
}

export class OsvFormatError extends Error {}

/**
 * The affected ranges of one OSV record (https://ossf.github.io/osv-schema/): per
 * `affected[]` package, ECOSYSTEM ranges walked event by event (introduced opens, fixed or
 * last_affected closes), plus explicitly listed `versions` as single-version ranges. Withdrawn
 * records contribute nothing. The severity is the record's or the package's
 * `database_specific.severity` word, else the highest CVSS v3 base score.
 */
export function rangesOfOsvRecord(record: unknown): { id: string; ranges: AdvisoryRange[] } {
  if (typeof record !== 'object' || record === null) throw new OsvFormatError('an OSV record is a JSON object');
  const osv = record as Record<string, unknown>;
  if (typeof osv.id !== 'string' || osv.id === '') throw new OsvFormatError('an OSV record needs a string "id"');
  const id = osv.id;
  if (osv.withdrawn !== undefined && osv.withdrawn !== null) return { id, ranges: [] };
  const summary = typeof osv.summary === 'string' ? osv.summary : typeof osv.details === 'string' ? osv.details : '';
  const recordSeverity = severityOf(osv);
  const ranges: AdvisoryRange[] = [];
  for (const affected of arrayOf(osv.affected)) {
    const pkg = objectOf(affected.package);
    if (typeof pkg?.ecosystem !== 'string' || typeof pkg.name !== 'string') continue;
    const severity = severityWord(affected.ecosystem_specific) ?? severityWord(affected.database_specific);
    const base = {
      advisoryId: id,
      ecosystem: pkg.ecosystem,
      packageName: pkg.name,
      severity: severity ?? recordSeverity,
      summary: summary.slice(0, 500),
    };
    for (const range of arrayOf(affected.ranges)) {
      if (range.type !== 'ECOSYSTEM') continue;
      let introduced: string | undefined;
      for (const event of arrayOf(range.events)) {
        if (typeof event.introduced === 'string') introduced = event.introduced;
        else if (introduced !== undefined && typeof event.fixed === 'string') {
          ranges.push({ ...base, introduced, fixed: event.fixed, lastAffected: undefined });
          introduced = undefined;
        } else if (introduced !== undefined && typeof event.last_affected === 'string') {
          ranges.push({ ...base, introduced, fixed: undefined, lastAffected: event.last_affected });
          introduced = undefined;
        }
      }
      if (introduced !== undefined) ranges.push({ ...base, introduced, fixed: undefined, lastAffected: undefined });
    }
    for (const version of Array.isArray(affected.versions) ? affected.versions : []) {
      if (typeof version === 'string')
        ranges.push({ ...base, introduced: version, fixed: undefined, lastAffected: version });
    }
  }
  return { id, ranges };
}

function severityOf(osv: Record<string, unknown>): Severity {
  const word = severityWord(osv.database_specific);
  if (word) return word;
  let best: number | undefined;
  for (const entry of arrayOf(osv.severity)) {
    if (typeof entry.score !== 'string') continue;
    const score = cvss3BaseScore(entry.score);
    if (score !== undefined && (best === undefined || score > best)) best = score;
  }
  return best === undefined ? 'UNKNOWN' : severityOfScore(best);
}

function severityWord(specific: unknown): Severity | undefined {
  const object = objectOf(specific);
  return parseSeverityWord(object?.severity) ?? parseSeverityWord(object?.urgency);
}

function objectOf(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function arrayOf(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.map(objectOf).filter((item) => item !== undefined) : [];
}
