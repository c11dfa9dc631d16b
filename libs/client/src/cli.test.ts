import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MessageFrame } from '@switchboard/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseChatArguments, UsageError } from './cli.ts';
import { ScriptedCluster, waitFor, within } from './scripted-cluster.ts';
import type { ClientState } from './state-store.ts';

const CLI_PATH = fileURLToPath(new URL('./cli.ts', import.meta.url));
const CONV = 'd.u_alice.u_bob';

describe('parseChatArguments', () => {
  const base = ['--api', 'http://127.0.0.1:8080', '--user', 'alice', '--password', 'secret123'];

  it('reads a full command line', () => {
    expect(parseChatArguments([...base, '--to', 'bob', '--state', '/tmp/s.json'])).toEqual({
      apiUrl: 'http://127.0.0.1:8080',
      username: 'alice',
      password: 'secret123',
      register: false,
      to: 'bob',
      statePath: '/tmp/s.json',
    });
  });

  it('derives the state file from user and address', () => {
    expect(parseChatArguments(base)?.statePath).toBe('.data/chat/alice@127.0.0.1_8080.json');
  });

  it('returns null for --help', () => {
    expect(parseChatArguments(['--help'])).toBeNull();
  });

  it.each([
    [['--user', 'alice', '--password', 'x'], '--api is missing'],
    [['--api', 'ftp://host', '--user', 'alice', '--password', 'x'], '--api must be an http://'],
    [['--api', 'not a url', '--user', 'alice', '--password', 'x'], '--api must be an http://'],
    [['--api', 'http://h', '--password', 'x'], '--user is missing'],
    [['--api', 'http://h', '--user', 'al ice', '--password', 'x'], '--user must be'],
    [['--api', 'http://h', '--user', 'alice'], '--password is missing'],
    [[...base, '--to', 'b b'], '--to must be'],
    [[...base, '--display-name', 'Al'], '--display-name is only used with --register'],
    [[...base, '--colour'], "Unknown option '--colour'"],
    [[...base, 'extra'], 'extra'],
  ])('rejects %j', (argv, message) => {
    expect(() => parseChatArguments(argv)).toThrow(UsageError);
    expect(() => parseChatArguments(argv)).toThrow(message);
  });
});

/** A running terminal chat with its output collected. */
class ChatProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, ['--import', 'tsx', CLI_PATH, ...args], {
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      stdio: 'pipe',
    });
    this.child.stdout.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('utf8')));
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  type(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  waitForOutput(text: string, timeoutMs = 10_000): Promise<true> {
    return waitFor(
      () => this.stdout.includes(text),
      `chat output "${text}"; got:\n${this.stdout}`,
      timeoutMs,
    );
  }
}

describe('terminal chat', () => {
  let cluster: ScriptedCluster;
  let directory: string;
  const running: ChatProcess[] = [];

  beforeEach(async () => {
    cluster = await ScriptedCluster.start(['node-a']);
    directory = await mkdtemp(join(tmpdir(), 'switchboard-chat-'));
  });

  afterEach(async () => {
    for (const chat of running.splice(0)) {
      if (chat.child.exitCode === null) chat.child.kill();
      await chat.exited;
    }
    await cluster.close();
    await rm(directory, { recursive: true, force: true });
  });

  function startChat(args: string[]): ChatProcess {
    const chat = new ChatProcess(args);
    running.push(chat);
    return chat;
  }

  it('exits 2 with usage on bad arguments', async () => {
    const chat = startChat(['--user', 'alice', '--password', 'secret123']);

    const code = await within(chat.exited, 'chat exit', 10_000);

    expect(code).toBe(2);
    expect(chat.stderr).toContain('--api is missing');
    expect(chat.stderr).toContain('usage: npm run chat --');
  });

  it('exits 1 when the login is rejected', async () => {
    const chat = startChat(['--api', cluster.apiUrl, '--user', 'alice', '--password', 'wrong-one']);

    const code = await within(chat.exited, 'chat exit', 10_000);

    expect(code).toBe(1);
    expect(chat.stderr).toContain('login failed: invalid user name or password');
  });

  it('tells a second register to log in instead', async () => {
    const chat = startChat([
      '--api',
      cluster.apiUrl,
      '--user',
      'alice',
      '--password',
      'secret123',
      '--register',
    ]);

    const code = await within(chat.exited, 'chat exit', 10_000);

    expect(code).toBe(1);
    expect(chat.stderr).toContain('register failed: user name is taken');
    expect(chat.stderr).toContain('run the same command without --register');
  });

  it('chats and resumes from its state file', async () => {
    const statePath = join(directory, 'alice.json');
    const args = [
      '--api',
      cluster.apiUrl,
      '--user',
      'alice',
      '--password',
      'secret123',
      '--state',
      statePath,
    ];
    const chat = startChat([...args, '--to', 'bob']);
    await chat.waitForOutput('chatting with bob (Bob)');

    chat.type('hello bob');
    await waitFor(() => cluster.messages.get(CONV)?.length === 1, 'message from the chat');
    expect(cluster.messages.get(CONV)?.[0]).toMatchObject({ from: 'u_alice', body: 'hello bob' });
    await chat.waitForOutput('alice: hello bob ✓');

    const socket = cluster.node('node-a').sockets[0]!;
    const pos = cluster.nextPosition('u_alice');
    socket.send({ type: 'receipt', conv: CONV, user: 'u_bob', kind: 'read', seq: 1, ts: Date.now(), pos });
    await chat.waitForOutput('alice: hello bob ✓✓ read');

    cluster.deliver({
      type: 'message',
      conv: CONV,
      seq: cluster.nextSeq(CONV),
      from: 'u_bob',
      id: 'bob-1',
      body: 'hi alice',
      ts: Date.now(),
    });
    await chat.waitForOutput('bob: hi alice');
    const read = await waitFor(
      () => socket.framesOf('receipt').find((r) => r.kind === 'read'),
      'read receipt for the displayed message',
    );
    expect(read).toEqual({ type: 'receipt', conv: CONV, kind: 'read', seq: 2 });

    chat.type('/history');
    await waitFor(
      () => chat.stdout.split('\n').filter((l) => l.endsWith('alice: hello bob')).length === 1,
      'history',
    );
    chat.type('/quit');
    expect(await within(chat.exited, 'chat exit', 10_000)).toBe(0);

    const saved = JSON.parse(await readFile(statePath, 'utf8')) as ClientState;
    expect(saved.user).toBe('u_alice');
    expect(saved.lastSeq[CONV]).toBe(2);
    const savedPos = saved.streamPos;
    expect(savedPos).toBe(cluster.streamHead('u_alice'));

    // A message arrives while the chat is closed; the restarted chat syncs from its position.
    const away: MessageFrame = {
      type: 'message',
      conv: CONV,
      seq: cluster.nextSeq(CONV),
      from: 'u_bob',
      id: 'bob-2',
      body: 'while you were away',
      ts: Date.now(),
    };
    cluster.deliver(away);
    const head = cluster.streamHead('u_alice');
    const nodeA = cluster.node('node-a');
    nodeA.onFrame = (s, frame) => {
      if (frame.type !== 'sync') return nodeA.answerFrame(s, frame);
      s.send({ type: 'sync', entries: [{ ...away, pos: head }], head, more: false });
    };
    const restarted = startChat(args);
    await restarted.waitForOutput('bob: while you were away');
    expect(nodeA.framesOf('sync').map((f) => f.after)).toEqual([savedPos]);
    restarted.type('/quit');
    expect(await within(restarted.exited, 'chat exit', 10_000)).toBe(0);
    expect(restarted.stdout).not.toContain('hi alice');
  });
});
