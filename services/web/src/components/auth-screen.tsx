import { useId, useState, type FormEvent } from 'react';
import { ApiError, NetworkError } from '@switchboard/client';
import { useChatModel } from '../hooks/chat-context.ts';

type Mode = 'login' | 'register';

const USERNAME_PATTERN = '[A-Za-z0-9_.\\-]{3,32}';

/** Log-in and registration form. */
export function AuthScreen({ notice }: { notice: string | null }) {
  const model = useChatModel();
  const [mode, setMode] = useState<Mode>('login');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ids = useId();

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'login') await model.login(username.trim(), password);
      else await model.register(username.trim(), password, displayName.trim() || undefined);
    } catch (err) {
      setError(describeAuthError(err, mode));
      setBusy(false);
    }
  };

  const switchMode = (next: Mode) => {
    setMode(next);
    setError(null);
  };

  const heading = mode === 'login' ? 'Log in' : 'Create an account';
  return (
    <main className="auth">
      <div className="auth-card">
        <h1 className="brand">Switchboard</h1>
        <div className="auth-tabs" role="group" aria-label="Account">
          <button type="button" aria-pressed={mode === 'login'} onClick={() => switchMode('login')}>
            Log in
          </button>
          <button type="button" aria-pressed={mode === 'register'} onClick={() => switchMode('register')}>
            Create account
          </button>
        </div>
        <form onSubmit={(event) => void submit(event)} aria-labelledby={`${ids}-heading`} noValidate={false}>
          <h2 id={`${ids}-heading`}>{heading}</h2>
          {notice !== null && (
            <p className="notice" role="status">
              {notice}
            </p>
          )}
          <label htmlFor={`${ids}-username`}>User name</label>
          <input
            id={`${ids}-username`}
            name="username"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            required
            pattern={USERNAME_PATTERN}
            aria-describedby={mode === 'register' ? `${ids}-username-hint` : undefined}
            value={username}
            onChange={(event) => setUsername(event.target.value)}
          />
          {mode === 'register' && (
            <p id={`${ids}-username-hint`} className="hint">
              3 to 32 letters, digits, dots, dashes or underscores.
            </p>
          )}
          {mode === 'register' && (
            <>
              <label htmlFor={`${ids}-display`}>Display name (optional)</label>
              <input
                id={`${ids}-display`}
                name="displayName"
                autoComplete="nickname"
                maxLength={64}
                value={displayName}
                onChange={(event) => setDisplayName(event.target.value)}
              />
            </>
          )}
          <label htmlFor={`${ids}-password`}>Password</label>
          <input
            id={`${ids}-password`}
            name="password"
            type="password"
            autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
            required
            minLength={mode === 'register' ? 8 : 1}
            aria-describedby={mode === 'register' ? `${ids}-password-hint` : undefined}
            value={password}
            onChange={(event) => setPassword(event.target.value)}
          />
          {mode === 'register' && (
            <p id={`${ids}-password-hint`} className="hint">
              At least 8 characters.
            </p>
          )}
          {error !== null && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Please wait…' : heading}
          </button>
        </form>
      </div>
    </main>
  );
}

function describeAuthError(err: unknown, mode: Mode): string {
  if (err instanceof NetworkError) return 'The server cannot be reached. Check the connection and try again.';
  if (err instanceof ApiError) {
    if (err.code === 'SWB_ERR_AUTH_INVALID_CREDENTIALS') return 'User name or password is wrong.';
    if (err.code === 'SWB_ERR_USERNAME_TAKEN') return 'That user name is taken. Choose another one.';
    if (err.code === 'SWB_ERR_REQUEST_INVALID') {
      return mode === 'register'
        ? 'Check the user name (3 to 32 letters, digits, dots, dashes or underscores) and the password (at least 8 characters).'
        : 'Enter your user name and password.';
    }
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
