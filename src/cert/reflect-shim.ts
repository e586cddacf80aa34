/**
 * @peculiar/x509 registers its algorithms through tsyringe, which refuses to load unless the
 * `Reflect.getMetadata` family (the "reflect-metadata" polyfill API) exists. x509 never emits
 * decorator metadata itself, so tsyringe only ever reads "no constructor parameters" from it.
 * Instead of another runtime dependency we install the few functions tsyringe calls, backed by
 * a WeakMap, and only when no real polyfill is present (a later `import 'reflect-metadata'`
 * simply replaces them; tsyringe reads the metadata once, at class definition time).
 */

type MetadataKey = unknown;
type PropertyKeyOrNone = string | symbol | undefined;

const metadataStore = new WeakMap<object, Map<PropertyKeyOrNone, Map<MetadataKey, unknown>>>();

function ownMetadataMap(target: object, propertyKey: PropertyKeyOrNone, create: boolean) {
  let byProperty = metadataStore.get(target);
  if (!byProperty) {
    if (!create) return undefined;
    byProperty = new Map();
    metadataStore.set(target, byProperty);
  }
  let entries = byProperty.get(propertyKey);
  if (!entries) {
    if (!create) return undefined;
    entries = new Map();
    byProperty.set(propertyKey, entries);
  }
  return entries;
}

function defineMetadata(key: MetadataKey, value: unknown, target: object, propertyKey?: string | symbol) {
  ownMetadataMap(target, propertyKey, true)!.set(key, value);
}

function getOwnMetadata(key: MetadataKey, target: object, propertyKey?: string | symbol): unknown {
  return ownMetadataMap(target, propertyKey, false)?.get(key);
}

function hasOwnMetadata(key: MetadataKey, target: object, propertyKey?: string | symbol): boolean {
  return ownMetadataMap(target, propertyKey, false)?.has(key) ?? false;
}

// Metadata is inherited along the prototype chain, like reflect-metadata's OrdinaryGetMetadata.
// Prototype chains are finite and acyclic, so the walk ends at null.
function getMetadata(key: MetadataKey, target: object, propertyKey?: string | symbol): unknown {
  for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o)) {
    if (hasOwnMetadata(key, o, propertyKey)) return getOwnMetadata(key, o, propertyKey);
  }
  return undefined;
}

function hasMetadata(key: MetadataKey, target: object, propertyKey?: string | symbol): boolean {
  for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o)) {
    if (hasOwnMetadata(key, o, propertyKey)) return true;
  }
  return false;
}

function metadata(key: MetadataKey, value: unknown) {
  return (target: object, propertyKey?: string | symbol) => defineMetadata(key, value, target, propertyKey);
}

/** Installs the metadata functions on the global `Reflect` unless a polyfill already provides them. */
export function installReflectMetadataShim(): void {
  const reflect = Reflect as unknown as Record<string, unknown>;
  if (typeof reflect.getMetadata === 'function') return;
  const functions: Record<string, unknown> = {
    defineMetadata,
    getOwnMetadata,
    hasOwnMetadata,
    getMetadata,
    hasMetadata,
    metadata,
  };
  for (const [name, fn] of Object.entries(functions)) {
    Object.defineProperty(reflect, name, { value: fn, configurable: true, writable: true });
  }
}
