import { useCallback, useEffect, useId, useState } from 'react';
import { CAPABILITIES } from '../capabilities.ts';
import type { ChatSnapshot } from '../model/chat-model.ts';
import type { ConversationView } from '../model/conversation.ts';
import { buildTitle } from '../model/conversation.ts';
import { useChatModel } from '../hooks/chat-context.ts';
import { usePushModel } from '../hooks/push-context.ts';
import { useHashRoute } from '../hooks/use-hash-route.ts';
import { ChatView } from './chat-view.tsx';
import { ConversationList } from './conversation-list.tsx';
import { NewGroupForm } from './new-group-form.tsx';
import { OfflineBanner } from './offline-banner.tsx';
import { PushOptIn } from './push-opt-in.tsx';
import { UserSearch } from './user-search.tsx';

/**
 * Renders the signed-in screens: the conversation list beside the open chat on wide screens,
 * and one of the two at a time on narrow ones (the stylesheet switches on `data-view`).
 */
export function Messenger({ snapshot }: { snapshot: ChatSnapshot }) {
  const model = useChatModel();
  const [route, navigate] = useHashRoute();
  const me = snapshot.me!;
  const activeConv = route.view === 'chat' ? route.conv : null;
  const ids = useId();
  const [settingsOpen, setSettingsOpen] = useState(false);
  const push = usePushModel();

  // The per-conversation mute in the chat header needs the push settings, so they load at sign-in.
  useEffect(() => {
    if (CAPABILITIES.webPush) void push.load();
  }, [push]);

  const openConversation = useCallback((conv: string) => navigate({ view: 'chat', conv }), [navigate]);
  const showList = useCallback(() => navigate({ view: 'list' }), [navigate]);

  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.key === 'Escape' && activeConv !== null && !event.defaultPrevented) showList();
    };
    window.addEventListener('keydown', onKeyDown);
    return () => window.removeEventListener('keydown', onKeyDown);
  }, [activeConv, showList]);

  const conversation =
    activeConv === null
      ? null
      : (snapshot.conversations.find((candidate) => candidate.id === activeConv) ?? placeholder(activeConv));

  return (
    <div className="messenger" data-view={activeConv === null ? 'list' : 'chat'}>
      <OfflineBanner
        connection={snapshot.connection}
        everReady={snapshot.everReady}
        browserOnline={snapshot.browserOnline}
      />
      {snapshot.notice !== null && (
        <p className="notice app-notice" role="alert">
          {snapshot.notice}
        </p>
      )}
      <div className="panes">
        <aside className="sidebar" aria-label="Conversations and search">
          <header className="sidebar-header">
            <h1 className="brand">Switchboard</h1>
            <span className="me" title={`@${me.username}`}>
              {me.displayName}
            </span>
            {CAPABILITIES.webPush && (
              <button
                type="button"
                className="button secondary"
                aria-expanded={settingsOpen}
                aria-controls={`${ids}-settings`}
                onClick={() => setSettingsOpen((open) => !open)}
              >
                <span aria-hidden="true">⚙</span>
                <span className="visually-hidden">Settings</span>
              </button>
            )}
            <button
              type="button"
              className="button secondary"
              onClick={() => void push.beforeLogout().finally(() => model.logout())}
            >
              Log out
            </button>
          </header>
          {settingsOpen && (
            <div id={`${ids}-settings`} className="settings-pane">
              <PushOptIn />
            </div>
          )}
          {CAPABILITIES.groups && <NewGroupForm onOpen={openConversation} />}
          <UserSearch onOpen={openConversation} />
          <nav aria-label="Conversations">
            <ConversationList
              conversations={snapshot.conversations}
              meId={me.id}
              activeConv={activeConv}
              onOpen={openConversation}
            />
          </nav>
        </aside>
        <main className="chat-pane">
          {conversation === null ? (
            <p className="empty chat-placeholder">Pick a conversation or find someone to chat with.</p>
          ) : (
            <ChatView
              conversation={conversation}
              thread={snapshot.threads.get(conversation.id)}
              meId={me.id}
              maxBodyBytes={snapshot.maxBodyBytes}
              onBack={showList}
            />
          )}
        </main>
      </div>
    </div>
  );
}

/** Builds a stand-in for a conversation in the URL that the list does not have yet, until it loads. */
function placeholder(conv: string): ConversationView {
  const kind = conv.startsWith('g.') ? 'group' : 'direct';
  return {
    id: conv,
    kind,
    title: buildTitle(kind, []),
    members: [],
    peer: null,
    group: null,
    lastMessage: null,
    unread: 0,
    activityTs: 0,
  };
}
