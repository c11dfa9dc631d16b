import { useEffect, useId, useState, type FormEvent, type KeyboardEvent } from 'react';

interface ComposerProps {
  /** Name of the conversation, for the field's label. */
  title: string;
  maxBodyBytes: number;
  onSend: (body: string) => void;
  /** Called with true on every edit that leaves text in the field, and with false when it empties, sends or unmounts. */
  onTyping: (typing: boolean) => void;
}

const encoder = new TextEncoder();

/** Renders the message field. Enter sends, and Shift+Enter starts a new line. */
export function Composer({ title, maxBodyBytes, onSend, onTyping }: ComposerProps) {
  const [body, setBody] = useState('');
  const ids = useId();
  const bytes = encoder.encode(body).length;
  const tooLong = bytes > maxBodyBytes;
  const empty = body.trim() === '';

  // A composer that goes away (another chat opened, or the page hidden) stops the typing notice.
  useEffect(() => () => onTyping(false), [onTyping]);

  const submit = () => {
    if (empty || tooLong) return;
    onTyping(false);
    onSend(body);
    setBody('');
  };

  const onChange = (value: string) => {
    setBody(value);
    onTyping(value.trim() !== '');
  };

  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    submit();
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    // Enter while an input method composes a word confirms the word, not the message.
    if (event.key !== 'Enter' || event.shiftKey || event.nativeEvent.isComposing) return;
    event.preventDefault();
    submit();
  };

  return (
    <form className="composer" onSubmit={onSubmit}>
      <label htmlFor={`${ids}-body`} className="visually-hidden">
        Message to {title}
      </label>
      <textarea
        id={`${ids}-body`}
        rows={1}
        placeholder="Write a message"
        value={body}
        aria-invalid={tooLong}
        aria-describedby={tooLong ? `${ids}-error` : undefined}
        onChange={(event) => onChange(event.target.value)}
        onKeyDown={onKeyDown}
        onBlur={() => onTyping(false)}
      />
      <button type="submit" className="button primary" disabled={empty || tooLong}>
        Send
      </button>
      {tooLong && (
        <p id={`${ids}-error`} className="form-error composer-error" role="alert">
          The message is {bytes} bytes; the limit is {maxBodyBytes}.
        </p>
      )}
    </form>
  );
}
