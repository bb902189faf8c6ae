import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { loadConfig } from '../../src/config/index.ts';
import { configSchema } from '../../src/config/schema.ts';
import { schemaAt, unwrapSchema } from '../../src/config/schema-walk.ts';

const documentation = resolve(import.meta.dirname, '..', '..', 'docs', 'configuration.md');

describe('docs/configuration.md', () => {
  it('has an example that loads without warnings', async () => {
    const text = await readFile(documentation, 'utf8');
    const example = /## Example\n\n```yaml\n([\s\S]*?)```/.exec(text)?.[1];
    assert.ok(example, 'the Example section has a yaml block');
    const dir = await mkdtemp(join(tmpdir(), 'wharf-config-docs-'));
    try {
      const file = join(dir, 'config.yml');
      await writeFile(file, example);
      const { config, warnings } = await loadConfig({ file, env: {} });
      assert.deepEqual(warnings, []);
      assert.equal(config.http.host, 'https://registry.example.com');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lists keys Wharf implements, each with its variable', async () => {
    const text = await readFile(documentation, 'utf8');
    const rows = [...text.matchAll(/^\| `([a-z0-9.]+)` *\|[^|]+\|[^|]+\| `(REGISTRY_[A-Z0-9_]+)`/gm)];
    assert.ok(rows.length >= 25, `found ${rows.length} key rows`);
    for (const [, key = '', variable] of rows) {
      assert.ok(schemaAt(key.split('.')), `${key} is a key of the schema`);
      assert.equal(variable, `REGISTRY_${key.toUpperCase().replaceAll('.', '_')}`);
    }
    const documented = new Set(rows.map(([, key]) => key));
    for (const key of leafKeys(configSchema, [])) assert.ok(documented.has(key), `${key} is documented`);
  });
});

/** Dotted paths of every key that is not a section. */
function leafKeys(schema: z.ZodType, path: string[]): string[] {
  const node = unwrapSchema(schema);
  if (!(node instanceof z.ZodObject)) return [path.join('.')];
  return Object.entries(node.shape).flatMap(([key, child]) => leafKeys(child as z.ZodType, [...path, key]));
}
