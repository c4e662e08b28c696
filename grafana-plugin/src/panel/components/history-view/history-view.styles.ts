import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';

export const getStyles = (theme: GrafanaTheme2) => ({
  wrapper: css({ flex: 1, display: 'flex', flexDirection: 'column', minHeight: 0, overflow: 'hidden' }),
  chart: css({ flex: 1, minHeight: 0, overflow: 'hidden' }),
  axis: css({ fill: theme.colors.text.secondary, fontSize: 10 }),
  grid: css({ stroke: theme.colors.border.weak }),
  legend: css({
    flexShrink: 0,
    height: 24,
    overflow: 'hidden',
    display: 'flex',
    alignItems: 'center',
    flexWrap: 'wrap',
    gap: theme.spacing(0.5, 1.5),
    fontSize: theme.typography.bodySmall.fontSize,
    color: theme.colors.text.secondary,
  }),
  legendItem: css({
    all: 'unset',
    cursor: 'pointer',
    display: 'inline-flex',
    alignItems: 'center',
    gap: theme.spacing(0.5),
    '&:hover': { color: theme.colors.text.primary },
  }),
  swatch: css({ width: 10, height: 10, borderRadius: 2 }),
});
