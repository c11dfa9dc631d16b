import { afterEach, describe, expect, it } from 'vitest';
import { ChannelPuller, type ChannelPullerHost } from './channel-puller.ts';

/** A host whose fetches are recorded and whose lastSeq a test moves by hand. */
class FakeHost implements ChannelPullerHost {
  readonly last = new Map<string, number>();
  readonly fetches: Array<[string, number, number]> = [];
  reading = false;
  connected = true;
  done = 0;

  lastSeq(conv: string): number | undefined {
    return this.last.get(conv);
  }

  fetchRangeMax(): number | null {
    return this.connected ? 10 : null;
  }

  isReading(): boolean {
    return this.reading;
  }

  sendFetch(conv: string, from: number, to: number): string | null {
    this.fetches.push([conv, from, to]);
    return `p${this.fetches.length}`;
  }

  readDone(): void {
    this.done += 1;
  }
}

const pullers: ChannelPuller[] = [];

afterEach(() => {
  for (const puller of pullers.splice(0)) puller.reset();
});

function start(host: FakeHost): ChannelPuller {
  const puller = new ChannelPuller(host, 60_000);
  pullers.push(puller);
  return puller;
}

describe('ChannelPuller', () => {
  it('pulls up to the notice range by range', () => {
    const host = new FakeHost();
    host.last.set('g.news', 4);
    const puller = start(host);

    puller.notice('g.news', 25);
    host.last.set('g.news', 14);
    puller.fetched('g.news');
    host.last.set('g.news', 24);
    puller.fetched('g.news');
    host.last.set('g.news', 25);
    puller.fetched('g.news');

    expect(host.fetches).toEqual([
      ['g.news', 5, 14],
      ['g.news', 15, 24],
      ['g.news', 25, 25],
    ]);
  });

  it('starts an unknown conversation at its newest range', () => {
    const host = new FakeHost();
    const puller = start(host);

    puller.notice('g.news', 95);

    expect(host.fetches).toEqual([['g.news', 86, 95]]);
  });

  it('ignores a notice of numbers already seen', () => {
    const host = new FakeHost();
    host.last.set('g.news', 30);
    const puller = start(host);

    puller.notice('g.news', 30);

    expect(host.fetches).toEqual([]);
  });

  it('keeps one fetch in flight and waits while a sync runs', () => {
    const host = new FakeHost();
    host.reading = true;
    const puller = start(host);

    puller.notice('g.a', 3);
    puller.notice('g.b', 3);
    const whileReading = host.fetches.length;
    host.reading = false;
    puller.pump();
    puller.pump();

    expect(whileReading).toBe(0);
    expect(host.fetches).toEqual([['g.a', 1, 3]]);
  });

  it('stops a pull that makes no progress', () => {
    const host = new FakeHost();
    const puller = start(host);

    puller.notice('g.news', 5);
    puller.fetched('g.news');
    puller.pump();

    expect(host.fetches).toEqual([['g.news', 1, 5]]);
  });

  it('tries a fetch that an error answered again after the retry delay', async () => {
    const host = new FakeHost();
    const puller = start(host);
    puller.notice('g.news', 5);

    expect(puller.failed('p9', 10)).toBe(false);
    expect(puller.failed('p1', 10)).toBe(true);
    expect(puller.busy).toBe(false);
    expect(host.done).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(host.fetches).toEqual([
      ['g.news', 1, 5],
      ['g.news', 1, 5],
    ]);
    expect(puller.busy).toBe(true);
  });
});
