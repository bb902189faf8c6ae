import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type ParseOptions,
  parseDocument,
  type ScalarTag,
  type SchemaOptions,
  type YAMLError,
} from 'yaml';
import { ConfigError } from './config-error.ts';
import { isRawMap, type RawMap, type RawValue } from './raw-tree.ts';

/** Plain `~`, `null` and empty values are null; every other scalar stays text until validated. */
const nullTag: ScalarTag = {
  tag: 'tag:yaml.org,2002:null',
  test: /^(?:~|[Nn]ull|NULL)?$/,
  resolve: () => null,
  default: true,
};

/**
 * Scalars stay text so that the type of the key decides how they are read, as in Go's YAML decoder
 * (`version: 0.1` is the string "0.1", `enabled: yes` a boolean). Merge keys (`<<`) and repeated
 * keys (the last one wins) are accepted, as Distribution accepts them.
 */
export const yamlParseOptions: ParseOptions & SchemaOptions = {
  schema: 'failsafe',
  customTags: [nullTag],
  merge: true,
  uniqueKeys: false,
};

export interface YamlConfigSource {
  tree: RawMap;
  warnings: string[];
  /** The 1-based line of `path` in the file, or of its deepest ancestor there. */
  lineOf(path: readonly (string | number)[]): number | undefined;
}

export function parseYamlConfig(text: string, file: string): YamlConfigSource {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { ...yamlParseOptions, lineCounter, prettyErrors: false });
  const where = (error: YAMLError) => {
    const position = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
    return `${file}:${position.line}:${position.col}`;
  };
  const [firstError] = document.errors;
  if (firstError !== undefined) throw new ConfigError(`${where(firstError)}: invalid YAML: ${firstError.message}`);
  const tree = document.toJS({ maxAliasCount: 1000 }) as RawValue | undefined;
  if (tree !== null && tree !== undefined && !isRawMap(tree)) {
    throw new ConfigError(`${file}: the configuration must be a YAML mapping of keys to values`);
  }
  const warnings = document.warnings.map((warning) => `${where(warning)}: ${warning.message}`);
  warnings.push(...repeatedKeys(document.contents, [], lineCounter, file));
  const line = (node: Node | null | undefined) => {
    const start = node?.range?.[0];
    return start === undefined ? undefined : lineCounter.linePos(start).line;
  };
  return {
    tree: tree ?? {},
    warnings,
    lineOf(path) {
      let node: unknown = document.contents;
      let found: number | undefined;
      for (const segment of path) {
        if (isMap(node)) {
          const pair = node.items.findLast((item) => isScalar(item.key) && String(item.key.value) === String(segment));
          if (pair === undefined) break;
          found = line(pair.key as Node) ?? found;
          node = pair.value;
        } else if (isSeq(node) && typeof segment === 'number') {
          node = node.items[segment];
          found = line(node as Node) ?? found;
        } else {
          break;
        }
      }
      return found;
    },
  };
}

function repeatedKeys(node: unknown, path: string[], lineCounter: LineCounter, file: string): string[] {
  const warnings: string[] = [];
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (key === undefined) continue;
      if (seen.has(key)) {
        const start = (pair.key as Node).range?.[0] ?? 0;
        warnings.push(
          `${file}:${lineCounter.linePos(start).line}: ${[...path, key].join('.')} is set more than once; the last value is used`,
        );
      }
      seen.add(key);
      warnings.push(...repeatedKeys(pair.value, [...path, key], lineCounter, file));
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => {
      warnings.push(...repeatedKeys(item, [...path, String(index)], lineCounter, file));
    });
  }
  return warnings;
}
