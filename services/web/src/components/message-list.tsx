import { useEffect, useLayoutEffect, useMemo, useRef, type UIEvent } from 'react';
import type { ThreadView } from '../model/conversation.ts';
import { describeGroupEvent } from '../model/group-events.ts';
import { buildTimeline } from '../model/timeline.ts';
import { MessageRow } from './message-row.tsx';

interface MessageListProps {
  thread: ThreadView;
  meId: string;
  title: string;
  nameOf: (userId: string) => string;
  /** True in groups, where each message from others shows its sender's name. */
  showSenders: boolean;
  onLoadOlder: () => void;
  /** Called with the highest sequence number of a message from others that is on screen. */
  onRead: (seq: number) => void;
  onRetry: () => void;
  onDiscard: (id: string) => void;
}

/** Distance from the top, in pixels, at which scrolling up loads the next older page. */
const LOAD_OLDER_MARGIN_PX = 150;
/** Distance from the bottom, in pixels, within which new messages keep the view at the bottom. */
const STICK_TO_BOTTOM_PX = 80;

interface ScrollRecord {
  firstKey: string | null;
  lastKey: string | null;
  scrollHeight: number;
  scrollTop: number;
  atBottom: boolean;
  loaded: boolean;
}

/**
 * Renders the scrolling list of a conversation's messages with day separators. Scrolling
 * near the top loads older pages, and the messages on screen stay in place while they arrive.
 * New messages are followed when the view is at the bottom. Messages from others that are on
 * screen are reported, so they can be marked read.
 */
export function MessageList(props: MessageListProps) {
  const { thread, meId, title, nameOf, showSenders, onLoadOlder, onRead, onRetry, onDiscard } = props;
  const scrollerRef = useRef<HTMLDivElement>(null);
  const record = useRef<ScrollRecord>({
    firstKey: null,
    lastKey: null,
    scrollHeight: 0,
    scrollTop: 0,
    atBottom: true,
    loaded: false,
  });
  const timeline = useMemo(() => buildTimeline(thread.messages, new Date()), [thread.messages]);
  const canLoadOlder = thread.loaded && thread.hasOlder && !thread.loadingOlder;

  const remember = (element: HTMLDivElement) => {
    record.current.scrollHeight = element.scrollHeight;
    record.current.scrollTop = element.scrollTop;
    record.current.atBottom =
      element.scrollHeight - element.scrollTop - element.clientHeight <= STICK_TO_BOTTOM_PX;
  };

  useLayoutEffect(() => {
    const element = scrollerRef.current;
    if (element === null) return;
    const previous = record.current;
    const messages = thread.messages;
    const firstKey = messages[0]?.key ?? null;
    const lastKey = messages.at(-1)?.key ?? null;
    const last = messages.at(-1);

    if (!previous.loaded && thread.loaded) {
      element.scrollTop = element.scrollHeight;
    } else if (firstKey !== previous.firstKey && lastKey === previous.lastKey) {
      // An older page went in above: keep the messages on screen where they were.
      element.scrollTop = previous.scrollTop + (element.scrollHeight - previous.scrollHeight);
    } else if (lastKey !== previous.lastKey) {
      const justSent = last !== undefined && last.from === meId && last.seq === null;
      if (previous.atBottom || justSent) element.scrollTop = element.scrollHeight;
    }
    record.current.firstKey = firstKey;
    record.current.lastKey = lastKey;
    record.current.loaded = thread.loaded;
    remember(element);

    // A first page shorter than the view has no scroll bar to pull, so the next page loads at once.
    if (canLoadOlder && element.scrollHeight <= element.clientHeight + LOAD_OLDER_MARGIN_PX) onLoadOlder();
  }, [thread.messages, thread.loaded, canLoadOlder, meId, onLoadOlder]);

  useEffect(() => {
    const element = scrollerRef.current;
    if (element === null) return;
    const visible = new Set<number>();
    const flush = () => {
      if (document.visibilityState !== 'visible' || visible.size === 0) return;
      onRead(Math.max(...visible));
    };
    const observer = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const seq = Number((entry.target as HTMLElement).dataset.seq);
          const rootHeight = entry.rootBounds?.height ?? Number.POSITIVE_INFINITY;
          // Half of the message, or half of the view for a message taller than that, counts as seen.
          const seen =
            entry.isIntersecting &&
            (entry.intersectionRatio >= 0.5 || entry.intersectionRect.height >= rootHeight / 2);
          if (seen) visible.add(seq);
          else visible.delete(seq);
        }
        flush();
      },
      { root: element, threshold: [0, 0.25, 0.5, 0.75, 1] },
    );
    for (const row of element.querySelectorAll('li[data-incoming][data-seq]')) observer.observe(row);
    document.addEventListener('visibilitychange', flush);
    return () => {
      observer.disconnect();
      document.removeEventListener('visibilitychange', flush);
    };
  }, [thread.messages, onRead]);

  const onScroll = (event: UIEvent<HTMLDivElement>) => {
    const element = event.currentTarget;
    remember(element);
    if (canLoadOlder && element.scrollTop <= LOAD_OLDER_MARGIN_PX) onLoadOlder();
  };

  return (
    <div
      className="message-scroller"
      ref={scrollerRef}
      onScroll={onScroll}
      tabIndex={0}
      role="region"
      aria-label={`Messages with ${title}`}
      aria-busy={!thread.loaded || thread.loadingOlder}
    >
      <div className="history-edge">
        {thread.error !== null && (
          <p className="form-error" role="alert">
            {thread.error}{' '}
            <button type="button" className="link-button" onClick={onRetry}>
              Try again
            </button>
          </p>
        )}
        {thread.loadingOlder && <p role="status">Loading older messages…</p>}
        {canLoadOlder && (
          <button type="button" className="link-button" onClick={onLoadOlder}>
            Load older messages
          </button>
        )}
        {thread.loaded && !thread.hasOlder && thread.messages.length > 0 && (
          <p className="history-start">This is the start of the conversation.</p>
        )}
        {!thread.loaded && thread.error === null && <p role="status">Loading messages…</p>}
      </div>
      <ol className="messages">
        {timeline.map((entry) =>
          entry.kind === 'day' ? (
            <li key={entry.key} className="day-separator">
              <time dateTime={entry.dateTime}>{entry.label}</time>
            </li>
          ) : entry.item.event !== null ? (
            <li
              key={entry.key}
              className="system-message"
              data-seq={entry.item.seq ?? undefined}
              data-incoming={entry.item.from === meId ? undefined : 'true'}
              data-action={entry.item.event.action}
            >
              <p>{describeGroupEvent(entry.item.event, entry.item.from, meId, nameOf)}</p>
            </li>
          ) : (
            <MessageRow
              key={entry.key}
              message={entry.item}
              own={entry.item.from === meId}
              senderName={nameOf(entry.item.from)}
              showSender={showSenders}
              onDiscard={onDiscard}
            />
          ),
        )}
      </ol>
      {thread.loaded && thread.messages.length === 0 && <p className="empty">No messages yet. Say hello.</p>}
    </div>
  );
}
