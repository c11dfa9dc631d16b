import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import type { User } from '@switchboard/client';
import { useChatModel } from '../hooks/chat-context.ts';

/** User names the API accepts as a search prefix. */
const PREFIX_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;
const SEARCH_DELAY_MS = 250;

type SearchState =
  | { kind: 'idle' }
  | { kind: 'invalid' }
  | { kind: 'searching' }
  | { kind: 'done'; users: User[] }
  | { kind: 'failed'; message: string };

/** Outcome of the search for one prefix. */
type SearchResult = { prefix: string; users: User[] } | { prefix: string; error: string };

/** Searches users by the start of their user name and opens a chat with the one picked. */
export function UserSearch({ onOpen }: { onOpen: (conv: string) => void }) {
  const model = useChatModel();
  const [query, setQuery] = useState('');
  const [result, setResult] = useState<SearchResult | null>(null);
  const [openError, setOpenError] = useState<string | null>(null);
  const [opening, setOpening] = useState<string | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const resultsRef = useRef<HTMLUListElement>(null);
  const ids = useId();
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

  const state = searchStateOf(prefix, searchable, result, openError);

  const open = async (user: User) => {
    setOpening(user.id);
    setOpenError(null);
    try {
      const conv = await model.openDirect(user);
      setQuery('');
      onOpen(conv);
    } catch (err) {
      setOpenError(err instanceof Error ? err.message : String(err));
    } finally {
      setOpening(null);
    }
  };

  const onInputKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown') {
      const first = resultsRef.current?.querySelector<HTMLButtonElement>('button');
      if (first) {
        event.preventDefault();
        first.focus();
      }
    } else if (event.key === 'Escape') {
      // Handled here, so the messenger does not also close the open chat.
      event.preventDefault();
      setQuery('');
    }
  };

  const onResultsKeyDown = (event: KeyboardEvent<HTMLUListElement>) => {
    const buttons = [...(resultsRef.current?.querySelectorAll<HTMLButtonElement>('button') ?? [])];
    const index = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (event.key === 'ArrowDown' && index < buttons.length - 1) buttons[index + 1]?.focus();
    else if (event.key === 'ArrowUp' && index > 0) buttons[index - 1]?.focus();
    else if (event.key === 'ArrowUp' || event.key === 'Escape') inputRef.current?.focus();
    else return;
    event.preventDefault();
  };

  return (
    <div className="user-search" role="search">
      <label htmlFor={`${ids}-query`} className="visually-hidden">
        Find people by user name
      </label>
      <input
        id={`${ids}-query`}
        ref={inputRef}
        type="search"
        placeholder="Find people by user name"
        autoComplete="off"
        autoCapitalize="none"
        spellCheck={false}
        aria-describedby={`${ids}-status`}
        value={query}
        onChange={(event) => {
          setQuery(event.target.value);
          setOpenError(null);
        }}
        onKeyDown={onInputKeyDown}
      />
      <p id={`${ids}-status`} className="search-status" role="status">
        {describeState(state)}
      </p>
      {state.kind === 'done' && state.users.length > 0 && (
        <ul
          className="search-results"
          aria-label="People found"
          ref={resultsRef}
          onKeyDown={onResultsKeyDown}
        >
          {state.users.map((user) => (
            <li key={user.id}>
              <button type="button" disabled={opening !== null} onClick={() => void open(user)}>
                <span className="result-name">{user.displayName}</span>
                <span className="result-username">@{user.username}</span>
                <span className="visually-hidden">, start a chat</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function searchStateOf(
  prefix: string,
  searchable: boolean,
  result: SearchResult | null,
  openError: string | null,
): SearchState {
  if (openError !== null) return { kind: 'failed', message: openError };
  if (prefix === '') return { kind: 'idle' };
  if (!searchable) return { kind: 'invalid' };
  if (result === null || result.prefix !== prefix) return { kind: 'searching' };
  return 'users' in result
    ? { kind: 'done', users: result.users }
    : { kind: 'failed', message: result.error };
}

function describeState(state: SearchState): string {
  switch (state.kind) {
    case 'idle':
      return '';
    case 'invalid':
      return 'User names contain only letters, digits, dots, dashes and underscores.';
    case 'searching':
      return 'Searching…';
    case 'done':
      return state.users.length === 0 ? 'Nobody found.' : `${state.users.length} found.`;
    case 'failed':
      return `Search failed: ${state.message}`;
  }
}
