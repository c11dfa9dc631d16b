import { useId, useState, type FormEvent } from 'react';
import type { User } from '@switchboard/client';
import type { ConversationView } from '../model/conversation.ts';
import { useChatModel } from '../hooks/chat-context.ts';
import { MemberPicker } from './member-picker.tsx';

interface GroupDetailsProps {
  conversation: ConversationView;
  meId: string;
  /** Called after the user left the group. */
  onLeft: () => void;
}

/**
 * Renders a group's members and the changes the user may make: admins rename the group, add,
 * remove and promote members, and every member may leave.
 */
export function GroupDetails({ conversation, meId, onLeft }: GroupDetailsProps) {
  const model = useChatModel();
  const ids = useId();
  const group = conversation.group!;
  const conv = conversation.id;
  const isAdmin = group.admins.includes(meId) && !group.left;
  const [name, setName] = useState(group.name);
  const [adding, setAdding] = useState<User[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const memberIds = new Set(conversation.members.map((member) => member.id));

  const run = async (action: () => Promise<void>, done: string, failure: string) => {
    setBusy(true);
    setError(null);
    setStatus('');
    try {
      await action();
      setStatus(done);
    } catch (err) {
      setError(`${failure}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setBusy(false);
    }
  };

  const rename = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const trimmed = name.trim();
    if (trimmed === '' || trimmed === group.name) return;
    void run(() => model.renameGroup(conv, trimmed), 'Group renamed.', 'Renaming failed');
  };

  const add = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (adding.length === 0) return;
    const users = adding;
    void run(
      async () => {
        await model.addGroupMembers(conv, users);
        setAdding([]);
      },
      users.length === 1 ? 'Member added.' : 'Members added.',
      'Adding failed',
    );
  };

  const leave = () =>
    void run(
      async () => {
        await model.leaveGroup(conv);
        onLeft();
      },
      'You left the group.',
      'Leaving failed',
    );

  const members = [...conversation.members].sort((a, b) =>
    (a.displayName || a.username).localeCompare(b.displayName || b.username),
  );
  return (
    <section className="group-details" aria-labelledby={`${ids}-heading`}>
      <h3 id={`${ids}-heading`}>
        {group.kind === 'channel' ? 'Channel' : 'Group'} members ({group.memberCount})
      </h3>
      {isAdmin && (
        <form className="inline-form" onSubmit={rename} aria-label="Rename group">
          <label htmlFor={`${ids}-name`}>Group name</label>
          <input
            id={`${ids}-name`}
            type="text"
            required
            maxLength={100}
            value={name}
            onChange={(event) => setName(event.target.value)}
          />
          <button type="submit" className="button secondary" disabled={busy || name.trim() === group.name}>
            Rename
          </button>
        </form>
      )}
      <ul className="member-list" aria-label="Members">
        {members.map((member) => {
          const admin = group.admins.includes(member.id);
          const label = member.displayName || member.username;
          return (
            <li key={member.id} data-member={member.username}>
              <span className="member-name">
                {member.id === meId ? `${label} (you)` : label}
                <span className="result-username"> @{member.username}</span>
              </span>
              {admin && <span className="role-badge">admin</span>}
              {isAdmin && member.id !== meId && !admin && (
                <button
                  type="button"
                  className="link-button"
                  disabled={busy}
                  onClick={() =>
                    void run(
                      () => model.promoteGroupMember(conv, member.id),
                      `${label} is an admin.`,
                      'Promoting failed',
                    )
                  }
                >
                  Make admin<span className="visually-hidden">: {label}</span>
                </button>
              )}
              {isAdmin && member.id !== meId && (
                <button
                  type="button"
                  className="link-button danger"
                  disabled={busy}
                  onClick={() =>
                    void run(
                      () => model.removeGroupMember(conv, member.id),
                      `${label} removed.`,
                      'Removing failed',
                    )
                  }
                >
                  Remove<span className="visually-hidden"> {label}</span>
                </button>
              )}
            </li>
          );
        })}
      </ul>
      {isAdmin && (
        <form className="panel-form" onSubmit={add} aria-label="Add members">
          <MemberPicker
            label="Add members by user name"
            selected={adding}
            onChange={setAdding}
            exclude={memberIds}
          />
          <button type="submit" className="button secondary" disabled={busy || adding.length === 0}>
            Add to group
          </button>
        </form>
      )}
      {!group.left && (
        <button type="button" className="button danger" disabled={busy} onClick={leave}>
          Leave group
        </button>
      )}
      <p className="search-status" role="status">
        {status}
      </p>
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
