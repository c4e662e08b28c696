import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';

export const getStyles = (theme: GrafanaTheme2) => ({
  panel: css({
    display: 'flex',
    flexDirection: 'column',
    overflow: 'hidden',
    fontSize: theme.typography.bodySmall.fontSize,
  }),
  tabs: css({ flexShrink: 0, marginBottom: theme.spacing(0.5) }),
  toolbar: css({
    display: 'flex',
    alignItems: 'center',
    gap: theme.spacing(1),
    height: 36,
    flexShrink: 0,
  }),
  splitSide: css({ display: 'flex', flexDirection: 'row', minHeight: 0, overflow: 'hidden' }),
  splitBelow: css({ display: 'flex', flexDirection: 'column', minHeight: 0, overflow: 'hidden' }),
  filter: css({ flex: '1 1 160px', minWidth: 100, maxWidth: 420 }),
  count: css({ color: theme.colors.text.secondary, whiteSpace: 'nowrap' }),
  result: css({
    marginLeft: 'auto',
    whiteSpace: 'nowrap',
    overflow: 'hidden',
    textOverflow: 'ellipsis',
  }),
  success: css({ color: theme.colors.success.text }),
  failure: css({ color: theme.colors.error.text }),
  state: css({
    display: 'flex',
    flexDirection: 'column',
    alignItems: 'center',
    justifyContent: 'center',
    gap: theme.spacing(1),
    height: '100%',
    padding: theme.spacing(2),
    textAlign: 'center',
    color: theme.colors.text.secondary,
    overflow: 'auto',
  }),
  stateTitle: css({
    color: theme.colors.text.primary,
    fontSize: theme.typography.h5.fontSize,
    fontWeight: theme.typography.fontWeightMedium,
  }),
  stateHint: css({ maxWidth: 520 }),
  code: css({ fontFamily: theme.typography.fontFamilyMonospace }),
});
