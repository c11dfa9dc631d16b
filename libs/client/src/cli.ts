/**
 * Terminal chat on the client SDK.
 *
 *   npm run chat -- --api http://127.0.0.1:8080 --user alice --password secret123 [--register] [--to bob]
 *
 * Lines typed go to the current peer; `/to <username>` switches peer, `/history` prints the
 * last 20 messages, `/quit` exits. The stream position is kept in a state file so that a
 * restarted chat resumes where it stopped.
 */
import { createInterface, type Interface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ErrorCode, type ErrorFrame, type MessageFrame, type ReceiptFrame } from '@switchboard/protocol';
import type { User } from './api-types.ts';
import { SwitchboardClient } from './client.ts';
import { FileStateStore } from './file-state.ts';

export const USAGE =
  'usage: npm run chat -- --api URL --user NAME --password PASSWORD [--register] ' +
  '[--display-name NAME] [--to USERNAME] [--state FILE]';

/** Parsed command line of the terminal chat. */
export interface ChatArguments {
  apiUrl: string;
  username: string;
  password: string;
  register: boolean;
  displayName?: string;
  to?: string;
  /** Path of the state file; default `.data/chat/<user>@<host>_<port>.json`. */
  statePath: string;
}

/** Thrown for a bad command line; the message names the option and what it expects. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const HISTORY_PAGE = 20;
/** How long /quit waits for unacknowledged messages before closing anyway. */
const QUIT_DRAIN_MS = 5000;

/** Parses and checks the command line; returns null for --help, throws UsageError otherwise. */
export function parseChatArguments(argv: string[]): ChatArguments | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        api: { type: 'string' },
        user: { type: 'string' },
        password: { type: 'string' },
        register: { type: 'boolean', default: false },
        'display-name': { type: 'string' },
        to: { type: 'string' },
        state: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help === true) return null;

  const api = requireString(values.api, '--api', 'the API URL, for example http://127.0.0.1:8080');
  let apiUrl: URL;
  try {
    apiUrl = new URL(api);
  } catch {
    throw new UsageError(`--api must be an http:// or https:// URL, got "${api}"`);
  }
  if (apiUrl.protocol !== 'http:' && apiUrl.protocol !== 'https:') {
    throw new UsageError(`--api must be an http:// or https:// URL, got "${api}"`);
  }
  const username = requireString(values.user, '--user', 'your user name');
  if (!USERNAME_PATTERN.test(username)) {
    throw new UsageError(`--user must be 1-64 characters of A-Z a-z 0-9 . _ -, got "${username}"`);
  }
  const password = requireString(values.password, '--password', 'your password');
  const to = values.to as string | undefined;
  if (to !== undefined && !USERNAME_PATTERN.test(to)) {
    throw new UsageError(`--to must be a user name of 1-64 characters of A-Z a-z 0-9 . _ -, got "${to}"`);
  }
  const displayName = values['display-name'] as string | undefined;
  if (displayName !== undefined && values.register !== true) {
    throw new UsageError('--display-name is only used with --register');
  }

  let port = apiUrl.port;
  if (port === '') port = apiUrl.protocol === 'https:' ? '443' : '80';
  const statePath =
    (values.state as string | undefined) ?? `.data/chat/${username}@${apiUrl.hostname}_${port}.json`;
  return {
    apiUrl: api,
    username,
    password,
    register: values.register === true,
    ...(displayName === undefined ? {} : { displayName }),
    ...(to === undefined ? {} : { to }),
    statePath,
  };
}

function requireString(value: unknown, option: string, what: string): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new UsageError(`${option} is missing: give ${what}`);
  return value;
}

/** Ticks of an own message: sent (acknowledged), delivered to the peer, read by the peer. */
type Delivery = 'sent' | 'delivered' | 'read';

const TICKS: Record<Delivery, string> = { sent: '✓', delivered: '✓✓', read: '✓✓ read' };

interface OwnMessage {
  seq: number;
  body: string;
  ts: number;
  delivery: Delivery;
}

/** The running chat: one client, one current peer, and the terminal. */
class TerminalChat {
  readonly #client: SwitchboardClient;
  readonly #args: ChatArguments;
  /** Users met so far by id, for names on screen. */
  readonly #users = new Map<string, User>();
  /** Messages and receipts are shown one after another, each after its sender's name is known. */
  #shown: Promise<void> = Promise.resolve();
  /** Own messages per conversation not yet read by the peer, in seq order. */
  readonly #ownMessages = new Map<string, OwnMessage[]>();
  #me: User | null = null;
  #peer: { user: User; conv: string } | null = null;
  #terminal: Interface | null = null;
  #quitting = false;

  constructor(args: ChatArguments) {
    this.#args = args;
    this.#client = new SwitchboardClient({ apiUrl: args.apiUrl, state: new FileStateStore(args.statePath) });
  }

  async run(): Promise<number> {
    try {
      const auth = this.#args.register
        ? await this.#client.register(this.#args.username, this.#args.password, this.#args.displayName)
        : await this.#client.login(this.#args.username, this.#args.password);
      this.#me = auth.user;
      this.#users.set(auth.user.id, auth.user);
    } catch (err) {
      const nameTaken = this.#args.register && (err as { code?: unknown }).code === ErrorCode.UsernameTaken;
      process.stderr.write(
        `${this.#args.register ? 'register' : 'login'} failed: ${(err as Error).message}\n` +
          (nameTaken ? 'To log in as this user, run the same command without --register.\n' : ''),
      );
      return 1;
    }

    this.#listen();
    this.#print(`connecting to ${this.#args.apiUrl} as ${this.#args.username} ...`);
    try {
      await this.#client.connect();
    } catch (err) {
      process.stderr.write(`connect failed: ${(err as Error).message}\n`);
      return 1;
    }
    if (this.#args.to !== undefined) await this.#switchPeer(this.#args.to);
    else this.#print('type /to <username> to pick someone to chat with, /help for commands');

    return this.#readLines();
  }

  #listen(): void {
    this.#client.on('connected', (welcome) => this.#print(`connected to ${welcome.node}`));
    this.#client.on('disconnected', (event) => {
      if (this.#quitting) return;
      const reason = event.reason === '' ? '' : `: ${event.reason}`;
      this.#print(
        `disconnected (code ${event.code}${reason})${event.willReconnect ? ', reconnecting' : ', not reconnecting'}`,
      );
    });
    this.#client.on('error', (error) => this.#showError(error));
    this.#client.on('message', (message) => {
      this.#shown = this.#shown.then(() => this.#showMessage(message));
    });
    this.#client.on('receipt', (receipt) => {
      this.#shown = this.#shown.then(() => this.#showReceipt(receipt));
    });
  }

  #readLines(): Promise<number> {
    return new Promise((resolve) => {
      const terminal = createInterface({
        input: process.stdin,
        output: process.stdout,
        terminal: process.stdout.isTTY,
      });
      this.#terminal = terminal;
      terminal.setPrompt('> ');
      terminal.prompt();
      let queue = Promise.resolve();
      terminal.on('line', (line) => {
        // Commands run one after another, so /to finishes before the next line is sent.
        queue = queue.then(() => this.#handleLine(line.trim()));
      });
      terminal.on('SIGINT', () => terminal.close());
      terminal.on('close', () => {
        void queue.then(() => this.#quit()).then(() => resolve(0));
      });
    });
  }

  async #handleLine(line: string): Promise<void> {
    if (this.#quitting) return;
    if (line === '') {
      this.#terminal?.prompt();
      return;
    }
    if (line === '/quit') {
      this.#terminal?.close();
      return;
    }
    if (line === '/help')
      this.#print('/to <username>  chat with someone\n/history  last 20 messages\n/quit  exit');
    else if (line === '/history') await this.#showHistory();
    else if (line === '/to' || line.startsWith('/to ')) await this.#switchPeer(line.slice(3).trim());
    else if (line.startsWith('/')) this.#print(`unknown command ${line.split(' ')[0]}; try /help`);
    else this.#sendLine(line);
    this.#terminal?.prompt();
  }

  #sendLine(body: string): void {
    const peer = this.#peer;
    if (peer === null) {
      this.#print('no peer yet: type /to <username> first');
      return;
    }
    this.#client.send({ conv: peer.conv }, body).catch((err: Error) => {
      this.#print(`not sent ("${body}"): ${err.message}`);
    });
  }

  async #switchPeer(username: string): Promise<void> {
    if (!USERNAME_PATTERN.test(username)) {
      this.#print('usage: /to <username>');
      return;
    }
    try {
      const matches = await this.#client.searchUsers(username);
      const user = matches.find((candidate) => candidate.username === username.toLowerCase());
      if (user === undefined) {
        this.#print(`no user named ${username}`);
        return;
      }
      const conv = await this.#client.openDirect(user.id);
      this.#users.set(user.id, user);
      this.#peer = { user, conv };
      this.#print(`chatting with ${user.username} (${user.displayName})`);
    } catch (err) {
      this.#print(`cannot open a chat with ${username}: ${(err as Error).message}`);
    }
  }

  async #showHistory(): Promise<void> {
    const peer = this.#peer;
    if (peer === null) {
      this.#print('no peer yet: type /to <username> first');
      return;
    }
    try {
      const page = await this.#client.history(peer.conv, { limit: HISTORY_PAGE, direction: 'older' });
      if (page.messages.length === 0) this.#print(`no messages with ${peer.user.username} yet`);
      const oldestFirst = [...page.messages].sort((a, b) => a.seq - b.seq);
      for (const message of oldestFirst)
        this.#print(this.#formatLine(message.ts, message.from, message.body));
    } catch (err) {
      this.#print(`cannot read history: ${(err as Error).message}`);
    }
  }

  async #showMessage(message: MessageFrame): Promise<void> {
    if (message.from === this.#me?.id) {
      const own: OwnMessage = { seq: message.seq, body: message.body, ts: message.ts, delivery: 'sent' };
      this.#ownMessages.set(message.conv, [...(this.#ownMessages.get(message.conv) ?? []), own]);
      this.#print(`${this.#formatLine(message.ts, message.from, message.body)} ${TICKS.sent}`);
      return;
    }
    await this.#learnUser(message.from);
    this.#print(this.#formatLine(message.ts, message.from, message.body));
    this.#client.markRead(message.conv, message.seq);

    const sender = this.#users.get(message.from);
    if (this.#peer === null && sender !== undefined && message.conv.startsWith('d.')) {
      this.#peer = { user: sender, conv: message.conv };
      this.#print(`chatting with ${sender.username}; /to <username> switches`);
    }
  }

  /** Looks up a user met for the first time among the members of the caller's conversations. */
  async #learnUser(id: string): Promise<void> {
    if (this.#users.has(id)) return;
    try {
      for (const conversation of await this.#client.conversations()) {
        for (const member of conversation.members) {
          this.#users.set(member.id, {
            id: member.id,
            username: member.username,
            displayName: member.displayName,
          });
        }
      }
    } catch (err) {
      // The line is still shown, with the user id in place of the name.
      this.#print(`cannot look up user ${id}: ${(err as Error).message}`);
    }
  }

  /** Upgrades the ticks of own messages covered by a peer's receipt and reprints the newest. */
  #showReceipt(receipt: ReceiptFrame): void {
    if (receipt.user === this.#me?.id) return;
    const own = this.#ownMessages.get(receipt.conv);
    if (own === undefined) return;

    let newest: OwnMessage | null = null;
    let changed = 0;
    for (const message of own) {
      if (message.seq > receipt.seq) break;
      if (receipt.kind === 'read' || message.delivery === 'sent') {
        message.delivery = receipt.kind;
        newest = message;
        changed++;
      }
    }
    const unread = own.filter((message) => message.delivery !== 'read');
    if (unread.length === 0) this.#ownMessages.delete(receipt.conv);
    else this.#ownMessages.set(receipt.conv, unread);
    if (newest !== null && this.#me !== null) {
      // A receipt is a watermark, so one line stands for every earlier message it covers.
      const covered = changed > 1 ? ` (and the ${changed - 1} before it)` : '';
      this.#print(
        `${this.#formatLine(newest.ts, this.#me.id, newest.body)} ${TICKS[newest.delivery]}${covered}`,
      );
    }
  }

  #showError(error: ErrorFrame | Error): void {
    // Errors of a send are printed by the send itself.
    if ('type' in error && error.type === 'error') {
      if (error.ref === undefined) this.#print(`server error ${error.code}: ${error.message}`);
      return;
    }
    if (!this.#quitting) this.#print(`connection problem: ${(error as Error).message}`);
  }

  #formatLine(ts: number, from: string, body: string): string {
    const time = new Date(ts).toTimeString().slice(0, 8);
    return `[${time}] ${this.#users.get(from)?.username ?? from}: ${body}`;
  }

  /** Writes a line above the prompt without mangling what the user is typing. */
  #print(line: string): void {
    const terminal = this.#terminal;
    if (terminal === null || !process.stdout.isTTY) {
      process.stdout.write(`${line}\n`);
      return;
    }
    process.stdout.write('\r\x1b[K');
    process.stdout.write(`${line}\n`);
    terminal.prompt(true);
  }

  async #quit(): Promise<void> {
    if (this.#quitting) return;
    const deadline = Date.now() + QUIT_DRAIN_MS;
    while (this.#client.pendingSendCount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    this.#quitting = true;
    if (this.#client.pendingSendCount > 0) {
      this.#print(
        `${this.#client.pendingSendCount} message(s) not acknowledged yet; they are resent next time`,
      );
    }
    await this.#client.close();
    this.#print('bye');
  }
}

async function main(argv: string[]): Promise<number> {
  let args: ChatArguments | null;
  try {
    args = parseChatArguments(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`error: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (args === null) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  return new TerminalChat(args).run();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      process.stdin.pause();
    },
    (err: unknown) => {
      process.stderr.write(`chat failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
