import { memo } from 'react';
import type { MessageView } from '../model/conversation.ts';
import { formatTime } from '../model/timeline.ts';
import { StatusTicks } from './status-ticks.tsx';

interface MessageRowProps {
  message: MessageView;
  own: boolean;
  senderName: string;
  /** Shows the sender's name above a message from others, as groups do. */
  showSender: boolean;
  onDiscard: (id: string) => void;
}

/** One message bubble with its local time and, for own messages, the status ticks. */
export const MessageRow = memo(function MessageRow({
  message,
  own,
  senderName,
  showSender,
  onDiscard,
}: MessageRowProps) {
  const visibleSender = showSender && !own;
  return (
    <li
      className="message"
      data-own={own}
      data-seq={message.seq ?? undefined}
      data-incoming={own ? undefined : 'true'}
      data-message-id={message.id}
    >
      <div className="bubble">
        {visibleSender ? (
          <span className="sender">
            {senderName}
            <span className="visually-hidden">: </span>
          </span>
        ) : (
          <span className="visually-hidden">{own ? 'You' : senderName}: </span>
        )}
        <p className="body">{message.body}</p>
        <span className="meta">
          <time dateTime={new Date(message.ts).toISOString()}>{formatTime(message.ts)}</time>
          {message.status !== null && <StatusTicks status={message.status} />}
        </span>
      </div>
      {message.status === 'failed' && (
        <p className="message-failure" role="alert">
          Not sent: {message.failure}{' '}
          <button type="button" className="link-button" onClick={() => onDiscard(message.id)}>
            Remove
          </button>
        </p>
      )}
    </li>
  );
});
