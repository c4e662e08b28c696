import type { DecisionPolicy } from '../domain/policy.js';
import type { Store } from '../store/port.js';
import type { RecordItems } from './detector.js';

/**
 * The tail's way into the decision path: the store's guard, escalation, durable outbox and, once
 * committed, a wake-up for the dispatcher of the hosts whose firewall changes. It mirrors what the
 * webhook route does with an Alertmanager batch, so a tail offence and a ruler alert are decided alike.
 */
export function recordThroughStore(
  store: Pick<Store, 'recordBatch'>,
  policy: DecisionPolicy,
  notify: (hosts: string[]) => void,
): RecordItems {
  return async (items) => {
    const outcomes = await store.recordBatch(items, policy, 'loki-tail');
    const changed = new Set<string>();
    for (const outcome of outcomes) {
      if (outcome.outcome !== 'banned' && outcome.outcome !== 'extended') continue;
      const item = items[outcome.index];
      if (item?.kind !== 'offence') continue;
      const jail = policy.jails[item.offence.jail];
      if (jail) for (const host of policy.targetsFor(jail, item.offence.originHost)) changed.add(host);
    }
    if (changed.size > 0) notify([...changed]);
    return outcomes;
  };
}
