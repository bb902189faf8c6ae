import { allPages, getJson, request, sendJson } from './api.ts';
import type { Session } from './session.ts';

/**
 * What the pages show, read from the management API in projects mode and from the distribution
 * API (/v2/) otherwise, where a "project" is the first component of repository names.
 */
export interface Project {
  name: string;
  public?: boolean;
  repoCount: number;
  role?: string | null;
}

export interface Repository {
  name: string;
  artifactCount?: number;
  tagCount?: number;
  updatedAt?: string;
}

export interface Artifact {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  /** The manifest's own bytes. */
  size: number;
  tags: string[];
  pushedAt: string | null;
  subjectDigest: string | null;
  children: string[];
}

export interface Member {
  id: number;
  member_kind: string;
  member_name: string;
  role: string;
}

export interface Quota {
  limits: { bytes: number | null; artifacts: number | null };
  used: { bytes: number; artifacts: number };
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface Manifest {
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export const manifestMediaTypes = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

export function isIndex(mediaType: string): boolean {
  return mediaType.includes('index') || mediaType.includes('manifest.list');
}

/** `team/app/api` → project `team`, repository `app/api` below it, as the management API names them. */
function splitName(repository: string): { project: string; relative: string } | undefined {
  const slash = repository.indexOf('/');
  if (slash < 0) return undefined;
  return { project: repository.slice(0, slash), relative: repository.slice(slash + 1) };
}

const projectPath = (name: string) => `/api/v1/projects/${encodeURIComponent(name)}`;

interface ApiProject {
  name: string;
  public: boolean;
  repo_count?: number;
  current_user_role?: string | null;
}

interface ApiArtifact {
  digest: string;
  media_type: string;
  artifact_type: string | null;
  size: number;
  tags: string[];
  pushed_at: string;
  subject_digest: string | null;
  manifests: string[];
}

async function catalog(): Promise<string[]> {
  const names: string[] = [];
  let last = '';
  for (let page = 0; page < 50; page++) {
    const query = `n=1000${last === '' ? '' : `&last=${encodeURIComponent(last)}`}`;
    const body = await getJson<{ repositories?: string[] }>(`/v2/_catalog?${query}`);
    const batch = body.repositories ?? [];
    names.push(...batch);
    if (batch.length < 1000) break;
    last = batch[batch.length - 1] ?? '';
  }
  return names;
}

function projectOf(repository: string): string {
  return splitName(repository)?.project ?? repository;
}

export async function listProjects(session: Session): Promise<Project[]> {
  if (session.projects) {
    const projects = await allPages<ApiProject>('/api/v1/projects');
    return projects.map((project) => ({
      name: project.name,
      public: project.public,
      repoCount: project.repo_count ?? 0,
      role: project.current_user_role ?? null,
    }));
  }
  const counts = new Map<string, number>();
  for (const name of await catalog()) counts.set(projectOf(name), (counts.get(projectOf(name)) ?? 0) + 1);
  return [...counts].map(([name, repoCount]) => ({ name, repoCount }));
}

export async function createProject(name: string, isPublic: boolean): Promise<void> {
  await sendJson('POST', '/api/v1/projects', { name, public: isPublic });
}

export async function getProject(session: Session, name: string): Promise<Project> {
  if (!session.projects) {
    const repositories = await listRepositories(session, name);
    return { name, repoCount: repositories.length };
  }
  const project = await getJson<ApiProject>(projectPath(name));
  return {
    name: project.name,
    public: project.public,
    repoCount: project.repo_count ?? 0,
    role: project.current_user_role ?? null,
  };
}

export async function listRepositories(session: Session, project: string): Promise<Repository[]> {
  if (session.projects) {
    const repositories = await allPages<{
      name: string;
      artifact_count: number;
      tag_count: number;
      updated_at: string;
    }>(`${projectPath(project)}/repositories`);
    return repositories.map((repository) => ({
      name: repository.name,
      artifactCount: repository.artifact_count,
      tagCount: repository.tag_count,
      updatedAt: repository.updated_at,
    }));
  }
  return (await catalog()).filter((name) => projectOf(name) === project).map((name) => ({ name }));
}

export const listMembers = (project: string) => allPages<Member>(`${projectPath(project)}/members`);

export const getQuota = (project: string) => getJson<Quota>(`${projectPath(project)}/quota`);

export async function listArtifacts(session: Session, repository: string): Promise<Artifact[]> {
  const parts = splitName(repository);
  if (session.projects && parts) {
    const path = `${projectPath(parts.project)}/repositories/${encodeURIComponent(parts.relative)}/artifacts`;
    const artifacts = await allPages<ApiArtifact>(path);
    return artifacts.map((artifact) => ({
      digest: artifact.digest,
      mediaType: artifact.media_type,
      artifactType: artifact.artifact_type,
      size: artifact.size,
      tags: artifact.tags,
      pushedAt: artifact.pushed_at,
      subjectDigest: artifact.subject_digest,
      children: artifact.manifests,
    }));
  }
  return artifactsFromTags(repository);
}

/** Without the management API: the tagged manifests, each found with a HEAD (which is not a pull). */
async function artifactsFromTags(repository: string): Promise<Artifact[]> {
  const body = await getJson<{ tags?: string[] | null }>(`/v2/${repository}/tags/list?n=1000`);
  const tags = (body.tags ?? []).slice(0, 500);
  const byDigest = new Map<string, Artifact>();
  const heads = await Promise.all(
    tags.map(async (tag) => {
      const response = await request(`/v2/${repository}/manifests/${tag}`, {
        method: 'HEAD',
        headers: { Accept: manifestMediaTypes.join(', ') },
      });
      return { tag, response };
    }),
  );
  for (const { tag, response } of heads) {
    const digest = response.headers.get('Docker-Content-Digest');
    if (!digest) continue;
    const known = byDigest.get(digest);
    if (known) {
      known.tags.push(tag);
      continue;
    }
    byDigest.set(digest, {
      digest,
      mediaType: (response.headers.get('Content-Type') ?? '').split(';')[0] ?? '',
      artifactType: null,
      size: Number(response.headers.get('Content-Length') ?? 0),
      tags: [tag],
      pushedAt: null,
      subjectDigest: null,
      children: [],
    });
  }
  return [...byDigest.values()];
}

/** The manifest's bytes through /v2/ (which counts as a pull), parsed, with its media type. */
export async function getManifest(
  repository: string,
  digest: string,
): Promise<{ manifest: Manifest; mediaType: string; text: string }> {
  const response = await request(`/v2/${repository}/manifests/${digest}`, {
    headers: { Accept: manifestMediaTypes.join(', ') },
  });
  const text = await response.text();
  const manifest = JSON.parse(text) as Manifest;
  const mediaType = manifest.mediaType ?? (response.headers.get('Content-Type') ?? '').split(';')[0] ?? '';
  return { manifest, mediaType, text };
}

/** The manifests whose subject is `digest` (signatures, SBOMs, attestations). */
export async function listReferrers(repository: string, digest: string): Promise<Descriptor[]> {
  const index = await getJson<{ manifests?: Descriptor[] }>(`/v2/${repository}/referrers/${digest}`);
  return index.manifests ?? [];
}

export async function deleteReference(repository: string, reference: string): Promise<void> {
  await request(`/v2/${repository}/manifests/${reference}`, { method: 'DELETE' });
}

/** Signatures by cosign's tag convention (`sha256-<hex>.sig`) or as referrers of a signature type. */
export function isSignature(artifactType: string | undefined | null): boolean {
  return artifactType !== undefined && artifactType !== null && /signature|\.sig\b|cosign/.test(artifactType);
}

export function cosignSignatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}
