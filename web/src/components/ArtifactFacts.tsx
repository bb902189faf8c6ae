import { isSignature, listReferrers } from '../registry.ts';
import { useLoad } from '../use-load.ts';

/** The referrers of one artifact, as a count with a mark for signatures (one request per row). */
export function ReferrerSummary(props: { repository: string; digest: string; signedByTag: boolean }) {
  const referrers = useLoad(
    () => listReferrers(props.repository, props.digest),
    `referrers ${props.repository}@${props.digest}`,
  );
  const signed = props.signedByTag || (referrers.data ?? []).some((referrer) => isSignature(referrer.artifactType));
  if (referrers.error) return <span className="hint">?</span>;
  return (
    <span>
      {signed && <span className="badge">signed</span>} {referrers.data ? referrers.data.length : '…'}
    </span>
  );
}
