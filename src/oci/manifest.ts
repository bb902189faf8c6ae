import { type Digest, parseDigest } from './digest.ts';
import { RegistryError } from './errors.ts';
import { bareMediaType, imageManifestTypes, indexManifestTypes, MediaTypes, schema1Types } from './media-types.ts';

/** The manifest size limit of Distribution and the OCI spec's recommendation. */
export const maxManifestBytes = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

/** What the registry needs to know about a manifest to store, link and serve it. */
export interface ParsedManifest {
  mediaType: string;
  /** Blobs the manifest points at (config, layers); they must exist in the repository. */
  blobs: Descriptor[];
  /** Manifests an index points at; they must exist in the repository. */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** artifactType, else config.mediaType for image manifests (as the referrers API reports it). */
  artifactType?: string;
  annotations?: Record<string, string>;
  configDigest?: Digest;
}

type Json = Record<string, unknown>;

/**
 * Parses and validates manifest bytes as the registry receives them. `contentType` is the request's
 * Content-Type; the manifest's own `mediaType` field, when present, must agree with it.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  if (bytes.length > maxManifestBytes) {
    throw new RegistryError('SIZE_INVALID', `manifest larger than ${maxManifestBytes} bytes`, { status: 413 });
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw invalid(`manifest is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(json)) throw invalid('manifest must be a JSON object');
  const headerType = bareMediaType(contentType);
  const fieldType = typeof json.mediaType === 'string' ? json.mediaType : undefined;

  if (json.schemaVersion === 1 || schema1Types.has(headerType) || (fieldType && schema1Types.has(fieldType))) {
    throw invalid(
      'Docker image manifest schema 1 is deprecated and not supported; push with schema 2 or OCI (e.g. docker >= 1.10, skopeo --format v2s2)',
    );
  }
  if (json.schemaVersion !== 2) throw invalid('schemaVersion must be 2');
  if (json.mediaType !== undefined && typeof json.mediaType !== 'string') throw invalid('mediaType must be a string');

  const mediaType = resolveMediaType(headerType, fieldType, json);
  if (indexManifestTypes.has(mediaType)) return parseIndex(json, mediaType);
  return parseImage(json, mediaType);
}

function resolveMediaType(headerType: string, fieldType: string | undefined, json: Json): string {
  if (fieldType && headerType && fieldType !== headerType) {
    throw invalid(`mediaType "${fieldType}" in the manifest does not match Content-Type "${headerType}"`);
  }
  const mediaType = fieldType || headerType || guessMediaType(json);
  if (!imageManifestTypes.has(mediaType) && !indexManifestTypes.has(mediaType)) {
    throw invalid(`unsupported manifest media type "${mediaType.slice(0, 200)}"`);
  }
  return mediaType;
}

/** OCI permits omitting mediaType; the shape then tells an index from an image. */
function guessMediaType(json: Json): string {
  if (Array.isArray(json.manifests)) return MediaTypes.ociIndex;
  if (isObject(json.config) || Array.isArray(json.layers)) return MediaTypes.ociManifest;
  return '';
}

function parseImage(json: Json, mediaType: string): ParsedManifest {
  if (json.manifests !== undefined) throw invalid('an image manifest must not have "manifests"');
  const config = parseDescriptor(json.config, 'config');
  if (!Array.isArray(json.layers)) throw invalid('"layers" must be an array');
  const layers = json.layers.map((layer, index) => parseDescriptor(layer, `layers[${index}]`));
  if (mediaType === MediaTypes.dockerManifest) {
    if (layers.length === 0) throw invalid('a Docker schema 2 manifest must have at least one layer');
  }
  const subject = json.subject === undefined ? undefined : parseDescriptor(json.subject, 'subject');
  const artifactType = optionalString(json.artifactType, 'artifactType') ?? config.mediaType;
  return {
    mediaType,
    blobs: [config, ...layers],
    manifests: [],
    subject,
    artifactType,
    annotations: parseAnnotations(json.annotations, 'annotations'),
    configDigest: config.digest,
  };
}

function parseIndex(json: Json, mediaType: string): ParsedManifest {
  if (json.layers !== undefined || json.config !== undefined) {
    throw invalid('an index must not have "config" or "layers"');
  }
  if (!Array.isArray(json.manifests)) throw invalid('"manifests" must be an array');
  const manifests = json.manifests.map((child, index) => parseDescriptor(child, `manifests[${index}]`));
  const subject = json.subject === undefined ? undefined : parseDescriptor(json.subject, 'subject');
  return {
    mediaType,
    blobs: [],
    manifests,
    subject,
    artifactType: optionalString(json.artifactType, 'artifactType'),
    annotations: parseAnnotations(json.annotations, 'annotations'),
  };
}

export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  if (typeof value.mediaType !== 'string' || value.mediaType === '') {
    throw invalid(`${where}.mediaType must be a non-empty string`);
  }
  if (typeof value.digest !== 'string') throw invalid(`${where}.digest must be a string`);
  let digest: Digest;
  try {
    digest = parseDigest(value.digest);
  } catch (error) {
    throw invalid(`${where}.digest: ${(error as Error).message}`);
  }
  if (typeof value.size !== 'number' || !Number.isSafeInteger(value.size) || value.size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  const descriptor: Descriptor = { mediaType: value.mediaType, digest, size: value.size };
  const artifactType = optionalString(value.artifactType, `${where}.artifactType`);
  if (artifactType !== undefined) descriptor.artifactType = artifactType;
  const annotations = parseAnnotations(value.annotations, `${where}.annotations`);
  if (annotations !== undefined) descriptor.annotations = annotations;
  if (isObject(value.platform)) {
    const { architecture, os, variant } = value.platform;
    if (typeof architecture === 'string' && typeof os === 'string') {
      descriptor.platform = { architecture, os, ...(typeof variant === 'string' ? { variant } : {}) };
    }
  }
  return descriptor;
}

function parseAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw invalid(`${where} must be an object of strings`);
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw invalid(`${where}["${key.slice(0, 100)}"] must be a string`);
  }
  return value as Record<string, string>;
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${where} must be a string`);
  return value;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(message: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message);
}
