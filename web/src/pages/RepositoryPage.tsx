import { useState } from 'react';
import { ReferrerSummary } from '../components/ArtifactFacts.tsx';
import { ConfirmButton } from '../components/ConfirmButton.tsx';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { artifactKind, formatBytes, formatTime, shortDigest } from '../format.ts';
import { cosignSignatureTag, deleteReference, isIndex, listArtifacts } from '../registry.ts';
import { Link, paths } from '../router.tsx';
import type { Session } from '../session.ts';
import { useLoad } from '../use-load.ts';

export function RepositoryPage(props: { session: Session; repository: string }) {
  const { session, repository } = props;
  const artifacts = useLoad(() => listArtifacts(session, repository), `artifacts ${repository}`);
  const [filter, setFilter] = useState('');
  const allTags = new Set((artifacts.data ?? []).flatMap((artifact) => artifact.tags));
  const needle = filter.trim();
  const shown = (artifacts.data ?? []).filter(
    (artifact) => needle === '' || artifact.digest.includes(needle) || artifact.tags.some((t) => t.includes(needle)),
  );
  const project = repository.split('/')[0] ?? repository;
  return (
    <section>
      <p className="crumbs">
        <Link to={paths.project(project)}>{project}</Link> /
      </p>
      <h1>{repository}</h1>
      <input
        className="filter"
        type="search"
        placeholder="Filter by tag or digest"
        aria-label="Filter artifacts"
        value={filter}
        onChange={(e) => setFilter(e.target.value)}
      />
      <ErrorMessage error={artifacts.error} />
      {artifacts.loading && !artifacts.data && <p className="hint">Loading…</p>}
      {artifacts.data && (
        <table>
          <thead>
            <tr>
              <th>Digest</th>
              <th>Tags</th>
              <th>Type</th>
              <th>Manifest size</th>
              <th>Pushed</th>
              <th>Images</th>
              <th>Referrers</th>
              {session.delete_enabled && <th />}
            </tr>
          </thead>
          <tbody>
            {shown.map((artifact) => (
              <tr key={artifact.digest}>
                <td>
                  <Link to={paths.artifact(repository, artifact.digest)} className="digest">
                    {shortDigest(artifact.digest)}
                  </Link>
                </td>
                <td>
                  {artifact.tags.map((tag) => (
                    <span key={tag} className="tag">
                      {tag}
                      {session.delete_enabled && (
                        <ConfirmButton
                          small
                          label="×"
                          question={`Delete tag ${tag}?`}
                          action={async () => {
                            await deleteReference(repository, tag);
                            artifacts.reload();
                          }}
                        />
                      )}
                    </span>
                  ))}
                </td>
                <td title={artifact.mediaType}>{artifactKind(artifact.mediaType, artifact.artifactType)}</td>
                <td>{formatBytes(artifact.size)}</td>
                <td>{formatTime(artifact.pushedAt)}</td>
                <td>{isIndex(artifact.mediaType) ? indexSummary(artifact.children.length) : '—'}</td>
                <td>
                  <ReferrerSummary
                    repository={repository}
                    digest={artifact.digest}
                    signedByTag={allTags.has(cosignSignatureTag(artifact.digest))}
                  />
                </td>
                {session.delete_enabled && (
                  <td>
                    <ConfirmButton
                      small
                      label="Delete"
                      question={`Delete ${shortDigest(artifact.digest)} and its tags?`}
                      action={async () => {
                        await deleteReference(repository, artifact.digest);
                        artifacts.reload();
                      }}
                    />
                  </td>
                )}
              </tr>
            ))}
            {shown.length === 0 && (
              <tr>
                <td colSpan={8} className="hint">
                  No artifacts{needle ? ' match' : ''}.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The list does not read manifests (a read would count as a pull); the artifact's page names the platforms. */
function indexSummary(children: number): string {
  return children === 0 ? 'index' : `${children} manifest${children === 1 ? '' : 's'}`;
}
