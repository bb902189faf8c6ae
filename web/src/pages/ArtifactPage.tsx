import { ConfirmButton } from '../components/ConfirmButton.tsx';
import { CopyText } from '../components/CopyText.tsx';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { formatBytes, formatTime, mediaTypeName, shortDigest } from '../format.ts';
import {
  type Descriptor,
  deleteReference,
  getManifest,
  isSignature,
  listArtifacts,
  listReferrers,
} from '../registry.ts';
import { Link, navigate, paths } from '../router.tsx';
import type { Session } from '../session.ts';
import { useLoad } from '../use-load.ts';

export function ArtifactPage(props: { session: Session; repository: string; digest: string }) {
  const { session, repository, digest } = props;
  const key = `${repository}@${digest}`;
  const manifest = useLoad(() => getManifest(repository, digest), `manifest ${key}`);
  const referrers = useLoad(() => listReferrers(repository, digest), `referrers ${key}`);
  const listed = useLoad(
    async () => (await listArtifacts(session, repository)).find((artifact) => artifact.digest === digest),
    `artifacts ${key}`,
  );
  const parsed = manifest.data?.manifest;
  const layers = parsed?.layers ?? [];
  const total =
    parsed && !parsed.manifests
      ? (manifest.data?.text.length ?? 0) + (parsed.config?.size ?? 0) + layers.reduce((sum, l) => sum + l.size, 0)
      : undefined;
  const tags = listed.data?.tags ?? [];
  return (
    <section>
      <p className="crumbs">
        <Link to={paths.repository(repository)}>{repository}</Link> @
      </p>
      <h1 className="digest" data-testid="artifact-digest">
        {digest}
      </h1>
      <CopyText testId="pull-command" text={`${window.location.host}/${repository}@${digest}`} />
      <ErrorMessage error={manifest.error} />
      <dl className="facts">
        <dt>Type</dt>
        <dd>{manifest.data ? mediaTypeName(manifest.data.mediaType) : '…'}</dd>
        {parsed?.artifactType && (
          <>
            <dt>Artifact type</dt>
            <dd>{parsed.artifactType}</dd>
          </>
        )}
        <dt>Size</dt>
        <dd>{total === undefined ? '—' : formatBytes(total)}</dd>
        <dt>Pushed</dt>
        <dd>{formatTime(listed.data?.pushedAt)}</dd>
        {parsed?.subject && (
          <>
            <dt>Refers to</dt>
            <dd>
              <Link to={paths.artifact(repository, parsed.subject.digest)}>{shortDigest(parsed.subject.digest)}</Link>
            </dd>
          </>
        )}
        <dt>Tags</dt>
        <dd>
          {tags.length === 0 && <span className="hint">none</span>}
          {tags.map((tag) => (
            <span key={tag} className="tag">
              {tag}
              {session.delete_enabled && (
                <ConfirmButton
                  small
                  label="×"
                  question={`Delete tag ${tag}?`}
                  action={async () => {
                    await deleteReference(repository, tag);
                    listed.reload();
                  }}
                />
              )}
            </span>
          ))}
        </dd>
      </dl>
      {session.delete_enabled && (
        <ConfirmButton
          label="Delete artifact"
          question={`Delete ${shortDigest(digest)} and every tag on it?`}
          action={async () => {
            await deleteReference(repository, digest);
            navigate(paths.repository(repository));
          }}
        />
      )}
      {parsed?.manifests && (
        <>
          <h2>Manifests</h2>
          <DescriptorTable repository={repository} rows={parsed.manifests} linked />
        </>
      )}
      {parsed?.config && (
        <>
          <h2>Config and layers</h2>
          <DescriptorTable repository={repository} rows={[parsed.config, ...layers]} />
        </>
      )}
      <h2>Referrers</h2>
      <ErrorMessage error={referrers.error} />
      {referrers.data && referrers.data.length === 0 && <p className="hint">No signatures, SBOMs or attestations.</p>}
      {referrers.data && referrers.data.length > 0 && (
        <DescriptorTable repository={repository} rows={referrers.data} linked />
      )}
      {manifest.data && (
        <details>
          <summary>Manifest JSON</summary>
          <pre>{JSON.stringify(parsed, null, 2)}</pre>
        </details>
      )}
    </section>
  );
}

function DescriptorTable(props: { repository: string; rows: Descriptor[]; linked?: boolean }) {
  return (
    <table>
      <thead>
        <tr>
          <th>Digest</th>
          <th>Media type</th>
          <th>Platform / artifact type</th>
          <th>Size</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row) => (
          <tr key={`${row.digest}-${row.mediaType}`}>
            <td className="digest">
              {props.linked ? (
                <Link to={paths.artifact(props.repository, row.digest)}>{shortDigest(row.digest)}</Link>
              ) : (
                shortDigest(row.digest)
              )}
            </td>
            <td>{row.mediaType}</td>
            <td>
              {row.platform
                ? [row.platform.os, row.platform.architecture, row.platform.variant].filter(Boolean).join('/')
                : (row.artifactType ?? '')}
              {isSignature(row.artifactType) && <span className="badge">signature</span>}
            </td>
            <td>{formatBytes(row.size)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
