import { dateTimeFormat, type TimeZone } from '@grafana/data';
import { useStyles2, useTheme2 } from '@grafana/ui';
import React from 'react';
import type { SeriesPoint } from '../../../shared/frames';
import { TEST_IDS } from '../../constants';
import { getStyles } from './history-view.styles';

interface Props {
  points: SeriesPoint[];
  width: number;
  height: number;
  timeZone: TimeZone;
  onPickJail: (jail: string) => void;
}

const PAD = { left: 32, right: 8, top: 8, bottom: 18 };

/** Stacked bars of bans per time bucket, one colour per jail. */
export function HistoryView({ points, width, height, timeZone, onPickJail }: Props) {
  const styles = useStyles2(getStyles);
  const theme = useTheme2();
  const jails = [...new Set(points.map((point) => point.jail))].sort();
  const times = [...new Set(points.map((point) => point.time))].sort((a, b) => a - b);
  const color = (jail: string) =>
    theme.visualization.getColorByName(
      theme.visualization.palette[jails.indexOf(jail) % theme.visualization.palette.length] ?? 'blue',
    );

  const stacks = times.map((time) => {
    const here = points.filter((point) => point.time === time && point.bans > 0);
    return { time, parts: here, total: here.reduce((sum, point) => sum + point.bans, 0) };
  });
  const max = Math.max(1, ...stacks.map((stack) => stack.total));
  const chartHeight = Math.max(40, height - 24);
  const plotWidth = Math.max(10, width - PAD.left - PAD.right);
  const plotHeight = Math.max(10, chartHeight - PAD.top - PAD.bottom);
  const slot = plotWidth / Math.max(1, times.length);
  const barWidth = Math.max(1, slot * 0.8);
  const y = (value: number) => PAD.top + plotHeight - (value / max) * plotHeight;
  const labelEvery = Math.max(1, Math.ceil(times.length / Math.max(1, Math.floor(plotWidth / 90))));
  const span = times.length > 1 ? times[times.length - 1]! - times[0]! : 0;
  const format = span > 2 * 86_400_000 ? 'MM-DD' : 'HH:mm';

  return (
    <div className={styles.wrapper}>
      <svg
        width={width}
        height={chartHeight}
        role="img"
        aria-label={`Bans over time for ${jails.length} jail(s)`}
        data-testid={TEST_IDS.historyChart}
      >
        {[0, 0.5, 1].map((fraction) => (
          <g key={fraction}>
            <line
              className={styles.grid}
              x1={PAD.left}
              x2={width - PAD.right}
              y1={y(max * fraction)}
              y2={y(max * fraction)}
            />
            <text className={styles.axis} x={PAD.left - 4} y={y(max * fraction) + 3} textAnchor="end">
              {Math.round(max * fraction)}
            </text>
          </g>
        ))}
        {stacks.map((stack, index) => {
          let base = 0;
          const x = PAD.left + index * slot + (slot - barWidth) / 2;
          return (
            <g key={stack.time}>
              {stack.parts.map((part) => {
                const top = y(base + part.bans);
                const rect = (
                  <rect
                    key={part.jail}
                    x={x}
                    y={top}
                    width={barWidth}
                    height={Math.max(0, y(base) - top)}
                    fill={color(part.jail)}
                  >
                    <title>{`${dateTimeFormat(stack.time, { timeZone })} · ${part.jail}: ${part.bans}`}</title>
                  </rect>
                );
                base += part.bans;
                return rect;
              })}
              {index % labelEvery === 0 && (
                <text className={styles.axis} x={x + barWidth / 2} y={chartHeight - 4} textAnchor="middle">
                  {dateTimeFormat(stack.time, { timeZone, format })}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <div className={styles.legend}>
        {jails.map((jail) => (
          <button type="button" key={jail} className={styles.legendItem} onClick={() => onPickJail(jail)}>
            <span className={styles.swatch} style={{ background: color(jail) }} />
            {jail}
          </button>
        ))}
      </div>
    </div>
  );
}
