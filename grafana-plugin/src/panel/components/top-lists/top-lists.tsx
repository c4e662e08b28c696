import { useStyles2 } from '@grafana/ui';
import React from 'react';
import { TEST_IDS } from '../../constants';
import { getStyles } from './top-lists.styles';

export interface TopList {
  name: string;
  title: string;
  rows: Array<{ label: string; value: number; note?: string; detail?: string }>;
  /** What clicking an entry puts in the filter, e.g. `jail:sshd`; none = not clickable. */
  filterFor?: (label: string) => string;
}

interface Props {
  lists: TopList[];
  limit: number;
  onFilter: (filter: string) => void;
}

export function TopLists({ lists, limit, onFilter }: Props) {
  const styles = useStyles2(getStyles);
  return (
    <div className={styles.grid}>
      {lists.map((list) => {
        const rows = [...list.rows].sort((a, b) => b.value - a.value).slice(0, limit);
        const max = Math.max(1, ...rows.map((row) => row.value));
        // Every label of a list gets the width of its longest one (plus one for rounding), so the bars
        // start in one column and no label is cut.
        const labelWidth = `${Math.max(4, ...rows.map((row) => row.label.length)) + 1}ch`;
        return (
          <section key={list.name} data-testid={TEST_IDS.topList(list.name)}>
            <h6 className={styles.title}>{list.title}</h6>
            {rows.length === 0 && <span className={styles.empty}>No bans in this time range.</span>}
            {rows.map((row) => (
              <button
                type="button"
                key={row.label}
                className={styles.item}
                title={row.detail}
                disabled={!list.filterFor}
                onClick={() => list.filterFor && onFilter(list.filterFor(row.label))}
              >
                <span className={styles.label} style={{ width: labelWidth }} data-testid={TEST_IDS.topLabel}>
                  {row.label}
                </span>
                <span className={styles.track} aria-hidden>
                  <span
                    className={styles.bar}
                    style={{ width: `${(row.value / max) * 100}%` }}
                    data-testid={TEST_IDS.topBar}
                  />
                </span>
                <span className={styles.value}>
                  {row.note && <span className={styles.note}>{row.note} · </span>}
                  {row.value}
                </span>
              </button>
            ))}
          </section>
        );
      })}
    </div>
  );
}
