import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';

export const getStyles = (theme: GrafanaTheme2) => {
  const pane = {
    flexShrink: 0,
    padding: theme.spacing(1),
    overflowY: 'auto' as const,
    overflowX: 'hidden' as const,
    background: theme.colors.background.secondary,
    fontSize: theme.typography.bodySmall.fontSize,
    minWidth: 0,
  };
  return {
    side: css({ ...pane, borderLeft: `1px solid ${theme.colors.border.medium}` }),
    below: css({ ...pane, borderTop: `1px solid ${theme.colors.border.medium}` }),
    heading: css({
      display: 'flex',
      alignItems: 'flex-start',
      justifyContent: 'space-between',
      gap: theme.spacing(1),
      marginBottom: theme.spacing(0.5),
    }),
    ip: css({
      fontFamily: theme.typography.fontFamilyMonospace,
      fontSize: theme.typography.h5.fontSize,
      fontWeight: theme.typography.fontWeightMedium,
      overflowWrap: 'anywhere',
    }),
    actions: css({
      display: 'flex',
      flexWrap: 'wrap',
      alignItems: 'center',
      gap: theme.spacing(1),
      marginBottom: theme.spacing(1),
    }),
    grid: css({
      display: 'grid',
      gridTemplateColumns: 'max-content minmax(0, 1fr)',
      columnGap: theme.spacing(2),
      rowGap: theme.spacing(0.5),
      alignItems: 'baseline',
    }),
    label: css({ color: theme.colors.text.secondary }),
    subheading: css({
      margin: theme.spacing(1.5, 0, 0.5),
      fontSize: theme.typography.bodySmall.fontSize,
      fontWeight: theme.typography.fontWeightMedium,
      color: theme.colors.text.secondary,
      textTransform: 'uppercase',
      letterSpacing: '0.04em',
    }),
    sample: css({
      margin: 0,
      padding: theme.spacing(0.5, 1),
      fontFamily: theme.typography.fontFamilyMonospace,
      whiteSpace: 'pre-wrap',
      wordBreak: 'break-all',
      background: theme.colors.background.canvas,
      border: `1px solid ${theme.colors.border.weak}`,
      borderRadius: theme.shape.radius.default,
    }),
  };
};
