import type { QueryEditorProps, SelectableValue } from '@grafana/data';
import { InlineField, InlineSwitch, Input, RadioButtonGroup, Stack } from '@grafana/ui';
import React, { type ChangeEvent } from 'react';
import type { LokibanDatasource } from '../datasource';
import { DEFAULT_QUERY, type LokibanOptions, type LokibanQuery, type QueryKind } from '../types';

type Props = QueryEditorProps<LokibanDatasource, LokibanQuery, LokibanOptions>;

const KINDS: Array<SelectableValue<QueryKind>> = [
  {
    label: 'Overview',
    value: 'overview',
    description: 'Active bans and history aggregates (for the bans panel)',
  },
  { label: 'Bans', value: 'bans', description: 'One row per ban' },
  { label: 'Stats', value: 'stats', description: 'Bans over time, top IPs and prefixes, per jail and host' },
  {
    label: 'History',
    value: 'history',
    description: 'Bans over time, one series per jail (time series panel)',
  },
];

export function QueryEditor({ query, onChange, onRunQuery }: Props) {
  const current = { ...DEFAULT_QUERY, ...query };
  const update = (patch: Partial<LokibanQuery>) => {
    onChange({ ...query, ...patch });
    onRunQuery();
  };
  return (
    <Stack direction="row" gap={1} wrap="wrap">
      <InlineField label="Query">
        <RadioButtonGroup options={KINDS} value={current.kind} onChange={(kind) => update({ kind })} />
      </InlineField>
      {(current.kind === 'overview' || current.kind === 'bans') && (
        <>
          <InlineField label="Active only" tooltip="Off: every ban created in the dashboard time range">
            <InlineSwitch
              value={current.activeOnly !== false}
              onChange={(event: ChangeEvent<HTMLInputElement>) =>
                update({ activeOnly: event.currentTarget.checked })
              }
            />
          </InlineField>
          <InlineField label="Jail">
            <Input
              width={20}
              value={current.jail ?? ''}
              placeholder="all jails"
              onChange={(event: ChangeEvent<HTMLInputElement>) =>
                onChange({ ...query, jail: event.target.value })
              }
              onBlur={onRunQuery}
            />
          </InlineField>
          <InlineField label="Limit">
            <Input
              type="number"
              width={12}
              value={current.limit}
              min={1}
              max={100_000}
              onChange={(event: ChangeEvent<HTMLInputElement>) =>
                onChange({ ...query, limit: Number(event.target.value) || undefined })
              }
              onBlur={onRunQuery}
            />
          </InlineField>
        </>
      )}
    </Stack>
  );
}
