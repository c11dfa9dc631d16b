import { useCallback, useEffect, useId, useRef, useState } from 'react';
import type { ConversationView, ThreadView } from '../model/conversation.ts';
import { useChatModel } from '../hooks/chat-context.ts';
import { usePresenceEntry, type PresenceStatus } from '../hooks/use-presence.ts';
import { useTypingUsers } from '../hooks/use-typing.ts';
import { describePresence } from '../model/presence-text.ts';
import { Composer } from './composer.tsx';
import { ConversationMute } from './conversation-mute.tsx';
import { GroupDetails } from './group-details.tsx';
import { MessageList } from './message-list.tsx';
import { PresenceDot } from './presence-dot.tsx';
import { TypingIndicator } from './typing-indicator.tsx';

interface ChatViewProps {
  conversation: ConversationView;
  thread: ThreadView | undefined;
  meId: string;
  maxBodyBytes: number;
  onBack: () => void;
}

const EMPTY_THREAD = (conv: string): ThreadView => ({
  conv,
  messages: [],
  hasOlder: false,
  loadingOlder: false,
  loaded: false,
  error: null,
});

/** Renders one conversation: its header, the message list and the composer. */
export function ChatView({ conversation, thread, meId, maxBodyBytes, onBack }: ChatViewProps) {
  const model = useChatModel();
  const conv = conversation.id;
  const presenceEntry = usePresenceEntry(conversation.peer?.id ?? null);
  let presence: PresenceStatus = 'unknown';
  if (presenceEntry !== undefined) presence = presenceEntry.online ? 'online' : 'offline';
  const typingUsers = useTypingUsers(conv);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const ids = useId();
  const [detailsOpen, setDetailsOpen] = useState(false);

  useEffect(() => {
    model.openConversation(conv);
    return () => model.openConversation(null);
  }, [model, conv]);

  // Focus moves to the heading, so screen readers announce the new view.
  useEffect(() => {
    headingRef.current?.focus({ preventScroll: true });
  }, [conv]);

  const members = conversation.members;
  const nameOf = useCallback(
    (userId: string) => {
      const member = members.find((candidate) => candidate.id === userId);
      return member?.displayName || member?.username || model.displayNameOf(userId);
    },
    [members, model],
  );
  const onLoadOlder = useCallback(() => void model.loadOlder(conv), [model, conv]);
  const onRead = useCallback((seq: number) => model.markRead(conv, seq), [model, conv]);
  const onRetry = useCallback(() => model.retryHistory(conv), [model, conv]);
  const onDiscard = useCallback((id: string) => model.discardFailed(conv, id), [model, conv]);
  const onSend = useCallback((body: string) => model.send(conv, body), [model, conv]);
  const onTyping = useCallback((typing: boolean) => model.setTyping(conv, typing), [model, conv]);

  const group = conversation.group;
  const typingNames = typingUsers.filter((user) => user !== meId).map(nameOf);
  const readOnlyReason = readOnlyReasonOf(conversation, meId);
  let subtitle: string | null = null;
  if (conversation.peer !== null) {
    const seen = describePresence(presenceEntry);
    subtitle = seen === null ? `@${conversation.peer.username}` : `@${conversation.peer.username} · ${seen}`;
  } else if (group !== null) {
    const noun = group.kind === 'channel' ? 'channel' : 'group';
    subtitle = `${group.memberCount} ${group.memberCount === 1 ? 'member' : 'members'} · ${noun}`;
  }
  return (
    <section className="chat" aria-labelledby="chat-title">
      <header className="chat-header">
        <button type="button" className="back-button" onClick={onBack}>
          <span aria-hidden="true">←</span>
          <span className="visually-hidden">Back to conversations</span>
        </button>
        <span className="avatar small" aria-hidden="true">
          {(conversation.title.trim()[0] ?? '?').toUpperCase()}
          {conversation.kind === 'direct' && <PresenceDot status={presence} />}
        </span>
        <div className="chat-heading">
          <h2 id="chat-title" ref={headingRef} tabIndex={-1}>
            {conversation.title}
          </h2>
          {subtitle !== null && (
            <p className="chat-subtitle" data-presence={conversation.peer === null ? undefined : presence}>
              {subtitle}
            </p>
          )}
        </div>
        <ConversationMute conv={conv} />
        {group !== null && (
          <button
            type="button"
            className="button secondary"
            aria-expanded={detailsOpen}
            aria-controls={`${ids}-details`}
            onClick={() => setDetailsOpen((open) => !open)}
          >
            {group.kind === 'channel' ? 'Channel info' : 'Group info'}
          </button>
        )}
      </header>
      {group !== null && detailsOpen && (
        <div id={`${ids}-details`} className="details-pane">
          <GroupDetails
            key={group.name}
            conversation={conversation}
            meId={meId}
            onLeft={() => setDetailsOpen(false)}
          />
        </div>
      )}
      <MessageList
        key={`messages-${conv}`}
        thread={thread ?? EMPTY_THREAD(conv)}
        meId={meId}
        title={conversation.title}
        nameOf={nameOf}
        showSenders={conversation.kind === 'group'}
        onLoadOlder={onLoadOlder}
        onRead={onRead}
        onRetry={onRetry}
        onDiscard={onDiscard}
      />
      <TypingIndicator names={typingNames} />
      {readOnlyReason === null ? (
        <Composer
          key={`composer-${conv}`}
          title={conversation.title}
          maxBodyBytes={maxBodyBytes}
          onSend={onSend}
          onTyping={onTyping}
        />
      ) : (
        <p className="read-only-note" role="note">
          {readOnlyReason}
        </p>
      )}
    </section>
  );
}

/** Returns why the user cannot write in a conversation, or null when they can. */
function readOnlyReasonOf(conversation: ConversationView, meId: string): string | null {
  const group = conversation.group;
  if (group === null) return null;
  if (group.left) return 'You are no longer a member of this group. Its messages up to then stay readable.';
  if (group.kind === 'channel' && group.detailsLoaded && !group.admins.includes(meId)) {
    return 'Only admins post in this channel. You can read it.';
  }
  return null;
}
