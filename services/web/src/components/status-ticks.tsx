import { STATUS_LABELS, type MessageStatus } from '../model/message-status.ts';

/** Ticks of an own message: a clock while sending, one tick sent, two delivered, two blue read. */
export function StatusTicks({ status }: { status: MessageStatus }) {
  const label = STATUS_LABELS[status];
  return (
    <span className="ticks" data-status={status} role="img" aria-label={label} title={label}>
      <svg viewBox="0 0 20 12" width="20" height="12" aria-hidden="true" focusable="false">
        {status === 'sending' && (
          <>
            <circle cx="10" cy="6" r="5" fill="none" stroke="currentColor" strokeWidth="1.4" />
            <path
              d="M10 3.2V6l2 1.4"
              fill="none"
              stroke="currentColor"
              strokeWidth="1.4"
              strokeLinecap="round"
            />
          </>
        )}
        {status === 'failed' && (
          <>
            <circle cx="10" cy="6" r="5.4" fill="currentColor" />
            <path d="M10 3v3.6M10 8.4v.2" stroke="#fff" strokeWidth="1.6" strokeLinecap="round" />
          </>
        )}
        {(status === 'sent' || status === 'delivered' || status === 'read') && (
          <path
            d="M1.5 6.5l3 3 6-7"
            fill="none"
            stroke="currentColor"
            strokeWidth="1.6"
            strokeLinecap="round"
          />
        )}
        {(status === 'delivered' || status === 'read') && (
          <path
            d="M7.5 9.5l.5.5 6-7.5"
            fill="none"
            stroke="currentColor"
            strokeWidth="1.6"
            strokeLinecap="round"
          />
        )}
      </svg>
    </span>
  );
}
