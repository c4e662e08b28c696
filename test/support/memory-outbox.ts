import type { OutboxStore } from '../../src/enforce/dispatcher.js';
import type { OutboxItem } from '../../src/store/port.js';

interface Row extends OutboxItem {
  state: 'pending' | 'applied' | 'failed';
  nextAttemptAt: number;
  lastError: string | null;
}

/**
 * The outbox subset of the Store contract, in memory, with the same version semantics: completing a
 * row only sticks if nothing changed it since it was claimed.
 */
export class MemoryOutbox implements OutboxStore {
  readonly rows: Row[] = [];
  private nextBan = 1;

  ban(hosts: string[], ip: string, jail: string, expiresAt: number | null): number {
    const banId = this.nextBan++;
    for (const host of hosts) {
      this.rows.push({
        targetId: this.rows.length + 1,
        banId,
        host,
        ip,
        jail,
        desired: 'present',
        expiresAt,
        version: 1,
        attempts: 0,
        state: 'pending',
        nextAttemptAt: 0,
        lastError: null,
      });
    }
    return banId;
  }

  private touch(banId: number, change: Partial<Row>): void {
    for (const row of this.rows.filter((r) => r.banId === banId)) {
      Object.assign(row, change, { version: row.version + 1, state: 'pending', nextAttemptAt: 0 });
    }
  }

  extend(banId: number, expiresAt: number | null): void {
    this.touch(banId, { expiresAt });
  }

  unban(banId: number): void {
    this.touch(banId, { desired: 'absent' });
  }

  async pendingHosts(now: number): Promise<string[]> {
    return [
      ...new Set(this.rows.filter((r) => r.state !== 'applied' && r.nextAttemptAt <= now).map((r) => r.host)),
    ];
  }

  /** Like the real stores: each item carries the merged state of its address on the host (see OutboxItem). */
  async claimPending(host: string, limit: number, now: number): Promise<OutboxItem[]> {
    return this.rows
      .filter((r) => r.host === host && r.state !== 'applied' && r.nextAttemptAt <= now)
      .slice(0, limit)
      .map(({ state: _s, nextAttemptAt: _n, lastError: _l, ...item }) => {
        const active = this.rows.filter(
          (r) =>
            r.host === host &&
            r.ip === item.ip &&
            r.desired === 'present' &&
            (r.expiresAt === null || r.expiresAt > now),
        );
        if (active.length === 0) return { ...item, desired: 'absent' as const };
        const expiresAt = active.some((r) => r.expiresAt === null)
          ? null
          : Math.max(...active.map((r) => r.expiresAt!));
        return { ...item, desired: 'present' as const, expiresAt };
      });
  }

  async markApplied(items: ReadonlyArray<Pick<OutboxItem, 'targetId' | 'version'>>): Promise<void> {
    for (const item of items) {
      const row = this.rows[item.targetId - 1];
      if (row && row.version === item.version) {
        row.state = 'applied';
        row.attempts += 1;
        row.lastError = null;
      }
    }
  }

  async markFailed(
    items: ReadonlyArray<Pick<OutboxItem, 'targetId' | 'version'>>,
    error: string,
    nextAttemptAt: number,
  ): Promise<void> {
    for (const item of items) {
      const row = this.rows[item.targetId - 1];
      if (row && row.version === item.version) {
        row.state = 'failed';
        row.attempts += 1;
        row.lastError = error;
        row.nextAttemptAt = nextAttemptAt;
      }
    }
  }

  async desiredForHost(host: string, now: number) {
    return this.rows
      .filter(
        (r) => r.host === host && r.desired === 'present' && (r.expiresAt === null || r.expiresAt > now),
      )
      .map((r) => ({ ip: r.ip, jail: r.jail, expiresAt: r.expiresAt }));
  }

  async acquireLease(): Promise<boolean> {
    return true;
  }

  async releaseLease(): Promise<void> {}
}
