import { type MouseEvent, type ReactNode, useSyncExternalStore } from 'react';

/** The app's pages; their paths are below /ui/, where the server answers index.html for any of them. */
export type Route =
  | { page: 'projects' }
  | { page: 'project'; project: string }
  | { page: 'repository'; repository: string }
  | { page: 'artifact'; repository: string; digest: string }
  | { page: 'not-found' };

const base = '/ui/';

export function parseRoute(pathname: string): Route {
  if (!pathname.startsWith(base)) return { page: 'not-found' };
  let rest: string;
  try {
    rest = decodeURIComponent(pathname.slice(base.length)).replace(/\/+$/, '');
  } catch {
    return { page: 'not-found' };
  }
  if (rest === '' || rest === 'projects') return { page: 'projects' };
  const [, project] = /^projects\/([^/]+)$/.exec(rest) ?? [];
  if (project) return { page: 'project', project };
  const [, repository, digest] = /^repo\/([^@]+?)(?:@(.+))?$/.exec(rest) ?? [];
  if (repository && digest) return { page: 'artifact', repository, digest };
  if (repository) return { page: 'repository', repository };
  return { page: 'not-found' };
}

export const paths = {
  projects: () => base,
  project: (name: string) => `${base}projects/${encodeURIComponent(name)}`,
  repository: (name: string) => `${base}repo/${name}`,
  artifact: (name: string, digest: string) => `${base}repo/${name}@${digest}`,
};

const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener('popstate', listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener('popstate', listener);
  };
}

export function navigate(path: string): void {
  window.history.pushState(null, '', path);
  window.scrollTo(0, 0);
  for (const listener of listeners) listener();
}

export function useRoute(): Route {
  const pathname = useSyncExternalStore(subscribe, () => window.location.pathname);
  return parseRoute(pathname);
}

export function Link(props: { to: string; children: ReactNode; className?: string }) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(props.to);
  };
  return (
    <a href={props.to} onClick={onClick} className={props.className}>
      {props.children}
    </a>
  );
}
