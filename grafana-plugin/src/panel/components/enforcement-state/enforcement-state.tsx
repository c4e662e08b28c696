import type { IconName } from '@grafana/data';
import { Icon, useStyles2 } from '@grafana/ui';
import React from 'react';
import type { ApiBanTarget } from '../../../shared/api-types';
import type { TargetSummary } from '../../../shared/frames';
import { TEST_IDS } from '../../constants';
import { getStyles } from './enforcement-state.styles';

type Shown = TargetSummary | ApiBanTarget['state'] | 'removed';

/** Each state has its own icon and word; colour only repeats what they already say. */
const STATES: Record<
  Shown,
  {
    icon: IconName;
    text: string;
    /** The word for a narrow table column, where `text` would be cut; the tooltip keeps the whole. */
    short?: string;
    detail: string;
    tone: 'applied' | 'pending' | 'failed' | 'none';
  }
> = {
  applied: {
    icon: 'check-circle',
    text: 'enforced',
    detail: 'in the firewall of every target host',
    tone: 'applied',
  },
  'dry-run': {
    icon: 'eye',
    text: 'dry-run (would apply)',
    short: 'dry-run',
    detail: 'the responder runs the dry-run transport: no firewall was changed',
    tone: 'pending',
  },
  pending: {
    icon: 'clock-nine',
    text: 'pending',
    detail: 'not yet in the firewall of every target host',
    tone: 'pending',
  },
  failed: {
    icon: 'exclamation-triangle',
    text: 'failed',
    detail: 'a target host refused or could not be reached',
    tone: 'failed',
  },
  lifted: { icon: 'unlock', text: 'lifted', detail: 'unbanned before it expired', tone: 'none' },
  removed: { icon: 'unlock', text: 'removed', detail: 'taken out of this host’s firewall', tone: 'none' },
  none: {
    icon: 'minus-circle',
    text: 'no host',
    detail: 'no target host matched the jail’s scope',
    tone: 'none',
  },
};

export function stateDetail(state: Shown): string {
  return `${STATES[state].text}: ${STATES[state].detail}`;
}

export function EnforcementState({
  state,
  title,
  compact = false,
}: {
  state: Shown;
  title?: string;
  compact?: boolean;
}) {
  const styles = useStyles2(getStyles);
  const info = STATES[state];
  return (
    <span
      className={`${styles.state} ${styles[info.tone]}`}
      title={title ?? stateDetail(state)}
      data-testid={TEST_IDS.state}
    >
      <Icon name={info.icon} size="sm" aria-hidden />
      <span>{compact ? (info.short ?? info.text) : info.text}</span>
    </span>
  );
}
