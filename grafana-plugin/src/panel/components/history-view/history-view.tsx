import { dateTimeFormat, type TimeRange, type TimeZone } from '@grafana/data';
import { useStyles2, useTheme2 } from '@grafana/ui';
import React from 'react';
import { bucketMs } from '../../../shared/format';
import type { SeriesPoint } from '../../../shared/frames';
import { TEST_IDS } from '../../constants';
import { useElementSize } from '../../use-element-size';
import { getStyles } from './history-view.styles';

interface Props {
  points: SeriesPoint[];
  range: TimeRange;
  width: number;
  height: number;
  timeZone: TimeZone;
  onPickJail: (jail: string) => void;
}

const PAD = { left: 32, right: 12, top: 10, bottom: 20 };
const LEGEND_HEIGHT = 24;

/** Stacked bars of bans per time bucket over the dashboard range, one colour per jail. */
export function HistoryView({ points, range, width, height, timeZone, onPickJail }: Props) {
  const styles = useStyles2(getStyles);
  const theme = useTheme2();
  const [chartRef, size] = useElementSize<HTMLDivElement>({ width, height: height - LEGEND_HEIGHT });
  const jails = [...new Set(points.map((point) => point.jail))].sort();
  const color = (jail: string) =>
    theme.visualization.getColorByName(
      theme.visualization.palette[jails.indexOf(jail) % theme.visualization.palette.length] ?? 'blue',
    );

  const from = range.from.valueOf();
  const to = Math.max(range.to.valueOf(), from + 1);
  const bucket = bucketMs(to - from);
  const stacks = new Map<number, SeriesPoint[]>();
  for (const point of points) {
    if (point.bans <= 0) continue;
    stacks.set(point.time, [...(stacks.get(point.time) ?? []), point]);
  }
  const totals = [...stacks.values()].map((parts) => parts.reduce((sum, part) => sum + part.bans, 0));
  const max = Math.max(1, ...totals);
  const chartWidth = Math.max(60, size.width);
  const chartHeight = Math.max(60, size.height);
  const plotWidth = chartWidth - PAD.left - PAD.right;
  const plotHeight = chartHeight - PAD.top - PAD.bottom;
  const x = (time: number) => PAD.left + ((time - from) / (to - from)) * plotWidth;
  const y = (value: number) => PAD.top + plotHeight - (value / max) * plotHeight;
  const barWidth = Math.max(1, (bucket / (to - from)) * plotWidth * 0.8);
  const tickCount = Math.max(2, Math.min(8, Math.floor(plotWidth / 90)));
  const ticks = Array.from({ length: tickCount }, (_, i) => from + ((to - from) * (i + 0.5)) / tickCount);
  const format = to - from > 2 * 86_400_000 ? 'MM-DD HH:mm' : 'HH:mm';
  const gridValues = max >= 2 ? [0, Math.round(max / 2), max] : [0, max];

  return (
    <div className={styles.wrapper} style={{ height }}>
      <div ref={chartRef} className={styles.chart}>
        <svg
          width={chartWidth}
          height={chartHeight}
          role="img"
          aria-label={`Bans over time for ${jails.length} jail(s)`}
          data-testid={TEST_IDS.historyChart}
        >
          {gridValues.map((value) => (
            <g key={value}>
              <line
                className={styles.grid}
                x1={PAD.left}
                x2={chartWidth - PAD.right}
                y1={y(value)}
                y2={y(value)}
              />
              <text className={styles.axis} x={PAD.left - 6} y={y(value) + 3} textAnchor="end">
                {value}
              </text>
            </g>
          ))}
          {ticks.map((tick) => (
            <text key={tick} className={styles.axis} x={x(tick)} y={chartHeight - 5} textAnchor="middle">
              {dateTimeFormat(tick, { timeZone, format })}
            </text>
          ))}
          {[...stacks.entries()].map(([time, parts]) => {
            let base = 0;
            const left = Math.min(
              Math.max(PAD.left, x(time + bucket / 2) - barWidth / 2),
              chartWidth - PAD.right - barWidth,
            );
            return (
              <g key={time}>
                {parts.map((part) => {
                  const top = y(base + part.bans);
                  const rect = (
                    <rect
                      key={part.jail}
                      x={left}
                      y={top}
                      width={barWidth}
                      height={Math.max(0, y(base) - top)}
                      rx={1}
                      fill={color(part.jail)}
                    >
                      <title>{`${dateTimeFormat(time, { timeZone })} · ${part.jail}: ${part.bans}`}</title>
                    </rect>
                  );
                  base += part.bans;
                  return rect;
                })}
              </g>
            );
          })}
        </svg>
      </div>
      <div className={styles.legend}>
        {jails.map((jail) => (
          <button type="button" key={jail} className={styles.legendItem} onClick={() => onPickJail(jail)}>
            <span className={styles.swatch} style={{ background: color(jail) }} />
            {jail} (
            {points.filter((point) => point.jail === jail).reduce((sum, point) => sum + point.bans, 0)})
          </button>
        ))}
      </div>
    </div>
  );
}
