import { memo, useRef, type KeyboardEvent, type ReactNode } from 'react';
import type { ConversationView } from '../model/conversation.ts';
import { describeGroupEvent } from '../model/group-events.ts';
import { formatDayLabel, formatTime, localDayKey } from '../model/timeline.ts';
import { useChatModel } from '../hooks/chat-context.ts';
import { usePresence } from '../hooks/use-presence.ts';
import { PresenceDot } from './presence-dot.tsx';
import { StatusTicks } from './status-ticks.tsx';

interface ConversationListProps {
  conversations: readonly ConversationView[];
  meId: string;
  activeConv: string | null;
  onOpen: (conv: string) => void;
}

/**
 * Renders the user's conversations, latest activity first. Tab reaches the list, and the arrow
 * keys, Home and End move between its rows.
 */
export function ConversationList({ conversations, meId, activeConv, onOpen }: ConversationListProps) {
  const listRef = useRef<HTMLUListElement>(null);

  const onKeyDown = (event: KeyboardEvent<HTMLUListElement>) => {
    const buttons = [...(listRef.current?.querySelectorAll<HTMLButtonElement>('button.conversation') ?? [])];
    const index = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (buttons.length === 0 || index === -1) return;
    const targets: Record<string, number> = {
      ArrowDown: Math.min(index + 1, buttons.length - 1),
      ArrowUp: Math.max(index - 1, 0),
      Home: 0,
      End: buttons.length - 1,
    };
    const target = targets[event.key];
    if (target === undefined) return;
    event.preventDefault();
    buttons[target]?.focus();
  };

  if (conversations.length === 0) {
    return <p className="empty">No conversations yet. Find someone above to start one.</p>;
  }
  return (
    <ul className="conversation-list" aria-label="Conversations" ref={listRef} onKeyDown={onKeyDown}>
      {conversations.map((conversation) => (
        <li key={conversation.id}>
          <ConversationRow
            conversation={conversation}
            meId={meId}
            active={conversation.id === activeConv}
            onOpen={onOpen}
          />
        </li>
      ))}
    </ul>
  );
}

interface ConversationRowProps {
  conversation: ConversationView;
  meId: string;
  active: boolean;
  onOpen: (conv: string) => void;
}

const ConversationRow = memo(function ConversationRow({
  conversation,
  meId,
  active,
  onOpen,
}: ConversationRowProps) {
  const model = useChatModel();
  const presence = usePresence(conversation.peer?.id ?? null);
  const last = conversation.lastMessage;
  const own = last !== null && last.from === meId;
  const unread = conversation.unread;
  const nameOf = (userId: string) => {
    const member = conversation.members.find((candidate) => candidate.id === userId);
    return member?.displayName || member?.username || model.displayNameOf(userId);
  };
  let preview: ReactNode = <em>No messages yet</em>;
  if (last?.event != null) preview = describeGroupEvent(last.event, last.from, meId, nameOf);
  else if (last !== null && own) preview = `You: ${last.body}`;
  else if (last !== null && conversation.kind === 'group') preview = `${nameOf(last.from)}: ${last.body}`;
  else if (last !== null) preview = last.body;
  return (
    <button
      type="button"
      className="conversation"
      data-conv={conversation.id}
      data-kind={conversation.kind}
      aria-current={active ? 'true' : undefined}
      onClick={() => onOpen(conversation.id)}
    >
      <span className="avatar" aria-hidden="true">
        {initialOf(conversation.title)}
        {conversation.kind === 'direct' && <PresenceDot status={presence} />}
      </span>
      <span className="conversation-text">
        <span className="conversation-top">
          <span className="conversation-title">{conversation.title}</span>
          {last !== null && (
            <time className="conversation-time" dateTime={new Date(last.ts).toISOString()}>
              {formatListTime(last.ts)}
            </time>
          )}
        </span>
        <span className="conversation-bottom">
          <span className="conversation-preview">
            {own && last.status !== null && last.event === null && <StatusTicks status={last.status} />}
            {preview}
          </span>
          {unread > 0 && (
            <span className="unread-badge" data-unread={unread}>
              {unread}
              <span className="visually-hidden">{unread === 1 ? ' unread message' : ' unread messages'}</span>
            </span>
          )}
        </span>
      </span>
    </button>
  );
});

function initialOf(title: string): string {
  return (title.trim()[0] ?? '?').toUpperCase();
}

function formatListTime(ts: number): string {
  const date = new Date(ts);
  const now = new Date();
  return localDayKey(date) === localDayKey(now) ? formatTime(ts) : formatDayLabel(date, now);
}
