import { cx } from '@emotion/css';
import { dateTimeFormat, type GrafanaTheme2, type TimeZone } from '@grafana/data';
import { useStyles2, useTheme2 } from '@grafana/ui';
import React, { type UIEvent, useCallback, useState } from 'react';
import { formatAgo, formatRemaining } from '../../../shared/format';
import type { BanRow, TargetSummary } from '../../../shared/frames';
import { ROW_HEIGHT, TEST_IDS } from '../../constants';
import type { Sort, SortKey } from '../../rows';
import { useElementSize } from '../../use-element-size';
import { useNow } from '../../use-now';
import { getStyles } from './bans-table.styles';

interface Column {
  key: SortKey | 'summary';
  label: string;
  width: string;
  /** Columns shown below this panel width are dropped first. */
  minPanelWidth: number;
}

const COLUMNS: Column[] = [
  { key: 'ip', label: 'IP', width: 'minmax(120px, 1.2fr)', minPanelWidth: 0 },
  { key: 'jail', label: 'Jail', width: 'minmax(70px, 0.8fr)', minPanelWidth: 0 },
  { key: 'hosts', label: 'Hosts', width: 'minmax(70px, 1fr)', minPanelWidth: 720 },
  { key: 'level', label: 'Level', width: '56px', minPanelWidth: 520 },
  { key: 'createdAt', label: 'Banned', width: '84px', minPanelWidth: 620 },
  { key: 'expiresAt', label: 'Expires in', width: '96px', minPanelWidth: 0 },
  { key: 'summary', label: 'Summary', width: 'minmax(120px, 2fr)', minPanelWidth: 900 },
];

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
}

export function BansTable({ rows, sort, onSort, width, height, selectedId, onSelect, timeZone }: Props) {
  const styles = useStyles2(getStyles);
  const theme = useTheme2();
  const now = useNow(1000);
  const [scrollTop, setScrollTop] = useState(0);
  const columns = COLUMNS.filter((column) => width >= column.minPanelWidth);
  const template = columns.map((column) => column.width).join(' ');
  const [bodyRef, measured] = useElementSize<HTMLDivElement>({
    width,
    height: Math.max(ROW_HEIGHT, height - (ROW_HEIGHT - 4)),
  });
  const bodyHeight = measured.height;

  // Only the rows in view (plus a margin) are in the DOM: 10,000 bans cost as much as 30.
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + bodyHeight) / ROW_HEIGHT) + OVERSCAN);
  const visible = rows.slice(first, last);
  const onScroll = useCallback(
    (event: UIEvent<HTMLDivElement>) => setScrollTop(event.currentTarget.scrollTop),
    [],
  );

  return (
    <section className={styles.table} data-testid={TEST_IDS.table} aria-label={`${rows.length} active bans`}>
      <div className={styles.header} style={{ gridTemplateColumns: template }}>
        {columns.map((column) =>
          column.key === 'summary' ? (
            <span key={column.key} className={styles.cell}>
              {column.label}
            </span>
          ) : (
            <button
              type="button"
              key={column.key}
              aria-pressed={sort.key === column.key}
              aria-label={`Sort by ${column.label}${sort.key === column.key ? (sort.desc ? ', descending' : ', ascending') : ''}`}
              className={cx(styles.sort, sort.key === column.key && styles.sorted)}
              data-testid={TEST_IDS.sortButton(column.key)}
              onClick={() => onSort(column.key as SortKey)}
            >
              {column.label}
              {sort.key === column.key ? (sort.desc ? ' ▾' : ' ▴') : ''}
            </button>
          ),
        )}
      </div>
      <div ref={bodyRef} className={styles.body} onScroll={onScroll} data-testid={TEST_IDS.tableBody}>
        <div style={{ height: rows.length * ROW_HEIGHT }}>
          {visible.map((row, offset) => (
            <button
              type="button"
              key={row.id}
              aria-pressed={row.id === selectedId}
              data-testid={TEST_IDS.row}
              className={cx(styles.row, row.id === selectedId && styles.selected)}
              style={{ top: (first + offset) * ROW_HEIGHT, gridTemplateColumns: template }}
              onClick={() => onSelect(row)}
            >
              {columns.map((column) => (
                <span key={column.key} className={styles.cell}>
                  {renderCell(column.key, row, now, styles, theme, timeZone)}
                </span>
              ))}
            </button>
          ))}
        </div>
      </div>
    </section>
  );
}

function stateColor(theme: GrafanaTheme2, state: TargetSummary): string {
  switch (state) {
    case 'applied':
      return theme.colors.success.main;
    case 'failed':
      return theme.colors.error.main;
    case 'pending':
      return theme.colors.warning.main;
    default:
      return theme.colors.text.disabled;
  }
}

const STATE_TEXT: Record<TargetSummary, string> = {
  applied: 'enforced on every host',
  pending: 'waiting to reach some hosts',
  failed: 'failed on at least one host',
  lifted: 'lifted',
  none: 'no target host',
};

function renderCell(
  key: Column['key'],
  row: BanRow,
  now: number,
  styles: ReturnType<typeof getStyles>,
  theme: GrafanaTheme2,
  timeZone: TimeZone,
) {
  switch (key) {
    case 'ip':
      return (
        <span className={styles.ip} title={`${row.ip}: ${STATE_TEXT[row.state]}`}>
          <span className={styles.dot} style={{ background: stateColor(theme, row.state) }} />
          {row.ip}
        </span>
      );
    case 'jail':
      return row.jail;
    case 'hosts':
      return <span title={row.targets}>{row.hosts || '—'}</span>;
    case 'level':
      return (
        <span className={styles.level} title={`escalation level ${row.level}, ${row.offences} offence(s)`}>
          {row.level}
        </span>
      );
    case 'createdAt':
      return (
        <span className={styles.muted} title={dateTimeFormat(row.createdAt, { timeZone })}>
          {formatAgo(now - row.createdAt)}
        </span>
      );
    case 'expiresAt': {
      if (row.expiresAt === null) {
        return (
          <span className={styles.permanent} data-testid={TEST_IDS.expires}>
            permanent
          </span>
        );
      }
      const remaining = row.expiresAt - now;
      return (
        <span
          className={remaining < 5 * 60_000 ? styles.soon : undefined}
          title={dateTimeFormat(row.expiresAt, { timeZone })}
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
