/**
 * One sending and receiving chat connection for the message scenarios. It waits for
 * `welcome` and sends at a fixed rate for a fixed time. Then it sends `fin` and keeps reading
 * until the tracker has every sender's `fin` or the drain time ends.
 */
import { Counter, Rate, Trend } from 'k6/metrics';
import { clearInterval, setInterval, setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { DeliveryTracker } from './delivery-tracker.ts';
import { buildBody, encodeFrame, parseServerFrame, type SendFrame } from './frames.ts';

export const connectSuccess = new Rate('swb_connect_success');
export const sendToAckMs = new Trend('swb_send_to_ack_ms', true);
export const sent = new Counter('swb_sent');
export const acked = new Counter('swb_acked');
export const sendErrors = new Counter('swb_send_errors');
export const notices = new Counter('swb_notices');

export interface ChatConnectionOptions {
  wsUrl: string;
  /** This connection's user id; its own messages come back to it and are skipped. */
  self: string;
  /** Builds the target of each send: `{ to }` for one-to-one, `{ conv }` for a group. */
  target: Pick<SendFrame, 'to' | 'conv'>;
  /** Prefix of client message ids, unique per connection. */
  idPrefix: string;
  ratePerSecond: number;
  sendSeconds: number;
  drainSeconds: number;
  bodyBytes: number;
  /** Senders whose messages this connection receives and who each end with `fin`. */
  expectedSenders: number;
  /** Called with the code of every error frame, for scripts that stop on a missing feature. */
  onError?: (code: string, message: string) => void;
}

/** Opens the connection and runs it to the end; k6 ends the iteration when it closes. */
export function runChatConnection(options: ChatConnectionOptions): void {
  const tracker = new DeliveryTracker(options.expectedSenders);
  const sentAt: Record<string, number> = {};
  let counter = 0;
  let welcomed = false;
  // A group large enough for notices delivers no bodies, so no `fin` arrives either.
  let noticed = false;
  const ws = new WebSocket(options.wsUrl);

  const send = (body: string) => {
    const id = `${options.idPrefix}-${counter}`;
    sentAt[id] = Date.now();
    ws.send(encodeFrame({ type: 'send', id, ...options.target, body }));
    sent.add(1);
  };

  const start = () => {
    const interval = setInterval(() => {
      counter++;
      send(buildBody(Date.now(), counter, options.bodyBytes));
    }, 1000 / options.ratePerSecond);
    setTimeout(() => {
      clearInterval(interval);
      counter++;
      send(`fin|${counter - 1}`);
      const closeAt = Date.now() + options.drainSeconds * 1000;
      const poll = setInterval(() => {
        if (!tracker.complete && Date.now() < closeAt) return;
        clearInterval(poll);
        if (!noticed) tracker.finish();
        ws.close(1000);
      }, 100);
    }, options.sendSeconds * 1000);
  };

  ws.onmessage = (event) => {
    const frame = parseServerFrame(event?.data);
    if (frame === null) return;
    const now = Date.now();
    switch (frame.type) {
      case 'welcome':
        if (welcomed) return;
        welcomed = true;
        connectSuccess.add(true);
        start();
        return;
      case 'ack': {
        const at = sentAt[frame.id];
        if (at === undefined) return;
        delete sentAt[frame.id];
        acked.add(1);
        sendToAckMs.add(now - at);
        return;
      }
      case 'message':
        if (frame.from !== options.self) tracker.onMessage(frame.from, frame.body, now);
        return;
      case 'notice':
        noticed = true;
        notices.add(1);
        return;
      case 'error':
        sendErrors.add(1);
        options.onError?.(frame.code, frame.message);
        return;
      default:
        return;
    }
  };
  ws.onclose = () => {
    if (!welcomed) connectSuccess.add(false);
  };
}
