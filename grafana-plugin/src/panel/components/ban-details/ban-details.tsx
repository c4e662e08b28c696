import {
  dateTimeFormat,
  dateTimeFormatWithAbbrevation,
  type SelectableValue,
  type TimeZone,
  textUtil,
} from '@grafana/data';
import {
  Button,
  ConfirmModal,
  IconButton,
  InteractiveTable,
  LinkButton,
  RadioButtonGroup,
  Stack,
  TextLink,
  useStyles2,
} from '@grafana/ui';
import React, { useEffect, useState } from 'react';
import { type ApiBan, type ApiBanTarget, toEpochMs } from '../../../shared/api-types';
import { formatRemaining, offenceNumber, ordinal } from '../../../shared/format';
import type { BanRow } from '../../../shared/frames';
import type { LokibanResponderApi } from '../../../shared/responder-api';
import { TEST_IDS } from '../../constants';
import type { LogsLink } from '../../use-logs-link';
import { EnforcementState } from '../enforcement-state/enforcement-state';
import { getStyles } from './ban-details.styles';

export type ActionResult =
  | { kind: 'unbanned'; ip: string; lifted: number }
  | { kind: 'extended'; ip: string; ban: ApiBan }
  | { kind: 'failed'; ip: string; message: string };

interface Props {
  row: BanRow;
  /** Beside the table (wide panels) or below it. */
  placement: 'side' | 'below';
  width: number | undefined;
  height: number | undefined;
  api: LokibanResponderApi | undefined;
  canAct: boolean;
  extendDurations: string[];
  ipLink: string;
  logs: LogsLink;
  timeZone: TimeZone;
  onClose: () => void;
  onResult: (result: ActionResult) => void;
}

type Pending = 'unban' | 'extend' | undefined;

export function durationLabel(duration: string): string {
  return duration === '-1' ? 'permanent' : duration;
}

export function BanDetails(props: Props) {
  const { row, api, canAct, extendDurations, ipLink, logs, timeZone, onClose, onResult } = props;
  const styles = useStyles2(getStyles);
  const [confirm, setConfirm] = useState<Pending>();
  const [busy, setBusy] = useState(false);
  const [duration, setDuration] = useState(extendDurations[0] ?? '1h');
  const [history, setHistory] = useState<ApiBan[] | string | undefined>();
  const time = (ms: number) => dateTimeFormatWithAbbrevation(ms, { timeZone });
  const clock = (ms: number) => dateTimeFormat(ms, { timeZone, format: 'HH:mm:ss' });

  useEffect(() => {
    if (!api) return;
    let current = true;
    setHistory(undefined);
    api.history(row.ip).then(
      (bans) => current && setHistory(bans),
      (error: unknown) => current && setHistory(error instanceof Error ? error.message : String(error)),
    );
    return () => {
      current = false;
    };
  }, [api, row.ip]);

  const run = async (action: Exclude<Pending, undefined>) => {
    if (!api) return;
    setBusy(true);
    try {
      if (action === 'unban') {
        const lifted = await api.unban(row.ip, row.jail);
        onResult({ kind: 'unbanned', ip: row.ip, lifted: lifted.length });
      } else {
        const ban = await api.extend(row.ip, row.jail, duration);
        onResult({ kind: 'extended', ip: row.ip, ban });
      }
    } catch (error) {
      onResult({
        kind: 'failed',
        ip: row.ip,
        message: error instanceof Error ? error.message : String(error),
      });
    } finally {
      setBusy(false);
      setConfirm(undefined);
    }
  };

  const durations: Array<SelectableValue<string>> = extendDurations.map((value) => ({
    value,
    label: durationLabel(value),
  }));
  // The link comes from panel options (editable by any Editor) and is shown to Viewers: Grafana's
  // sanitizer drops `javascript:` and similar schemes.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: `${ip}` is the placeholder operators write, as in Grafana links.
  const safe = ipLink ? textUtil.sanitizeUrl(ipLink.split('${ip}').join(encodeURIComponent(row.ip))) : '';
  const extraLink = safe === 'about:blank' ? '' : safe;
  const logsHref = logs.href(row);
  const offence = offenceNumber(row.level);
  const hosts = row.hostStates;

  return (
    <section
      className={props.placement === 'side' ? styles.side : styles.below}
      style={{ width: props.width, height: props.height }}
      data-testid={TEST_IDS.details}
      aria-label={`Ban of ${row.ip}`}
    >
      <div className={styles.heading}>
        <span className={styles.ip}>{row.ip}</span>
        <IconButton
          name="times"
          tooltip="Close details"
          onClick={onClose}
          data-testid={TEST_IDS.closeDetails}
        />
      </div>
      <div className={styles.actions}>
        {logsHref ? (
          <LinkButton
            size="sm"
            variant="secondary"
            icon="document-info"
            href={logsHref}
            data-testid={TEST_IDS.logsLink}
          >
            Logs in Explore
          </LinkButton>
        ) : (
          <Button size="sm" variant="secondary" icon="document-info" disabled tooltip={logs.unavailable}>
            Logs in Explore
          </Button>
        )}
        {extraLink && (
          <TextLink href={extraLink} external inline={false}>
            {`More about ${row.ip}`}
          </TextLink>
        )}
        {canAct && api && (
          <Stack gap={1}>
            <Button
              size="sm"
              variant="secondary"
              icon="clock-nine"
              disabled={busy}
              data-testid={TEST_IDS.extendButton}
              onClick={() => setConfirm('extend')}
            >
              Extend
            </Button>
            <Button
              size="sm"
              variant="destructive"
              icon="unlock"
              disabled={busy}
              data-testid={TEST_IDS.unbanButton}
              onClick={() => setConfirm('unban')}
            >
              Unban
            </Button>
          </Stack>
        )}
      </div>
      <div className={styles.grid}>
        <span className={styles.label}>Jail</span>
        <span>{row.jail}</span>
        <span className={styles.label}>Enforced</span>
        <EnforcementState state={row.state} />
        <span className={styles.label}>Offence</span>
        <span>
          {ordinal(offence)}
          <span className={styles.label}>
            {offence === 1
              ? ' · the jail’s base ban time'
              : ` · ${offence - 1} earlier ban${offence === 2 ? '' : 's'} made this one longer`}
            {row.offences > 1 ? ` · ${row.offences} alerts folded in` : ''}
          </span>
        </span>
        <span className={styles.label}>Banned at</span>
        <span>{time(row.createdAt)}</span>
        {row.updatedAt > row.createdAt + 1000 && (
          <>
            <span className={styles.label}>Last change</span>
            <span>{time(row.updatedAt)}</span>
          </>
        )}
        <span className={styles.label}>Expires</span>
        <span>
          {row.expiresAt === null ? (
            'never (permanent)'
          ) : (
            <>
              {time(row.expiresAt)} <RemainingTime until={row.expiresAt} />
            </>
          )}
        </span>
        {row.summary && (
          <>
            <span className={styles.label}>Summary</span>
            <span>{row.summary}</span>
          </>
        )}
        {row.sample && (
          <>
            <span className={styles.label}>Log sample</span>
            <pre className={styles.sample}>{row.sample}</pre>
          </>
        )}
      </div>
      <h6 className={styles.subheading}>Hosts</h6>
      <div data-testid={TEST_IDS.detailsHosts}>
        {hosts.length === 0 ? (
          <span className={styles.label}>{row.targets || 'No target host.'}</span>
        ) : (
          <InteractiveTable
            columns={hostColumns(hosts, clock)}
            data={hosts}
            getRowId={(target: ApiBanTarget) => target.host}
          />
        )}
      </div>
      <h6 className={styles.subheading}>Bans of this address</h6>
      <div data-testid={TEST_IDS.ipHistory}>
        <IpHistory history={history} api={api} time={time} />
      </div>
      {!canAct && api && (
        <p className={styles.label}>Unban and extend are available to Editors and Admins.</p>
      )}
      <ConfirmModal
        isOpen={confirm === 'unban'}
        title={`Unban ${row.ip}?`}
        body={`Lifts the ${row.jail} ban on ${row.ip} and removes it from ${row.hosts || 'its hosts'}. A new offence bans it again.`}
        confirmText="Unban"
        onConfirm={() => run('unban')}
        onDismiss={() => setConfirm(undefined)}
      />
      <ConfirmModal
        isOpen={confirm === 'extend'}
        title={`Extend the ban on ${row.ip}?`}
        body={
          <Stack direction="column" gap={1}>
            <span>The ban will last until at least this long from now; a longer ban is kept.</span>
            <RadioButtonGroup options={durations} value={duration} onChange={setDuration} />
          </Stack>
        }
        confirmText={`Extend (${durationLabel(duration)})`}
        confirmVariant="primary"
        onConfirm={() => run('extend')}
        onDismiss={() => setConfirm(undefined)}
      />
    </section>
  );
}

function RemainingTime({ until }: { until: number }) {
  const styles = useStyles2(getStyles);
  return <span className={styles.label}>(in {formatRemaining(until - Date.now())})</span>;
}

type Cell<T> = { row: { original: T } };

/** Host, state, when it was applied (same day as the ban: the clock time), attempts, and errors if any. */
function hostColumns(hosts: ApiBanTarget[], clock: (ms: number) => string) {
  const columns = [
    { id: 'host', header: 'Host' },
    {
      id: 'state',
      header: 'State',
      cell: ({ row: { original } }: Cell<ApiBanTarget>) => (
        <EnforcementState state={original.desired === 'absent' ? 'removed' : original.state} />
      ),
    },
    {
      id: 'appliedAt',
      header: 'Applied',
      cell: ({ row: { original } }: Cell<ApiBanTarget>) => {
        const at = toEpochMs(original.appliedAt);
        return at === null ? '—' : clock(at);
      },
    },
    { id: 'attempts', header: 'Attempts' },
  ];
  if (hosts.some((host) => host.lastError)) {
    columns.push({
      id: 'lastError',
      header: 'Last error',
      cell: ({ row: { original } }: Cell<ApiBanTarget>) => original.lastError ?? '—',
    });
  }
  return columns;
}

interface HistoryRow {
  id: number;
  createdAt: number | null;
  jail: string;
  offence: string;
  end: string;
}

function IpHistory(props: {
  history: ApiBan[] | string | undefined;
  api: LokibanResponderApi | undefined;
  time: (ms: number) => string;
}) {
  const { history, api, time } = props;
  if (!api) return <>Available with the lokiban responder datasource.</>;
  if (history === undefined) return <>Loading…</>;
  if (typeof history === 'string') return <>Could not load: {history}</>;
  if (history.length === 0) return <>No other bans.</>;
  const rows: HistoryRow[] = history.slice(0, 20).map((ban) => {
    const lifted = toEpochMs(ban.liftedAt);
    const expires = toEpochMs(ban.expiresAt);
    return {
      id: ban.id,
      createdAt: toEpochMs(ban.createdAt),
      jail: ban.jail,
      offence: ordinal(offenceNumber(ban.level)),
      end:
        lifted !== null
          ? `lifted by ${ban.liftedBy ?? 'unknown'}`
          : expires === null
            ? 'permanent'
            : `${expires > Date.now() ? 'until' : 'ended'} ${time(expires)}`,
    };
  });
  return (
    <InteractiveTable
      columns={[
        {
          id: 'createdAt',
          header: 'Banned at',
          cell: ({ row: { original } }: Cell<HistoryRow>) =>
            original.createdAt === null ? '?' : time(original.createdAt),
        },
        { id: 'jail', header: 'Jail' },
        { id: 'offence', header: 'Offence' },
        { id: 'end', header: 'End' },
      ]}
      data={rows}
      getRowId={(row: HistoryRow) => String(row.id)}
    />
  );
}
