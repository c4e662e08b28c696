import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';

export const getStyles = (theme: GrafanaTheme2) => ({
  grid: css({
    display: 'grid',
    gridTemplateColumns: 'repeat(auto-fit, minmax(200px, 1fr))',
    gap: theme.spacing(1.5),
    overflowY: 'auto',
    minHeight: 0,
    fontSize: theme.typography.bodySmall.fontSize,
  }),
  title: css({
    margin: theme.spacing(0, 0, 0.5),
    fontSize: theme.typography.bodySmall.fontSize,
    fontWeight: theme.typography.fontWeightMedium,
    color: theme.colors.text.secondary,
    textTransform: 'uppercase',
    letterSpacing: '0.04em',
  }),
  item: css({
    all: 'unset',
    boxSizing: 'border-box',
    position: 'relative',
    display: 'flex',
    width: '100%',
    justifyContent: 'space-between',
    gap: theme.spacing(1),
    padding: theme.spacing(0.25, 0.75),
    marginBottom: 2,
    cursor: 'pointer',
    borderRadius: theme.shape.radius.default,
    '&:hover': { background: theme.colors.action.hover },
  }),
  bar: css({
    position: 'absolute',
    inset: 0,
    right: 'auto',
    borderRadius: theme.shape.radius.default,
    background: theme.colors.primary.transparent,
  }),
  label: css({
    position: 'relative',
    fontFamily: theme.typography.fontFamilyMonospace,
    overflow: 'hidden',
    textOverflow: 'ellipsis',
    whiteSpace: 'nowrap',
  }),
  value: css({ position: 'relative', color: theme.colors.text.secondary, whiteSpace: 'nowrap' }),
  note: css({ color: theme.colors.text.disabled }),
  empty: css({ color: theme.colors.text.secondary }),
});
