import { z } from 'zod';
import { distributionKeysUnder } from './distribution-keys.ts';
import { isTextList } from './scalars.ts';
import { configSchema } from './schema.ts';

/** The schema below defaults, optionals and transforms: an object, a record or a leaf. */
export function unwrapSchema(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    if (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodOptional) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodPipe) {
      current = current.in as z.ZodType;
    } else {
      return current;
    }
  }
}

/** The schema of the key at `path`, or undefined when Wharf does not implement it. */
export function schemaAt(path: readonly string[]): z.ZodType | undefined {
  let current: z.ZodType = configSchema;
  for (const key of path) {
    const node = unwrapSchema(current);
    if (!(node instanceof z.ZodObject) || !Object.hasOwn(node.shape, key)) return undefined;
    current = node.shape[key] as z.ZodType;
  }
  return current;
}

/** The keys a mapping at `path` may hold: Wharf's and Distribution's. */
export function knownKeysAt(path: readonly string[]): string[] {
  const schema = schemaAt(path);
  const node = schema === undefined ? undefined : unwrapSchema(schema);
  const own = node instanceof z.ZodObject ? Object.keys(node.shape) : [];
  return [...own, ...distributionKeysUnder(path.join('.'))];
}

/** Whether the key at `path` is a list of strings (http.tls.clientcas): variables may set its items. */
export function isListAt(path: readonly string[]): boolean {
  let current = schemaAt(path);
  while (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodOptional) {
    current = current.unwrap() as z.ZodType;
  }
  return current !== undefined && isTextList(current);
}
