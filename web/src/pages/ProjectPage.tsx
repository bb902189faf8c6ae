import { useState } from 'react';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { formatBytes, formatTime } from '../format.ts';
import { getProject, getQuota, listMembers, listRepositories } from '../registry.ts';
import { Link, paths } from '../router.tsx';
import type { Session } from '../session.ts';
import { useLoad } from '../use-load.ts';

export function ProjectPage(props: { session: Session; project: string }) {
  const { session, project } = props;
  const details = useLoad(() => getProject(session, project), `project ${project}`);
  const repositories = useLoad(() => listRepositories(session, project), `repositories ${project}`);
  const [filter, setFilter] = useState('');
  const shown = (repositories.data ?? []).filter((repository) => repository.name.includes(filter.trim()));
  return (
    <section>
      <h1>{project}</h1>
      <ErrorMessage error={details.error} />
      {details.data?.public !== undefined && (
        <p className="hint">
          {details.data.public ? 'Public' : 'Private'} project · your role: {details.data.role ?? 'none'}
        </p>
      )}
      {session.projects && <ProjectFacts project={project} />}
      <h2>Repositories</h2>
      <input
        className="filter"
        type="search"
        placeholder="Filter repositories"
        aria-label="Filter repositories"
        value={filter}
        onChange={(e) => setFilter(e.target.value)}
      />
      <ErrorMessage error={repositories.error} />
      {repositories.loading && !repositories.data && <p className="hint">Loading…</p>}
      {repositories.data && (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Artifacts</th>
              <th>Tags</th>
              <th>Last push</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((repository) => (
              <tr key={repository.name}>
                <td>
                  <Link to={paths.repository(repository.name)}>{repository.name}</Link>
                </td>
                <td>{repository.artifactCount ?? '—'}</td>
                <td>{repository.tagCount ?? '—'}</td>
                <td>{formatTime(repository.updatedAt)}</td>
              </tr>
            ))}
            {shown.length === 0 && (
              <tr>
                <td colSpan={4} className="hint">
                  No repositories{filter ? ' match' : ' yet'}.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Quota and members: shown when the caller may read them, left out (not an error) otherwise. */
function ProjectFacts(props: { project: string }) {
  const quota = useLoad(() => getQuota(props.project), `quota ${props.project}`);
  const members = useLoad(() => listMembers(props.project), `members ${props.project}`);
  return (
    <div className="facts">
      {quota.data && (
        <div>
          <h2>Usage</h2>
          <p>
            {formatBytes(quota.data.used.bytes)}
            {quota.data.limits.bytes !== null && ` of ${formatBytes(quota.data.limits.bytes)}`} ·{' '}
            {quota.data.used.artifacts} artifacts
            {quota.data.limits.artifacts !== null && ` of ${quota.data.limits.artifacts}`}
          </p>
        </div>
      )}
      {members.data && (
        <div>
          <h2>Members</h2>
          <ul className="plain">
            {members.data.map((member) => (
              <li key={member.id}>
                {member.member_name}{' '}
                <span className="hint">
                  ({member.member_kind}, {member.role})
                </span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
