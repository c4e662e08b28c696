import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';

export const getStyles = (theme: GrafanaTheme2) => ({
  grid: css({
    display: 'grid',
    gridTemplateColumns: 'repeat(auto-fit, minmax(240px, 1fr))',
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
  // Label, bar, value in their own columns: a bar never runs under the text.
  item: css({
    all: 'unset',
    boxSizing: 'border-box',
    display: 'grid',
    gridTemplateColumns: 'max-content minmax(16px, 1fr) max-content',
    alignItems: 'center',
    width: '100%',
    gap: theme.spacing(1),
    padding: theme.spacing(0.25, 0.75),
    marginBottom: 2,
    cursor: 'pointer',
    borderRadius: theme.shape.radius.default,
    '&:hover': { background: theme.colors.action.hover },
  }),
  track: css({
    height: 6,
    borderRadius: theme.shape.radius.pill,
    background: theme.colors.background.secondary,
    overflow: 'hidden',
  }),
  bar: css({
    display: 'block',
    height: '100%',
    borderRadius: theme.shape.radius.pill,
    background: theme.colors.primary.main,
  }),
  // Never cut: an address or prefix is only useful whole.
  label: css({
    fontFamily: theme.typography.fontFamilyMonospace,
    overflow: 'hidden',
    textOverflow: 'ellipsis',
    whiteSpace: 'nowrap',
  }),
  value: css({ color: theme.colors.text.secondary, whiteSpace: 'nowrap', textAlign: 'right' }),
  note: css({ color: theme.colors.text.disabled }),
  empty: css({ color: theme.colors.text.secondary }),
});
