import { useEffect, useState } from 'react';
import { unauthorizedEvent } from './api.ts';
import { ErrorMessage } from './components/ErrorMessage.tsx';
import { ArtifactPage } from './pages/ArtifactPage.tsx';
import { ProjectPage } from './pages/ProjectPage.tsx';
import { ProjectsPage } from './pages/ProjectsPage.tsx';
import { RepositoryPage } from './pages/RepositoryPage.tsx';
import { SignInPage } from './pages/SignInPage.tsx';
import { Link, paths, type Route, useRoute } from './router.tsx';
import { loadSession, type Session, signOut } from './session.ts';

export function App() {
  const [session, setSession] = useState<Session>();
  const [error, setError] = useState<unknown>();
  const route = useRoute();
  useEffect(() => {
    loadSession().then(setSession, setError);
    // A 401 from any call: if the session ended, show the sign-in form instead of the error.
    const recheck = () => {
      loadSession().then((current) => {
        setSession(current);
        if (current.auth_enabled && current.user === null) setError(undefined);
      }, setError);
    };
    window.addEventListener(unauthorizedEvent, recheck);
    return () => window.removeEventListener(unauthorizedEvent, recheck);
  }, []);
  const leave = async () => {
    try {
      await signOut();
      setSession(await loadSession());
    } catch (failure) {
      setError(failure);
    }
  };
  const signedOut = session?.auth_enabled === true && session.user === null;
  return (
    <>
      <header>
        <Link to={paths.projects()} className="brand">
          Wharf
        </Link>
        <span className="spacer" />
        {session?.user && (
          <>
            <span className="user">{session.user.name}</span>
            <button type="button" className="small" onClick={leave}>
              Sign out
            </button>
          </>
        )}
      </header>
      <main>
        <ErrorMessage error={error} />
        {session && signedOut && <SignInPage onSignedIn={setSession} />}
        {session && !signedOut && <Page route={route} session={session} />}
      </main>
    </>
  );
}

function Page(props: { route: Route; session: Session }) {
  const { route, session } = props;
  switch (route.page) {
    case 'projects':
      return <ProjectsPage session={session} />;
    case 'project':
      return <ProjectPage key={route.project} session={session} project={route.project} />;
    case 'repository':
      return <RepositoryPage key={route.repository} session={session} repository={route.repository} />;
    case 'artifact':
      return (
        <ArtifactPage
          key={`${route.repository}@${route.digest}`}
          session={session}
          repository={route.repository}
          digest={route.digest}
        />
      );
    case 'not-found':
      return (
        <p>
          No such page. <Link to={paths.projects()}>Projects</Link>
        </p>
      );
  }
}
