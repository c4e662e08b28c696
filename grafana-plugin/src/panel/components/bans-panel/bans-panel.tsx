import { cx } from '@emotion/css';
import { type DataSourceRef, LoadingState, type PanelProps } from '@grafana/data';
import { getDataSourceSrv } from '@grafana/runtime';
import { FilterInput, Icon, Tab, TabsBar, useStyles2 } from '@grafana/ui';
import React, { useCallback, useEffect, useMemo, useState } from 'react';
import { toEpochMs } from '../../../shared/api-types';
import { type BanRow, FRAME, findFrame, readBans, readPairs, readSeries } from '../../../shared/frames';
import { isResponderApi, type LokibanResponderApi } from '../../../shared/responder-api';
import { NARROW_ROW_HEIGHT, NARROW_WIDTH, ROW_HEIGHT, SIDE_DETAILS_WIDTH, TEST_IDS } from '../../constants';
import { canChangeBans } from '../../permissions';
import { filterRows, type Sort, type SortKey, sortRows } from '../../rows';
import type { BansPanelOptions, PanelTab } from '../../types';
import { useLogsLink } from '../../use-logs-link';
import { type ActionResult, BanDetails } from '../ban-details/ban-details';
import { BansTable } from '../bans-table/bans-table';
import { HistoryView } from '../history-view/history-view';
import { TopLists } from '../top-lists/top-lists';
import { getStyles } from './bans-panel.styles';

/** Estimates for the first render only; afterwards the table and chart measure their own space. */
const TABS_HEIGHT = 46;
const TOOLBAR_HEIGHT = 36;
const MIN_HEIGHT_FOR_TABS = 260;

type Props = PanelProps<BansPanelOptions>;

/** The table keeps at least this many rows when the details open below it. */
const MIN_ROWS_WITH_DETAILS = 3;

export function BansPanel({ data, options, width, height, timeZone, replaceVariables }: Props) {
  const styles = useStyles2(getStyles);
  const [tab, setTab] = useState<PanelTab>(options.showHistory ? options.defaultTab : 'active');
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<Sort>({ key: 'expiresAt', desc: false });
  const [selectedId, setSelectedId] = useState<number>();
  const [lifted, setLifted] = useState<ReadonlySet<string>>(new Set());
  const [extended, setExtended] = useState<ReadonlyMap<number, number | null>>(new Map());
  const [result, setResult] = useState<ActionResult>();
  const api = useResponderApi(datasourceUid(data.request?.targets?.[0]?.datasource));
  const logs = useLogsLink(api, options.logsDatasource, options.logsSelector, replaceVariables);

  // Fresh data from the responder supersedes what the panel changed locally.
  const [seenSeries, setSeenSeries] = useState(data.series);
  if (seenSeries !== data.series) {
    setSeenSeries(data.series);
    setLifted(new Set());
    setExtended(new Map());
  }

  const bansFrame = findFrame(data.series, FRAME.bans);
  const read = useMemo(() => (bansFrame ? readBans(bansFrame) : undefined), [bansFrame]);
  const rows = useMemo(() => {
    if (!read || !('rows' in read)) return [];
    const present = read.rows.filter((row) => row.liftedAt === null && !lifted.has(row.ip));
    return extended.size === 0
      ? present
      : present.map((row) =>
          extended.has(row.id) ? { ...row, expiresAt: extended.get(row.id) ?? null } : row,
        );
  }, [read, lifted, extended]);
  const sorted = useMemo(() => sortRows(rows, sort), [rows, sort]);
  const visible = useMemo(() => filterRows(sorted, filter), [sorted, filter]);
  const selected = selectedId === undefined ? undefined : rows.find((row) => row.id === selectedId);

  const onSort = useCallback(
    (key: SortKey) => setSort((current) => ({ key, desc: current.key === key ? !current.desc : false })),
    [],
  );
  const onSelect = useCallback((row: BanRow) => setSelectedId(row.id), []);
  const onResult = useCallback((outcome: ActionResult) => {
    setResult(outcome);
    if (outcome.kind === 'unbanned') {
      setLifted((current) => new Set(current).add(outcome.ip));
      setSelectedId(undefined);
    } else if (outcome.kind === 'extended') {
      setExtended((current) => new Map(current).set(outcome.ban.id, toEpochMs(outcome.ban.expiresAt)));
    }
  }, []);
  const pickFilter = useCallback((value: string) => {
    setFilter(value);
    setTab('active');
  }, []);

  const problem = describeProblem(data, read);
  if (problem) {
    return (
      <div className={styles.panel} style={{ width, height }} data-testid={TEST_IDS.panel}>
        {problem}
      </div>
    );
  }

  // Short panels give every pixel to the table: the tabs come back when there is room for them.
  const showTabs = options.showHistory && height >= MIN_HEIGHT_FOR_TABS;
  const bodyHeight = height - (showTabs ? TABS_HEIGHT : 0);
  const shown: PanelTab = showTabs ? tab : 'active';
  // Details never cover the list: beside it when the panel is wide, else below a table that keeps
  // a few rows (the selected one scrolled into view).
  const side = width >= SIDE_DETAILS_WIDTH;
  const listHeight = bodyHeight - TOOLBAR_HEIGHT;
  const detailsWidth = selected && side ? Math.min(480, Math.max(360, Math.round(width * 0.4))) : 0;
  const rowHeight = width - detailsWidth < NARROW_WIDTH ? NARROW_ROW_HEIGHT : ROW_HEIGHT;
  const minTable = ROW_HEIGHT + MIN_ROWS_WITH_DETAILS * rowHeight;
  const detailsHeight =
    selected && !side ? Math.max(0, Math.min(Math.round(listHeight * 0.55), listHeight - minTable)) : 0;
  const series = readSeries(findFrame(data.series, FRAME.series));
  const extendDurations = options.extendDurations
    .split(',')
    .map((value) => value.trim())
    .filter(Boolean);

  return (
    <div className={styles.panel} style={{ width, height }} data-testid={TEST_IDS.panel}>
      {showTabs && (
        <TabsBar className={styles.tabs}>
          <Tab
            label="Active"
            counter={rows.length}
            active={tab === 'active'}
            onChangeTab={() => setTab('active')}
            data-testid={TEST_IDS.tabActive}
          />
          <Tab
            label="History"
            active={tab === 'history'}
            onChangeTab={() => setTab('history')}
            data-testid={TEST_IDS.tabHistory}
          />
          <Tab
            label="Offenders"
            active={tab === 'offenders'}
            onChangeTab={() => setTab('offenders')}
            data-testid={TEST_IDS.tabOffenders}
          />
        </TabsBar>
      )}
      {shown === 'active' && (
        <>
          <div className={styles.toolbar}>
            <div className={styles.filter} data-testid={TEST_IDS.filter}>
              <FilterInput
                value={filter}
                onChange={setFilter}
                escapeRegex={false}
                placeholder="ip, jail:sshd, host:web1"
              />
            </div>
            <span className={styles.count} data-testid={TEST_IDS.count}>
              {visible.length === rows.length
                ? `${rows.length} active`
                : `${visible.length} of ${rows.length}`}
            </span>
            {result && <ResultLine result={result} />}
          </div>
          <div className={side ? styles.splitSide : styles.splitBelow} style={{ height: listHeight }}>
            {rows.length === 0 ? (
              <EmptyState />
            ) : (
              <BansTable
                rows={visible}
                sort={sort}
                onSort={onSort}
                width={width - detailsWidth}
                height={listHeight - detailsHeight}
                selectedId={selectedId}
                onSelect={onSelect}
                timeZone={timeZone}
                logs={logs}
              />
            )}
            {selected && (
              <BanDetails
                key={selected.id}
                row={selected}
                placement={side ? 'side' : 'below'}
                width={side ? detailsWidth : undefined}
                height={side ? undefined : detailsHeight}
                api={api}
                canAct={options.allowActions && canChangeBans()}
                extendDurations={extendDurations}
                ipLink={options.ipLink}
                logs={logs}
                timeZone={timeZone}
                onClose={() => setSelectedId(undefined)}
                onResult={onResult}
              />
            )}
          </div>
        </>
      )}
      {shown === 'history' &&
        (series.length === 0 ? (
          <NoHistory />
        ) : (
          <HistoryView
            points={series}
            range={data.timeRange}
            width={width}
            height={bodyHeight}
            timeZone={timeZone}
            onPickJail={(jail) => pickFilter(`jail:${jail}`)}
          />
        ))}
      {shown === 'offenders' && (
        <TopLists
          limit={options.topLimit}
          onFilter={pickFilter}
          lists={[
            {
              name: 'ips',
              title: 'Top IPs',
              rows: readPairs(findFrame(data.series, FRAME.topIps), 'ip', ['bans']).map(toRow),
              filterFor: (ip) => ip,
            },
            {
              name: 'prefixes',
              title: 'Top /24 and /64',
              rows: readPairs(findFrame(data.series, FRAME.topPrefixes), 'prefix', ['bans']).map(toRow),
            },
            {
              name: 'jails',
              title: 'Per jail',
              rows: readPairs(findFrame(data.series, FRAME.perJail), 'jail', ['bans', 'active']).map(
                toRowActive,
              ),
              filterFor: (jail) => `jail:${jail}`,
            },
            {
              name: 'hosts',
              title: 'Per host',
              rows: readPairs(findFrame(data.series, FRAME.perHost), 'host', ['bans', 'active']).map(
                toRowActive,
              ),
              filterFor: (host) => `host:${host}`,
            },
          ]}
        />
      )}
    </div>
  );
}

const toRow = ({ label, values }: { label: string; values: number[] }) => ({ label, value: values[0] ?? 0 });
const toRowActive = ({ label, values }: { label: string; values: number[] }) => ({
  label,
  value: values[0] ?? 0,
  note: `${values[1] ?? 0} active`,
  detail: `${values[0] ?? 0} bans in the time range, ${values[1] ?? 0} active now`,
});

function datasourceUid(ref: DataSourceRef | string | null | undefined): string | undefined {
  if (typeof ref === 'string') return ref;
  return ref?.uid ?? undefined;
}

/** Resolves the panel's datasource and keeps it only if it is the lokiban responder. */
function useResponderApi(uid: string | undefined) {
  const [api, setApi] = useState<LokibanResponderApi>();
  useEffect(() => {
    let current = true;
    getDataSourceSrv()
      .get(uid)
      .then(
        (datasource) => current && setApi(isResponderApi(datasource) ? datasource : undefined),
        () => current && setApi(undefined),
      );
    return () => {
      current = false;
    };
  }, [uid]);
  return api;
}

function ResultLine({ result }: { result: ActionResult }) {
  const styles = useStyles2(getStyles);
  const text =
    result.kind === 'unbanned'
      ? `Unbanned ${result.ip} (${result.lifted} ban${result.lifted === 1 ? '' : 's'} lifted)`
      : result.kind === 'extended'
        ? `Extended ${result.ip}`
        : `Could not change ${result.ip}: ${result.message}`;
  return (
    <span
      className={cx(styles.result, result.kind === 'failed' ? styles.failure : styles.success)}
      data-testid={TEST_IDS.result}
      title={text}
      role="status"
    >
      <Icon name={result.kind === 'failed' ? 'exclamation-triangle' : 'check'} /> {text}
    </span>
  );
}

function StateMessage(props: {
  testId: string;
  icon: 'lock' | 'exclamation-triangle' | 'plug' | 'info-circle' | 'sync';
  title: string;
  children?: React.ReactNode;
}) {
  const styles = useStyles2(getStyles);
  return (
    <div className={styles.state} data-testid={props.testId}>
      <Icon name={props.icon} size="xl" />
      <div className={styles.stateTitle}>{props.title}</div>
      {props.children && <div className={styles.stateHint}>{props.children}</div>}
    </div>
  );
}

function EmptyState() {
  return (
    <StateMessage testId={TEST_IDS.empty} icon="lock" title="No active bans">
      Nothing is banned right now. Bans appear here when a lokiban alert rule fires, or when an admin bans an
      address through the API.
    </StateMessage>
  );
}

function NoHistory() {
  return (
    <StateMessage testId={TEST_IDS.empty} icon="info-circle" title="No bans in this time range">
      Widen the dashboard time range, or use the Overview query so the panel receives the history frames.
    </StateMessage>
  );
}

function describeProblem(data: Props['data'], read: ReturnType<typeof readBans> | undefined) {
  const error = data.errors?.[0] ?? data.error;
  if (data.state === LoadingState.Error || error) {
    const message = error?.message ?? 'The query failed.';
    const unreachable =
      error?.status === 502 ||
      error?.status === 503 ||
      error?.status === 504 ||
      /could not reach|unreachable/i.test(message);
    return unreachable ? (
      <StateMessage testId={TEST_IDS.unreachable} icon="plug" title="Responder unreachable">
        {message} Open the datasource settings and press “Save &amp; test” to check the URL and token.
      </StateMessage>
    ) : (
      <StateMessage testId={TEST_IDS.error} icon="exclamation-triangle" title="Could not load bans">
        {message}
      </StateMessage>
    );
  }
  if (
    (data.state === LoadingState.Loading || data.state === LoadingState.NotStarted) &&
    data.series.length === 0
  ) {
    return <StateMessage testId={TEST_IDS.loading} icon="sync" title="Loading bans…" />;
  }
  if (!read) {
    return (
      <StateMessage testId={TEST_IDS.error} icon="info-circle" title="No ban data">
        Query the lokiban responder datasource with the Overview (or Bans) query: this panel reads the frame
        named “bans”.
      </StateMessage>
    );
  }
  if ('missing' in read) {
    return (
      <StateMessage testId={TEST_IDS.error} icon="exclamation-triangle" title="Unexpected ban data">
        The “bans” frame lacks these fields: {read.missing.join(', ')}.
      </StateMessage>
    );
  }
  return undefined;
}
