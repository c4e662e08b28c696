import { dateTimeFormat, type SelectableValue, type TimeZone, textUtil } from '@grafana/data';
import { Button, ConfirmModal, IconButton, RadioButtonGroup, Stack, TextLink, useStyles2 } from '@grafana/ui';
import React, { useEffect, useState } from 'react';
import { type ApiBan, toEpochMs } from '../../../shared/api-types';
import type { BanRow } from '../../../shared/frames';
import type { LokibanResponderApi } from '../../../shared/responder-api';
import { TEST_IDS } from '../../constants';
import { getStyles } from './ban-details.styles';

export type ActionResult =
  | { kind: 'unbanned'; ip: string; lifted: number }
  | { kind: 'extended'; ip: string; ban: ApiBan }
  | { kind: 'failed'; ip: string; message: string };

interface Props {
  row: BanRow;
  height: number;
  api: LokibanResponderApi | undefined;
  canAct: boolean;
  extendDurations: string[];
  ipLink: string;
  timeZone: TimeZone;
  onClose: () => void;
  onResult: (result: ActionResult) => void;
}

type Pending = 'unban' | 'extend' | undefined;

export function durationLabel(duration: string): string {
  return duration === '-1' ? 'permanent' : duration;
}

export function BanDetails(props: Props) {
  const { row, api, canAct, extendDurations, ipLink, timeZone, onClose, onResult } = props;
  const styles = useStyles2(getStyles);
  const [confirm, setConfirm] = useState<Pending>();
  const [busy, setBusy] = useState(false);
  const [duration, setDuration] = useState(extendDurations[0] ?? '1h');
  const [history, setHistory] = useState<ApiBan[] | string | undefined>();

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
  const link = safe === 'about:blank' ? '' : safe;

  return (
    <section className={styles.details} style={{ height: props.height }} data-testid={TEST_IDS.details}>
      <div className={styles.heading}>
        <span className={styles.ip}>{row.ip}</span>
        {link && (
          <TextLink href={link} external inline={false}>
            Logs
          </TextLink>
        )}
        <span className={styles.grow} />
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
        <IconButton
          name="times"
          tooltip="Close details"
          onClick={onClose}
          data-testid={TEST_IDS.closeDetails}
        />
      </div>
      <div className={styles.grid}>
        <span className={styles.label}>Jail</span>
        <span>{row.jail}</span>
        <span className={styles.label}>Hosts</span>
        <span>{row.targets || '—'}</span>
        <span className={styles.label}>Level</span>
        <span>
          {row.level} ({row.offences} offence{row.offences === 1 ? '' : 's'})
        </span>
        <span className={styles.label}>Banned at</span>
        <span>{dateTimeFormat(row.createdAt, { timeZone })}</span>
        <span className={styles.label}>Expires</span>
        <span>
          {row.expiresAt === null ? 'never (permanent)' : dateTimeFormat(row.expiresAt, { timeZone })}
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
        <span className={styles.label}>History</span>
        <div data-testid={TEST_IDS.ipHistory}>{renderHistory(history, api, timeZone, styles.history)}</div>
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

function renderHistory(
  history: ApiBan[] | string | undefined,
  api: LokibanResponderApi | undefined,
  timeZone: TimeZone,
  className: string,
) {
  if (!api) return 'Available with the lokiban responder datasource.';
  if (history === undefined) return 'Loading…';
  if (typeof history === 'string') return `Could not load: ${history}`;
  if (history.length === 0) return 'No other bans.';
  return (
    <ul className={className}>
      {history.slice(0, 20).map((ban) => {
        const created = toEpochMs(ban.createdAt);
        const lifted = toEpochMs(ban.liftedAt);
        return (
          <li key={ban.id}>
            {created === null ? '?' : dateTimeFormat(created, { timeZone })} · {ban.jail} · level {ban.level}
            {lifted !== null ? ` · lifted by ${ban.liftedBy ?? 'unknown'}` : ''}
          </li>
        );
      })}
    </ul>
  );
}
