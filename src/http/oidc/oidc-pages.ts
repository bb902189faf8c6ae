/** The pages of the sign-in flow: plain HTML, no script, every dynamic value escaped. */

export function cliSecretPage(options: { username: string; secret: string; registryHost: string }): string {
  const username = escapeHtml(options.username);
  const host = escapeHtml(options.registryHost);
  return page(
    'Signed in',
    `<h1>Signed in as <span id="username">${username}</span></h1>
<p>Your CLI secret, shown only this once:</p>
<pre><code id="cli-secret">${escapeHtml(options.secret)}</code></pre>
<p>Log in with it as your password:</p>
<pre><code>docker login ${host} --username ${username}</code></pre>
<p>Signing in again issues a new secret and ends this one.</p>`,
  );
}

export function errorPage(title: string, message: string): string {
  return page(
    title,
    `<h1>${escapeHtml(title)}</h1>
<p id="error">${escapeHtml(message)}</p>
<p><a href="login">Sign in again</a></p>`,
  );
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Wharf: ${escapeHtml(title)}</title></head>
<body>
${body}
</body>
</html>
`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}
