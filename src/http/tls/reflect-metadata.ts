/**
 * The part of the Reflect metadata API that @peculiar/x509's dependency injection container
 * (tsyringe) calls, installed only when no full polyfill is loaded. It must be imported before
 * `@peculiar/x509`, whose loading fails without it.
 */
type MetadataTarget = object;

const store = new WeakMap<MetadataTarget, Map<unknown, unknown>>();

function ownMetadata(key: unknown, target: MetadataTarget): unknown {
  return store.get(target)?.get(key);
}

function metadata(key: unknown, target: MetadataTarget): unknown {
  for (let current: MetadataTarget | null = target; current !== null; current = Object.getPrototypeOf(current)) {
    const value = store.get(current);
    if (value?.has(key)) return value.get(key);
  }
  return undefined;
}

function defineMetadata(key: unknown, value: unknown, target: MetadataTarget): void {
  let entries = store.get(target);
  if (!entries) {
    entries = new Map();
    store.set(target, entries);
  }
  entries.set(key, value);
}

const reflect = Reflect as unknown as Record<string, unknown>;
if (typeof reflect.getMetadata !== 'function') {
  Object.assign(reflect, { getMetadata: metadata, getOwnMetadata: ownMetadata, defineMetadata });
}
