import { useEffect, useId, useRef, useState } from 'react';
import type { User } from '@switchboard/client';
import { useChatModel } from '../hooks/chat-context.ts';

/** User names the API accepts as a search prefix. */
const PREFIX_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;
const SEARCH_DELAY_MS = 250;

interface MemberPickerProps {
  /** Label of the search field. */
  label: string;
  selected: readonly User[];
  onChange: (users: User[]) => void;
  /** Ids of users who cannot be picked, such as current members. */
  exclude?: ReadonlySet<string>;
}

type SearchResult = { prefix: string; users: User[] } | { prefix: string; error: string };

/**
 * Picks users by the start of their user name: a search field, the matches as buttons that
 * add a user, and the picked users as buttons that remove them again.
 */
export function MemberPicker({ label, selected, onChange, exclude }: MemberPickerProps) {
  const model = useChatModel();
  const ids = useId();
  const [query, setQuery] = useState('');
  const [result, setResult] = useState<SearchResult | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const prefix = query.trim();
  const searchable = PREFIX_PATTERN.test(prefix);

  useEffect(() => {
    if (!searchable) return;
    let cancelled = false;
    const timer = setTimeout(() => {
      model.searchUsers(prefix).then(
        (users) => {
          if (!cancelled) setResult({ prefix, users });
        },
        (err: unknown) => {
          if (!cancelled) setResult({ prefix, error: err instanceof Error ? err.message : String(err) });
        },
      );
    }, SEARCH_DELAY_MS);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [model, prefix, searchable]);

  const current = result !== null && result.prefix === prefix && searchable ? result : null;
  const chosen = new Set(selected.map((user) => user.id));
  const matches =
    current !== null && 'users' in current
      ? current.users.filter((user) => !chosen.has(user.id) && exclude?.has(user.id) !== true)
      : [];
  let status = '';
  if (prefix !== '' && !searchable)
    status = 'User names contain only letters, digits, dots, dashes and underscores.';
  else if (searchable && current === null) status = 'Searching…';
  else if (current !== null && 'error' in current) status = `Search failed: ${current.error}`;
  else if (current !== null) status = matches.length === 0 ? 'Nobody found.' : `${matches.length} found.`;

  return (
    <div className="member-picker">
      <label htmlFor={`${ids}-query`}>{label}</label>
      <input
        id={`${ids}-query`}
        ref={inputRef}
        type="search"
        autoComplete="off"
        autoCapitalize="none"
        spellCheck={false}
        aria-describedby={`${ids}-status`}
        value={query}
        onChange={(event) => setQuery(event.target.value)}
        onKeyDown={(event) => {
          // Enter would submit the surrounding form before a match was picked.
          if (event.key === 'Enter') event.preventDefault();
          if (event.key === 'Escape' && query !== '') {
            event.preventDefault();
            setQuery('');
          }
        }}
      />
      <p id={`${ids}-status`} className="search-status" role="status">
        {status}
      </p>
      {matches.length > 0 && (
        <ul className="search-results" aria-label={`Matches for ${prefix}`}>
          {matches.map((user) => (
            <li key={user.id}>
              <button
                type="button"
                onClick={() => {
                  onChange([...selected, user]);
                  // The picked match leaves the list, so focus returns to the field for the next name.
                  setQuery('');
                  inputRef.current?.focus();
                }}
              >
                <span className="result-name">{user.displayName}</span>
                <span className="result-username">@{user.username}</span>
                <span className="visually-hidden">, add</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {selected.length > 0 && (
        <ul className="picked" aria-label="Picked people">
          {selected.map((user) => (
            <li key={user.id}>
              <button
                type="button"
                className="chip"
                onClick={() => onChange(selected.filter((candidate) => candidate.id !== user.id))}
              >
                {user.displayName || user.username}
                <span aria-hidden="true"> ×</span>
                <span className="visually-hidden">, remove</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
