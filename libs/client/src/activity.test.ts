import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SwitchboardClient } from './client.ts';
import { SwitchboardClientError } from './errors.ts';
import { ScriptedCluster, waitFor, within, type ScriptedSocket } from './scripted-cluster.ts';

let cluster: ScriptedCluster;
let client: SwitchboardClient;

beforeEach(async () => {
  cluster = await ScriptedCluster.start(['node-a']);
  client = new SwitchboardClient({ apiUrl: cluster.apiUrl, reconnect: { baseMs: 20, maxMs: 100 } });
  await client.login('alice', 'secret123');
});

afterEach(async () => {
  await client.close();
  await cluster.close();
});

function socketAt(index: number): ScriptedSocket {
  const socket = cluster.node('node-a').sockets[index];
  if (socket === undefined) throw new Error(`node-a has no socket ${index}`);
  return socket;
}

describe('SwitchboardClient.setActivity', () => {
  it('sends nothing for a new foreground connection', async () => {
    await within(client.connect(), 'connect');
    expect(client.activity).toBe('foreground');
    expect(socketAt(0).framesOf('activity')).toEqual([]);
  });

  it('sends each change on the open connection', async () => {
    await within(client.connect(), 'connect');
    client.setActivity('background');
    client.setActivity('foreground');
    await waitFor(() => socketAt(0).framesOf('activity').length === 2, 'two activity frames');
    expect(socketAt(0).framesOf('activity')).toEqual([
      { type: 'activity', state: 'background' },
      { type: 'activity', state: 'foreground' },
    ]);
  });

  it('sends the background state after a reconnect', async () => {
    await within(client.connect(), 'connect');
    client.setActivity('background');
    socketAt(0).socket.terminate();

    await waitFor(() => cluster.node('node-a').sockets.length === 2, 'second connection');
    await waitFor(() => socketAt(1).framesOf('activity').length === 1, 'activity on the new connection');
    expect(socketAt(1).framesOf('activity')).toEqual([{ type: 'activity', state: 'background' }]);
  });

  it('sends a state set while disconnected once connected', async () => {
    client.setActivity('background');
    await within(client.connect(), 'connect');
    await waitFor(() => socketAt(0).framesOf('activity').length === 1, 'activity frame');
    expect(socketAt(0).framesOf('activity')).toEqual([{ type: 'activity', state: 'background' }]);
  });

  it('rejects an unknown state', () => {
    expect(() => client.setActivity('away' as never)).toThrow(SwitchboardClientError);
    expect(client.activity).toBe('foreground');
  });
});
