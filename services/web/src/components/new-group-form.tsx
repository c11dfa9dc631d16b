import { useId, useState, type FormEvent } from 'react';
import type { User } from '@switchboard/client';
import { useChatModel } from '../hooks/chat-context.ts';
import { MemberPicker } from './member-picker.tsx';

/** Maximum length of a group name that the API accepts, in characters. */
const GROUP_NAME_MAX = 100;

/**
 * Renders a "New group" button that opens a form for a group's name and founding members.
 * The user becomes the group's admin, and the new group opens.
 */
export function NewGroupForm({ onOpen }: { onOpen: (conv: string) => void }) {
  const model = useChatModel();
  const ids = useId();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [members, setMembers] = useState<User[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const trimmed = name.trim();

  const close = () => {
    setOpen(false);
    setName('');
    setMembers([]);
    setError(null);
  };

  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (trimmed === '' || busy) return;
    setBusy(true);
    setError(null);
    try {
      const conv = await model.createGroup(trimmed, members);
      close();
      onOpen(conv);
    } catch (err) {
      setError(`The group could not be created: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="new-group">
      <button
        type="button"
        className="button secondary"
        aria-expanded={open}
        aria-controls={`${ids}-form`}
        onClick={() => (open ? close() : setOpen(true))}
      >
        {open ? 'Cancel new group' : 'New group'}
      </button>
      {open && (
        <form
          id={`${ids}-form`}
          className="panel-form"
          aria-label="New group"
          onSubmit={(event) => void onSubmit(event)}
          onKeyDown={(event) => {
            if (event.key === 'Escape' && !event.defaultPrevented) {
              event.preventDefault();
              close();
            }
          }}
        >
          <label htmlFor={`${ids}-name`}>Group name</label>
          <input
            id={`${ids}-name`}
            type="text"
            required
            maxLength={GROUP_NAME_MAX}
            autoComplete="off"
            value={name}
            onChange={(event) => setName(event.target.value)}
          />
          <MemberPicker label="Add people by user name" selected={members} onChange={setMembers} />
          {error !== null && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="button primary" disabled={trimmed === '' || busy}>
            {busy ? 'Creating…' : 'Create group'}
          </button>
        </form>
      )}
    </div>
  );
}
