export {
  FakeWebPushService,
  type FakeWebPushServiceOptions,
  type FakeWebPushSubscription,
  type ReceivedWebPush,
} from './fake-web-push-service.ts';
export {
  FakeFcmServer,
  type FakeFcmServerOptions,
  type FakeServiceAccount,
  type IssuedAccessToken,
  type ReceivedFcmMessage,
} from './fake-fcm-server.ts';
export {
  FakeApnsServer,
  type FakeApnsCredentials,
  type FakeApnsServerOptions,
  type ReceivedApnsNotification,
  type ScriptedApnsResponse,
} from './fake-apns-server.ts';
export type { RejectedRequest, ScriptedResponse } from './scripted-responses.ts';
