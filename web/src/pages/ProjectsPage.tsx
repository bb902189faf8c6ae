import { type FormEvent, useState } from 'react';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { createProject, listProjects } from '../registry.ts';
import { Link, navigate, paths } from '../router.tsx';
import type { Session } from '../session.ts';
import { useLoad } from '../use-load.ts';

export function ProjectsPage(props: { session: Session }) {
  const { session } = props;
  const projects = useLoad(() => listProjects(session), 'projects');
  const [filter, setFilter] = useState('');
  const shown = (projects.data ?? []).filter((project) => project.name.includes(filter.trim()));
  return (
    <section>
      <h1>Projects</h1>
      {!session.projects && <p className="hint">Repositories grouped by the first part of their name.</p>}
      {session.projects && session.user && <NewProject />}
      <input
        className="filter"
        type="search"
        placeholder="Filter projects"
        aria-label="Filter projects"
        value={filter}
        onChange={(e) => setFilter(e.target.value)}
      />
      <ErrorMessage error={projects.error} />
      {projects.loading && !projects.data && <p className="hint">Loading…</p>}
      {projects.data && (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              {session.projects && <th>Access</th>}
              <th>Repositories</th>
              {session.projects && <th>Your role</th>}
            </tr>
          </thead>
          <tbody>
            {shown.map((project) => (
              <tr key={project.name}>
                <td>
                  <Link to={paths.project(project.name)}>{project.name}</Link>
                </td>
                {session.projects && <td>{project.public ? 'public' : 'private'}</td>}
                <td>{project.repoCount}</td>
                {session.projects && <td>{project.role ?? '—'}</td>}
              </tr>
            ))}
            {shown.length === 0 && (
              <tr>
                <td colSpan={4} className="hint">
                  No projects{filter ? ' match' : ' yet'}.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}

function NewProject() {
  const [name, setName] = useState('');
  const [isPublic, setPublic] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    try {
      await createProject(name.trim(), isPublic);
      navigate(paths.project(name.trim()));
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <form className="inline" onSubmit={submit}>
      <input
        name="project"
        placeholder="new-project"
        aria-label="New project name"
        required
        value={name}
        onChange={(e) => setName(e.target.value)}
      />
      <label>
        <input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.target.checked)} /> public
      </label>
      <button type="submit">Create project</button>
      <ErrorMessage error={error} />
    </form>
  );
}
