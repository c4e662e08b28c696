import { cx } from '@emotion/css';
import { dateTimeFormatWithAbbrevation, type TimeZone } from '@grafana/data';
import { Icon, useStyles2, useTheme2 } from '@grafana/ui';
import React, { type UIEvent, useCallback, useLayoutEffect, useMemo, useState } from 'react';
import { formatAgo, formatRemaining, offenceNumber, ordinal } from '../../../shared/format';
import type { BanRow } from '../../../shared/frames';
import { NARROW_ROW_HEIGHT, NARROW_WIDTH, ROW_HEIGHT, TEST_IDS } from '../../constants';
import type { Sort, SortKey } from '../../rows';
import { useElementSize } from '../../use-element-size';
import type { LogsLink } from '../../use-logs-link';
import { useNow } from '../../use-now';
import { EnforcementState } from '../enforcement-state/enforcement-state';
import { getStyles } from './bans-table.styles';

type ColumnKey = SortKey | 'state' | 'summary';

interface Column {
  key: ColumnKey;
  label: string;
  width: string;
  /** Columns are dropped, least important first, as the table gets narrower. */
  minWidth: number;
}

/**
 * The IP column is as wide as the longest address with its prefix length (an IPv6 /64 in full), so
 * an address is never cut; other columns give way first.
 */
const COLUMNS: Column[] = [
  { key: 'ip', label: 'IP', width: '', minWidth: 0 },
  { key: 'state', label: 'Enforced', width: '96px', minWidth: 0 },
  { key: 'jail', label: 'Jail', width: 'minmax(70px, 0.8fr)', minWidth: 0 },
  { key: 'hosts', label: 'Hosts', width: 'minmax(70px, 1fr)', minWidth: 860 },
  { key: 'level', label: 'Offence', width: '64px', minWidth: 560 },
  { key: 'createdAt', label: 'Banned', width: '76px', minWidth: 760 },
  { key: 'expiresAt', label: 'Expires in', width: '88px', minWidth: 0 },
  { key: 'summary', label: 'Summary', width: 'minmax(120px, 2fr)', minWidth: 1100 },
];

/** The logs link sits beside each row's button (a link cannot live inside a button). */
const LOGS_WIDTH = 44;

const OVERSCAN = 8;

interface Props {
  rows: readonly BanRow[];
  sort: Sort;
  onSort: (key: SortKey) => void;
  width: number;
  height: number;
  selectedId: number | undefined;
  onSelect: (row: BanRow) => void;
  timeZone: TimeZone;
  logs: LogsLink;
}

/**
 * A virtualised table: only the rows in view (plus a margin) are in the DOM, so 10,000 bans cost as
 * much as 30, and the countdowns tick without re-rendering the rest. Wide tables have one line per
 * ban; narrow ones two, so the whole address (and its prefix length) always shows.
 */
export function BansTable(props: Props) {
  const { rows, sort, onSort, width, height, selectedId, onSelect, timeZone, logs } = props;
  const styles = useStyles2(getStyles);
  const now = useNow(1000);
  const narrow = width < NARROW_WIDTH;
  const rowHeight = narrow ? NARROW_ROW_HEIGHT : ROW_HEIGHT;
  const columns = narrow ? [] : COLUMNS.filter((column) => width >= column.minWidth);
  const ipWidth = useAddressWidth(rows);
  const template = columns
    .map((column) => (column.key === 'ip' ? `minmax(${ipWidth}px, 1.2fr)` : column.width))
    .join(' ');
  const [bodyRef, measured] = useElementSize<HTMLDivElement>({
    width,
    height: Math.max(rowHeight, height - (ROW_HEIGHT - 4)),
  });
  const bodyHeight = measured.height;
  const [scrollTop, setScrollTop] = useState(0);

  // The selected ban stays in view: when it is chosen, and when the details pane shrinks the table.
  const selectedIndex = selectedId === undefined ? -1 : rows.findIndex((row) => row.id === selectedId);
  useLayoutEffect(() => {
    const body = bodyRef.current;
    if (!body || selectedIndex < 0) return;
    const top = selectedIndex * rowHeight;
    if (top < body.scrollTop) body.scrollTop = top;
    else if (top + rowHeight > body.scrollTop + bodyHeight) body.scrollTop = top + rowHeight - bodyHeight;
    setScrollTop(body.scrollTop);
  }, [bodyRef, selectedIndex, rowHeight, bodyHeight]);

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + bodyHeight) / rowHeight) + OVERSCAN);
  const visible = rows.slice(first, last);
  const onScroll = useCallback(
    (event: UIEvent<HTMLDivElement>) => setScrollTop(event.currentTarget.scrollTop),
    [],
  );
  return (
    <section className={styles.table} data-testid={TEST_IDS.table} aria-label={`${rows.length} active bans`}>
      {narrow ? (
        <NarrowHeader sort={sort} onSort={onSort} />
      ) : (
        <div className={styles.headerRow}>
          <div className={styles.header} style={{ gridTemplateColumns: template }}>
            {columns.map((column) =>
              column.key === 'summary' || column.key === 'state' ? (
                <span key={column.key} className={styles.cell}>
                  {column.label}
                </span>
              ) : (
                <SortButton
                  key={column.key}
                  column={column.key}
                  label={column.label}
                  sort={sort}
                  onSort={onSort}
                />
              ),
            )}
          </div>
          <span className={styles.logsHeader} style={{ width: LOGS_WIDTH }}>
            Logs
          </span>
        </div>
      )}
      <div ref={bodyRef} className={styles.body} onScroll={onScroll} data-testid={TEST_IDS.tableBody}>
        <div style={{ height: rows.length * rowHeight }}>
          {visible.map((row, offset) => (
            <div
              key={row.id}
              className={cx(styles.row, row.id === selectedId && styles.selected)}
              style={{ top: (first + offset) * rowHeight, height: rowHeight }}
            >
              <button
                type="button"
                data-testid={TEST_IDS.row}
                aria-pressed={row.id === selectedId}
                className={cx(styles.rowButton, narrow && styles.narrowRow)}
                style={{ gridTemplateColumns: narrow ? undefined : template }}
                onClick={() => onSelect(row)}
              >
                {narrow ? (
                  <NarrowRow row={row} now={now} timeZone={timeZone} />
                ) : (
                  columns.map((column) => (
                    <span key={column.key} className={styles.cell}>
                      <Cell column={column.key} row={row} now={now} timeZone={timeZone} />
                    </span>
                  ))
                )}
              </button>
              <span className={styles.logsCell} style={{ width: LOGS_WIDTH }}>
                <LogsLinkIcon row={row} logs={logs} />
              </span>
            </div>
          ))}
        </div>
      </div>
    </section>
  );
}

/** Monospace digits at the table's size, where nothing lays text out (jsdom). */
const FALLBACK_CHAR_PX = 7.5;
const CELL_PADDING_PX = 18;

function measureCharWidth(fontSize: string, fontFamily: string): number {
  const probe = document.createElement('span');
  probe.textContent = '0'.repeat(40);
  Object.assign(probe.style, {
    position: 'absolute',
    visibility: 'hidden',
    whiteSpace: 'pre',
    fontSize,
    fontFamily,
  });
  document.body.append(probe);
  const width = probe.getBoundingClientRect().width / 40;
  probe.remove();
  return width || FALLBACK_CHAR_PX;
}

/**
 * The width of the longest address (with its prefix length) among all rows, not just those in view,
 * so the column does not change while scrolling and no address is ever cut.
 */
function useAddressWidth(rows: readonly BanRow[]): number {
  const theme = useTheme2();
  const longest = useMemo(() => rows.reduce((max, row) => Math.max(max, row.ip.length), 2), [rows]);
  const charPx = useMemo(
    () => measureCharWidth(theme.typography.bodySmall.fontSize, theme.typography.fontFamilyMonospace),
    [theme],
  );
  return Math.ceil(longest * charPx + CELL_PADDING_PX);
}

function SortButton(props: { column: SortKey; label: string; sort: Sort; onSort: (key: SortKey) => void }) {
  const styles = useStyles2(getStyles);
  const active = props.sort.key === props.column;
  return (
    <button
      type="button"
      aria-pressed={active}
      aria-label={`Sort by ${props.label}${active ? (props.sort.desc ? ', descending' : ', ascending') : ''}`}
      className={cx(styles.sort, active && styles.sorted)}
      data-testid={TEST_IDS.sortButton(props.column)}
      onClick={() => props.onSort(props.column)}
    >
      {props.label}
      {active ? (props.sort.desc ? ' ▾' : ' ▴') : ''}
    </button>
  );
}

function NarrowHeader({ sort, onSort }: { sort: Sort; onSort: (key: SortKey) => void }) {
  const styles = useStyles2(getStyles);
  return (
    <div className={cx(styles.header, styles.narrowHeader)}>
      <SortButton column="ip" label="IP" sort={sort} onSort={onSort} />
      <SortButton column="jail" label="Jail" sort={sort} onSort={onSort} />
      <SortButton column="expiresAt" label="Expires in" sort={sort} onSort={onSort} />
    </div>
  );
}

interface CellProps {
  row: BanRow;
  now: number;
  timeZone: TimeZone;
}

/** Two lines: the whole address (the line is the table's width), then jail, offence, state and expiry. */
function NarrowRow({ row, now, timeZone }: CellProps) {
  const styles = useStyles2(getStyles);
  return (
    <>
      <span className={styles.narrowLine}>
        <Cell column="ip" row={row} now={now} timeZone={timeZone} />
      </span>
      <span className={cx(styles.narrowLine, styles.muted)}>
        <span className={styles.ellipsis}>
          {row.jail} · #{offenceNumber(row.level)}
        </span>
        <EnforcementState state={row.state} title={row.targets || undefined} compact />
        <Cell column="expiresAt" row={row} now={now} timeZone={timeZone} />
      </span>
    </>
  );
}

function Cell({ column, row, now, timeZone }: CellProps & { column: ColumnKey }) {
  const styles = useStyles2(getStyles);
  switch (column) {
    case 'ip':
      return (
        <span className={styles.ip} data-testid={TEST_IDS.ip}>
          {row.ip}
        </span>
      );
    case 'state':
      return <EnforcementState state={row.state} title={row.targets || undefined} compact />;
    case 'jail':
      return row.jail;
    case 'hosts':
      return <span title={row.targets}>{row.hosts || '—'}</span>;
    case 'level': {
      const n = offenceNumber(row.level);
      return (
        <span
          className={styles.offence}
          data-testid={TEST_IDS.offence}
          title={
            n === 1
              ? '1st offence: the jail’s base ban time'
              : `${ordinal(n)} offence: ${n - 1} earlier ban${n === 2 ? '' : 's'} of this address made this one longer`
          }
        >
          #{n}
        </span>
      );
    }
    case 'createdAt':
      return (
        <span className={styles.muted} title={dateTimeFormatWithAbbrevation(row.createdAt, { timeZone })}>
          {formatAgo(now - row.createdAt)}
        </span>
      );
    case 'expiresAt': {
      if (row.expiresAt === null) {
        return (
          <span className={styles.permanent} data-testid={TEST_IDS.expires} title="never expires">
            permanent
          </span>
        );
      }
      const remaining = row.expiresAt - now;
      return (
        <span
          className={remaining < 5 * 60_000 ? styles.soon : undefined}
          title={`until ${dateTimeFormatWithAbbrevation(row.expiresAt, { timeZone })}`}
          data-testid={TEST_IDS.expires}
        >
          {formatRemaining(remaining)}
        </span>
      );
    }
    case 'summary':
      return (
        <span className={styles.muted} title={row.summary}>
          {row.summary || '—'}
        </span>
      );
  }
}

function LogsLinkIcon({ row, logs }: { row: BanRow; logs: LogsLink }) {
  const styles = useStyles2(getStyles);
  const href = logs.href(row);
  if (!href) {
    return (
      <span className={styles.logsOff} title={logs.unavailable} role="img" aria-label="No logs link">
        <Icon name="document-info" />
      </span>
    );
  }
  return (
    <a
      className={styles.logs}
      href={href}
      title={`Log lines of ${row.ip} in ${row.jail}, in Explore`}
      aria-label={`Logs of ${row.ip}`}
      data-testid={TEST_IDS.logsLink}
    >
      <Icon name="document-info" />
    </a>
  );
}
