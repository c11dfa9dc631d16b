/**
 * Type-level check that the frame copies in `frames.ts` match @switchboard/protocol.
 *
 * No k6 script imports this file. `npx tsc -p loadtests/k6/tsconfig.json` compiles it, and
 * an `Equal` that is false turns into a type error naming the frame that drifted.
 */
import type * as Codes from '../../../libs/protocol/src/codes.ts';
import type * as Protocol from '../../../libs/protocol/src/frames.ts';
import type * as Copy from './frames.ts';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

export type FrameChecks = [
  Expect<Equal<Copy.SendFrame, Protocol.SendFrame>>,
  Expect<Equal<Copy.ReceiptRequestFrame, Protocol.ReceiptRequestFrame>>,
  Expect<Equal<Copy.SyncRequestFrame, Protocol.SyncRequestFrame>>,
  Expect<Equal<Copy.FetchFrame, Protocol.FetchFrame>>,
  Expect<Equal<Copy.PingFrame, Protocol.PingFrame>>,
  Expect<Equal<Copy.PresenceSubscribeFrame, Protocol.PresenceSubscribeFrame>>,
  Expect<Equal<Copy.TypingRequestFrame, Protocol.TypingRequestFrame>>,
  Expect<Equal<Copy.ActivityFrame, Protocol.ActivityFrame>>,
  Expect<Equal<Copy.ClientFrame, Protocol.ClientFrame>>,
  Expect<Equal<Copy.ConnectionLimits, Protocol.ConnectionLimits>>,
  Expect<Equal<Copy.WelcomeFrame, Protocol.WelcomeFrame>>,
  Expect<Equal<Copy.AckFrame, Protocol.AckFrame>>,
  Expect<Equal<Copy.MessageFrame, Protocol.MessageFrame>>,
  Expect<Equal<Copy.ReceiptFrame, Protocol.ReceiptFrame>>,
  Expect<Equal<Copy.SyncFrame, Protocol.SyncFrame>>,
  Expect<Equal<Copy.FetchedFrame, Protocol.FetchedFrame>>,
  Expect<Equal<Copy.PongFrame, Protocol.PongFrame>>,
  Expect<Equal<Copy.ResyncFrame, Protocol.ResyncFrame>>,
  Expect<Equal<Copy.RedirectFrame, Protocol.RedirectFrame>>,
  Expect<Equal<Copy.ErrorFrame, Protocol.ErrorFrame>>,
  Expect<Equal<Copy.GroupEvent, Protocol.GroupEvent>>,
  Expect<Equal<Copy.NoticeFrame, Protocol.NoticeFrame>>,
  Expect<Equal<Copy.PresenceFrame, Protocol.PresenceFrame>>,
  Expect<Equal<Copy.TypingFrame, Protocol.TypingFrame>>,
  Expect<Equal<Copy.ServerFrame, Protocol.ServerFrame>>,
  Expect<Equal<typeof Copy.PROTOCOL_VERSION, typeof Protocol.PROTOCOL_VERSION>>,
  Expect<Equal<typeof Copy.CLOSE_WRONG_NODE, (typeof Codes.CloseCode)['WrongNode']>>,
  Expect<Equal<typeof Copy.CLOSE_NODE_DRAINING, (typeof Codes.CloseCode)['NodeDraining']>>,
];
